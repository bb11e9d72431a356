//! The indexed matcher on worked examples, and against a naive facts × signatures
//! reference on generated inputs.

use openlmt_catalog::{
    load, BundleOption, Catalog, Component, ComputerFacts, Evidence, FactRef, InstalledPackage,
    Matcher, PackageDb, PackageSignature, Pattern, Product, Signature, SignatureKind,
    SignatureRule, SourceFilter, SwidKey, SwidSignature, SwidTagFact, VersionRange, VersionScheme,
};
use proptest::prelude::*;

fn pkg(source: PackageDb, name: &str, version: &str, vendor: Option<&str>) -> InstalledPackage {
    InstalledPackage {
        source,
        name: name.into(),
        version: version.into(),
        architecture: Some("x86_64".into()),
        vendor: vendor.map(Into::into),
    }
}

const WORKED: &str = r#"{"catalog_version": "w1", "products": [
  {"id": "acme-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1", "metric": "PVU",
   "components": [
    {"id": "engine-7", "name": "Engine", "release": "7.1",
     "signatures": [{"swid": {"regid": "acme.example", "persistent_id": "4f1e0c"}},
                    {"swid": {"regid": "acme.example", "tag_id_prefix": "acme.example-4f1e0c-"}},
                    {"package": {"source": "rpm", "name": "acme-engine", "version": ">=7.1, <7.2"}},
                    {"package": {"source": "dpkg", "name": "acme-engine", "version": ">=1:7.1, <1:7.2"}}]},
    {"id": "tools", "name": "Tools",
     "signatures": [{"package": {"source": "any", "name": {"regex": "acme-tool-[a-z]+"},
                                 "vendor": {"regex": "ACME.*"}}}]},
    {"id": "named", "name": "Named",
     "signatures": [{"swid": {"regid": "acme.example", "name": "ACME Named Thing", "version": ">=2"}},
                    {"swid": {"regid": "acme.example", "tag_id": "acme.example-exact-1"}}]}]}]}"#;

#[test]
fn worked_example() {
    let m = Matcher::new(&load(WORKED).unwrap()).unwrap();
    let facts = ComputerFacts {
        installed_packages: vec![
            pkg(PackageDb::Rpm, "acme-engine", "7.1.3-2", None), // 0: in range
            pkg(PackageDb::Rpm, "acme-engine", "7.2.0-1", None), // 1: out of range
            pkg(PackageDb::Dpkg, "acme-engine", "7.1.3-2", None), // 2: epoch 0 < 1
            pkg(PackageDb::Dpkg, "acme-engine", "1:7.1~rc1", None), // 3: ~ sorts before 7.1
            pkg(PackageDb::Dpkg, "acme-engine", "1:7.1.0-1", None), // 4: in range
            pkg(PackageDb::Dpkg, "acme-tool-cli", "1", Some("ACME Corp")), // 5: regex + vendor
            pkg(PackageDb::Rpm, "acme-tool-gui", "1", Some("Other")), // 6: vendor differs
            pkg(PackageDb::Rpm, "acme-tool-", "1", Some("ACME")), // 7: regex needs [a-z]+
            pkg(PackageDb::Rpm, "xacme-tool-cli", "1", Some("ACME")), // 8: anchored
        ],
        swid_tags: vec![
            SwidTagFact {
                regid: Some("acme.example".into()),
                persistent_id: Some("4f1e0c".into()),
                tag_id: "acme.example-4f1e0c-7.1.0".into(),
                name: "ACME Server".into(),
                version: Some("7.1.0".into()),
                directory: Some("/opt/acme/swidtag".into()),
            },
            SwidTagFact {
                regid: Some("other.example".into()),
                persistent_id: Some("4f1e0c".into()),
                tag_id: "acme.example-4f1e0c-7.1.0".into(),
                name: "ACME Server".into(),
                version: Some("7.1.0".into()),
                directory: None,
            },
            SwidTagFact {
                regid: Some("acme.example".into()),
                persistent_id: None,
                tag_id: "acme.example-exact-1".into(),
                name: "ACME Named Thing".into(),
                version: Some("1.5".into()),
                directory: None,
            },
        ],
    };
    let got: Vec<(String, FactRef, SignatureKind, usize)> = m
        .match_computer(&facts)
        .into_iter()
        .map(|x| (x.component_id, x.fact, x.kind, x.signature_index))
        .collect();
    let got: Vec<(&str, FactRef, SignatureKind, usize)> = got
        .iter()
        .map(|(c, f, k, i)| (c.as_str(), *f, *k, *i))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "engine-7",
                FactRef::Package(0),
                SignatureKind::PackageExact,
                2
            ),
            (
                "engine-7",
                FactRef::Package(4),
                SignatureKind::PackageExact,
                3
            ),
            // persistentId beats the tagId prefix that also matches
            (
                "engine-7",
                FactRef::SwidTag(0),
                SignatureKind::SwidPersistentId,
                0
            ),
            ("tools", FactRef::Package(5), SignatureKind::PackageRegex, 0),
            // the name signature's range (>=2) fails on 1.5; the exact tagId still matches
            ("named", FactRef::SwidTag(2), SignatureKind::SwidTagId, 1),
        ]
    );
    let all = m.match_computer(&facts);
    assert_eq!(all[0].detailed_version.as_deref(), Some("7.1.3-2"));
    assert_eq!(
        all[2].evidence,
        Evidence::Swid {
            tag_id: "acme.example-4f1e0c-7.1.0".into(),
            version: Some("7.1.0".into()),
            directory: Some("/opt/acme/swidtag".into())
        }
    );
    assert_eq!(all[2].detailed_version.as_deref(), Some("7.1.0"));
    assert!(m.match_computer(&ComputerFacts::default()).is_empty());
}

// ---- naive reference: every fact against every signature ----

fn pattern_matches(p: &Pattern, s: &str) -> bool {
    match p {
        Pattern::Exact(e) => e == s,
        Pattern::Regex(r) => regex::Regex::new(&format!("^(?:{r})$"))
            .unwrap()
            .is_match(s),
    }
}

fn sig_matches(sig: &SignatureRule, facts: &ComputerFacts, fact: FactRef) -> bool {
    match (sig, fact) {
        (SignatureRule::Package(s), FactRef::Package(i)) => {
            let p = &facts.installed_packages[i];
            let source_ok = matches!(
                (s.source, p.source),
                (SourceFilter::Any, _)
                    | (SourceFilter::Dpkg, PackageDb::Dpkg)
                    | (SourceFilter::Rpm, PackageDb::Rpm)
            );
            let scheme = match p.source {
                PackageDb::Dpkg => VersionScheme::Dpkg,
                PackageDb::Rpm => VersionScheme::Rpm,
            };
            source_ok
                && pattern_matches(&s.name, &p.name)
                && s.vendor
                    .as_ref()
                    .is_none_or(|v| p.vendor.as_deref().is_some_and(|pv| pattern_matches(v, pv)))
                && s.version
                    .as_ref()
                    .is_none_or(|r| r.matches(scheme, &p.version))
        }
        (SignatureRule::Swid(s), FactRef::SwidTag(i)) => {
            let t = &facts.swid_tags[i];
            t.regid.as_deref() == Some(s.regid.as_str())
                && match &s.key {
                    SwidKey::PersistentId(k) => t.persistent_id.as_deref() == Some(k.as_str()),
                    SwidKey::TagId(k) => &t.tag_id == k,
                    SwidKey::TagIdPrefix(k) => t.tag_id.starts_with(k.as_str()),
                    SwidKey::Name(k) => &t.name == k,
                }
                && s.version.as_ref().is_none_or(|r| {
                    t.version
                        .as_deref()
                        .is_some_and(|v| r.matches(VersionScheme::Swid, v))
                })
        }
        _ => false,
    }
}

fn naive(catalog: &Catalog, facts: &ComputerFacts) -> Vec<(String, FactRef, SignatureKind, usize)> {
    let all_facts: Vec<FactRef> = (0..facts.installed_packages.len())
        .map(FactRef::Package)
        .chain((0..facts.swid_tags.len()).map(FactRef::SwidTag))
        .collect();
    let mut out = Vec::new();
    for c in &catalog.components {
        for &f in &all_facts {
            let best = c
                .signatures
                .iter()
                .enumerate()
                .filter(|(_, s)| sig_matches(&s.rule, facts, f))
                .map(|(i, s)| (SignatureKind::of(&s.rule), i))
                .min();
            if let Some((k, i)) = best {
                out.push((c.id.clone(), f, k, i));
            }
        }
    }
    out
}

// ---- generators over small alphabets, so that names, ids and versions collide ----

const NAMES: &[&str] = &["a", "ab", "abc", "b", "ba"];
const REGEXES: &[&str] = &["a.*", "ab?c?", "b+a?", "[ab]{2}"];
const VERSIONS: &[&str] = &["1.0", "1.0~rc1", "1:0.5", "2.0-1", "1.10", "1.9", "1.0-1"];
const RANGES: &[&str] = &["*", ">=1.0", "<1.10", ">=1.0, <2", "!=1.9", "=1.0", ">1:0"];
const VENDORS: &[&str] = &["V", "Vx", "W"];
const REGIDS: &[&str] = &["r1", "r2"];
const PIDS: &[&str] = &["p1", "p2"];
const TAGIDS: &[&str] = &["r1-p1-1.0", "r1-p2-9.0", "r2-p1-1.0"];
const PREFIXES: &[&str] = &["r1-", "r1-p1", "r1-p1-1", "r2-p1-1.0"];
const TAGNAMES: &[&str] = &["N1", "N2"];
const TAGVERSIONS: &[&str] = &["1.0", "9.0", "9.10"];

fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(xs).prop_map(String::from)
}

fn range() -> impl Strategy<Value = Option<VersionRange>> {
    proptest::option::of(pick(RANGES).prop_map(|r| r.parse::<VersionRange>().unwrap()))
}

fn pattern() -> impl Strategy<Value = Pattern> {
    prop_oneof![
        pick(NAMES).prop_map(Pattern::Exact),
        pick(REGEXES).prop_map(Pattern::Regex)
    ]
}

fn signature() -> impl Strategy<Value = Signature> {
    let package = (
        proptest::sample::select(&[SourceFilter::Dpkg, SourceFilter::Rpm, SourceFilter::Any][..]),
        pattern(),
        proptest::option::of(prop_oneof![
            pick(VENDORS).prop_map(Pattern::Exact),
            Just(Pattern::Regex("V.*".into()))
        ]),
        range(),
    )
        .prop_map(|(source, name, vendor, version)| {
            SignatureRule::Package(PackageSignature {
                source,
                name,
                vendor,
                version,
            })
        });
    let key = prop_oneof![
        pick(PIDS).prop_map(SwidKey::PersistentId),
        pick(TAGIDS).prop_map(SwidKey::TagId),
        pick(PREFIXES).prop_map(SwidKey::TagIdPrefix),
        pick(TAGNAMES).prop_map(SwidKey::Name),
    ];
    let swid = (
        pick(REGIDS),
        key,
        proptest::option::of(
            pick(&[">=1.0", "<9.10", "=9.0"]).prop_map(|r| r.parse::<VersionRange>().unwrap()),
        ),
    )
        .prop_map(|(regid, key, version)| {
            SignatureRule::Swid(SwidSignature {
                regid,
                key,
                version,
            })
        });
    prop_oneof![package, swid].prop_map(|rule| Signature {
        rule,
        evidence: None,
    })
}

fn catalog() -> impl Strategy<Value = Catalog> {
    proptest::collection::vec(proptest::collection::vec(signature(), 0..5), 1..6).prop_map(
        |comps| {
            let components: Vec<Component> = comps
                .into_iter()
                .enumerate()
                .map(|(i, signatures)| Component {
                    id: format!("c{i}"),
                    name: format!("C{i}"),
                    release: None,
                    signatures,
                })
                .collect();
            Catalog {
                catalog_version: "gen".into(),
                publishers: Vec::new(),
                products: vec![Product {
                    id: "p".into(),
                    publisher: "P".into(),
                    name: "P".into(),
                    release: None,
                    metric: None,
                    evidence: None,
                    components: components
                        .iter()
                        .map(|c| BundleOption {
                            component_id: c.id.clone(),
                            charged: true,
                        })
                        .collect(),
                }],
                components,
            }
        },
    )
}

fn computer() -> impl Strategy<Value = ComputerFacts> {
    let package = (
        proptest::sample::select(&[PackageDb::Dpkg, PackageDb::Rpm][..]),
        pick(NAMES),
        pick(VERSIONS),
        proptest::option::of(pick(VENDORS)),
    )
        .prop_map(|(source, name, version, vendor)| InstalledPackage {
            source,
            name,
            version,
            architecture: None,
            vendor,
        });
    let tag = (
        proptest::option::of(pick(REGIDS)),
        proptest::option::of(pick(PIDS)),
        pick(TAGIDS),
        pick(TAGNAMES),
        proptest::option::of(pick(TAGVERSIONS)),
    )
        .prop_map(
            |(regid, persistent_id, tag_id, name, version)| SwidTagFact {
                regid,
                persistent_id,
                tag_id,
                name,
                version,
                directory: None,
            },
        );
    (
        proptest::collection::vec(package, 0..12),
        proptest::collection::vec(tag, 0..6),
    )
        .prop_map(|(installed_packages, swid_tags)| ComputerFacts {
            installed_packages,
            swid_tags,
        })
}

#[test]
fn indexed_matcher_equals_naive_reference() {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::with_cases(512));
    let non_empty = std::cell::Cell::new(0usize);
    runner
        .run(&(catalog(), computer()), |(cat, facts)| {
            let m = Matcher::new(&cat).unwrap();
            let got: Vec<(String, FactRef, SignatureKind, usize)> = m
                .match_computer(&facts)
                .into_iter()
                .map(|x| (x.component_id, x.fact, x.kind, x.signature_index))
                .collect();
            let want = naive(&cat, &facts);
            if !want.is_empty() {
                non_empty.set(non_empty.get() + 1);
            }
            prop_assert_eq!(got, want);
            Ok(())
        })
        .unwrap();
    // The generators make matches in most cases, so the comparison is not vacuous.
    assert!(
        non_empty.get() > 256,
        "only {} cases had a match",
        non_empty.get()
    );
}

#[test]
fn many_signatures_index_without_blowup() {
    // 10,000 exact signatures plus 100 regexes, built and matched once: the regex set
    // compiles within its limit and a look-up finds exactly the right ones.
    let mut comps = Vec::new();
    for i in 0..10_000 {
        comps.push(format!(
            r#"{{"id": "c{i}", "name": "C{i}", "signatures": [{{"package": {{"source": "dpkg", "name": "pkg-{i}"}}}}]}}"#
        ));
    }
    for i in 0..100 {
        comps.push(format!(
            r#"{{"id": "r{i}", "name": "R{i}", "signatures": [{{"package": {{"source": "any", "name": {{"regex": "lib{i}-[a-z0-9.]+"}}}}}}]}}"#
        ));
    }
    let json = format!(
        r#"{{"catalog_version": "big", "products": [{{"id": "p", "publisher": "P", "name": "P", "components": [{}]}}]}}"#,
        comps.join(",")
    );
    let cat = load(&json).unwrap();
    let m = Matcher::new(&cat).unwrap();
    assert_eq!(m.signature_count(), 10_100);
    let facts = ComputerFacts {
        installed_packages: vec![
            pkg(PackageDb::Dpkg, "pkg-9999", "1", None),
            pkg(PackageDb::Rpm, "lib42-x1.0", "1", None),
            pkg(PackageDb::Rpm, "pkg-1", "1", None),
        ],
        swid_tags: Vec::new(),
    };
    let got: Vec<String> = m
        .match_computer(&facts)
        .into_iter()
        .map(|x| x.component_id)
        .collect();
    assert_eq!(got, vec!["c9999".to_string(), "r42".to_string()]);
}

/// Matching several computers through one `MatchCache` (as discovery does for a whole
/// estate) gives each computer what the naive reference gives it.
#[test]
fn a_shared_match_cache_changes_no_result() {
    use openlmt_catalog::MatchCache;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::with_cases(128));
    runner
        .run(
            &(catalog(), proptest::collection::vec(computer(), 1..4)),
            |(cat, computers)| {
                let m = Matcher::new(&cat).unwrap();
                let mut cache = MatchCache::default();
                // Each computer twice: the second time every fact is a cache hit.
                for facts in computers.iter().chain(computers.iter()) {
                    let got: Vec<(String, FactRef, SignatureKind, usize)> = m
                        .match_computer_cached(facts, &mut cache)
                        .into_iter()
                        .map(|x| (x.component_id, x.fact, x.kind, x.signature_index))
                        .collect();
                    prop_assert_eq!(got, naive(&cat, facts));
                }
                Ok(())
            },
        )
        .unwrap();
}
