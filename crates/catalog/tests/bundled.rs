//! The bundled catalog: it loads, every signature cites its evidence, and it recognises the
//! real evidence of the corpus.

mod common;

use std::collections::BTreeSet;

use common::*;
use openlmt_catalog::{bundled, Evidence, Matcher, SignatureKind, BUNDLED_JSON};

#[test]
fn bundled_catalog_validates_and_cites_every_signature() {
    let c = bundled().unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(!c.catalog_version.is_empty());
    // The counts docs/catalog.md quotes.
    assert_eq!(c.products.len(), 44);
    assert_eq!(c.components.len(), 49);
    assert_eq!(c.signature_count(), 61);
    // IBM product releases (docs/catalog.md lists them with their sources).
    assert_eq!(
        c.products.iter().filter(|p| p.publisher == "IBM").count(),
        25
    );
    for comp in &c.components {
        assert!(!comp.signatures.is_empty(), "{} has no signature", comp.id);
        for (i, s) in comp.signatures.iter().enumerate() {
            let ev = s.evidence.as_deref().unwrap_or("");
            assert!(
                ev.contains("http") || ev.contains("shared/corpus"),
                "{} signature {i} names no public source: {ev:?}",
                comp.id
            );
        }
    }
    // The embedded text is the file in the repository.
    assert_eq!(
        BUNDLED_JSON,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/bundled/catalog.json"))
            .unwrap()
    );
}

fn found(m: &[openlmt_catalog::Match]) -> BTreeSet<String> {
    m.iter().map(|m| m.component_id.clone()).collect()
}

#[test]
fn debian_host_inventory() {
    let matcher = Matcher::new(&bundled().unwrap()).unwrap();
    let pkgs = debian_host_packages();
    assert_eq!(pkgs.len(), 759);
    let m = matcher.match_computer(&facts(pkgs.clone(), Vec::new()));
    // Expected values read off hosts/debian12-vm/dpkg-status.
    let expected = [
        ("bash", "bash", "5.2.15-2+b8"),
        ("curl", "curl", "7.88.1-10+deb12u15"),
        ("fusioninventory-agent", "fusioninventory-agent", "1:2.6-3"),
        ("git", "git", "1:2.39.5-0+deb12u3"),
        ("google-cloud-cli", "google-cloud-cli", "528.0.0-0"),
        ("kubectl", "kubectl", "1:528.0.0-0"),
        ("maven", "maven", "3.8.7-1"),
        ("nginx", "nginx", "1.22.1-9+deb12u11"),
        ("nodejs", "nodejs", "20.20.2-1nodesource1+repack1"),
        ("openjdk-jre-headless", "openjdk-17-jre-headless", ""),
        ("openssh-client", "openssh-client", ""),
        ("openssl", "openssl", "3.0.19-1~deb12u2"),
        ("perl", "perl", "5.36.0-7+deb12u4"),
        ("postgresql-server", "postgresql-15", "15.18-0+deb12u1"),
        ("python3-interpreter", "python3.11", "3.11.2-6+deb12u6"),
        ("sqlite", "sqlite3", "3.40.1-2+deb12u2"),
        ("systemd", "systemd", "252.38-1~deb12u1"),
        ("vim", "vim", "2:9.0.1378-2+deb12u2"),
    ];
    let got: Vec<(String, String, String)> = m
        .iter()
        .map(|m| match &m.evidence {
            Evidence::Package { name, version, .. } => {
                (m.component_id.clone(), name.clone(), version.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (c, n, v) in expected {
        let g = got
            .iter()
            .find(|g| g.0 == c)
            .unwrap_or_else(|| panic!("{c} not found in {got:#?}"));
        assert_eq!(g.1, n);
        if !v.is_empty() {
            assert_eq!(g.2, v, "{c}");
        }
    }
    // No IBM product on this host; regexes matched exactly one package each (not
    // python3.11-minimal, postgresql-client-15, openjdk-17-jdk-headless).
    assert!(!found(&m).iter().any(|c| c.starts_with("ibm-")));
    assert_eq!(
        m.iter()
            .filter(|m| m.kind == SignatureKind::PackageRegex)
            .count(),
        3
    );
    // The host's own SWID tags (regid debian.org) are not IBM's and match nothing.
    let tags = swid_dir("hosts/debian12-vm/isotag_scan");
    assert_eq!(tags.len(), 759);
    assert!(matcher.match_computer(&facts(Vec::new(), tags)).is_empty());
}

#[test]
fn ibm_tags_are_recognised_by_persistent_id() {
    let matcher = Matcher::new(&bundled().unwrap()).unwrap();
    let tags = swid_dir("swid-ibm");
    assert_eq!(tags.len(), 2);
    let m = matcher.match_computer(&facts(Vec::new(), tags.clone()));
    let got: Vec<(&str, SignatureKind, Option<&str>)> = m
        .iter()
        .map(|m| {
            (
                m.component_id.as_str(),
                m.kind,
                m.detailed_version.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "ibm-decision-manager-open-edition",
                SignatureKind::SwidPersistentId,
                Some("9.0.0")
            ),
            (
                "ibm-process-automation-manager-open-edition",
                SignatureKind::SwidPersistentId,
                Some("9.0.0")
            ),
        ]
    );
    match &m[0].evidence {
        Evidence::Swid {
            tag_id, directory, ..
        } => {
            assert_eq!(tag_id, "ibm.com-a46f72acb4204f1c8b27228722103341-9.0.0");
            assert_eq!(directory.as_deref(), Some("swid-ibm"));
        }
        other => panic!("{other:?}"),
    }

    // Whatever the release: the same tags re-versioned as 9.2.1 (a release IBM/bamoe also
    // tags) still match, and without a persistentId the tagId prefix still finds them.
    let mut later = tags.clone();
    for t in &mut later {
        t.version = Some("9.2.1".into());
        t.tag_id = t.tag_id.replace("-9.0.0", "-9.2.1");
    }
    let m = matcher.match_computer(&facts(Vec::new(), later.clone()));
    assert_eq!(m.len(), 2);
    assert!(m
        .iter()
        .all(|m| m.detailed_version.as_deref() == Some("9.2.1")));
    for t in &mut later {
        t.persistent_id = None;
    }
    let m = matcher.match_computer(&facts(Vec::new(), later));
    assert_eq!(m.len(), 2);
    assert!(m.iter().all(|m| m.kind == SignatureKind::SwidTagIdPrefix));
}

#[test]
fn other_corpus_captures() {
    let matcher = Matcher::new(&bundled().unwrap()).unwrap();
    // Debian 6 dpkg-query capture: apache2 2.2.16-6+squeeze6 is Apache HTTP Server.
    let m = matcher.match_computer(&facts(dpkg_query_packages(), Vec::new()));
    assert_eq!(found(&m), BTreeSet::from(["apache-httpd".to_string()]));
    // The Mageia rpm capture holds none of the catalogued packages.
    let m = matcher.match_computer(&facts(rpm_qa_packages(), Vec::new()));
    assert!(m.is_empty(), "{m:?}");
}

fn rpm(name: &str, version: &str) -> openlmt_catalog::InstalledPackage {
    pkg(openlmt_catalog::PackageDb::Rpm, name, version)
}

fn deb(name: &str, version: &str) -> openlmt_catalog::InstalledPackage {
    pkg(openlmt_catalog::PackageDb::Dpkg, name, version)
}

fn pkg(
    source: openlmt_catalog::PackageDb,
    name: &str,
    version: &str,
) -> openlmt_catalog::InstalledPackage {
    openlmt_catalog::InstalledPackage {
        source,
        name: name.into(),
        version: version.into(),
        architecture: None,
        vendor: None,
    }
}

/// The package records the cited sources show (name and version as the source prints them)
/// land on the release the source documents, and a neighbouring release does not.
#[test]
fn ibm_package_evidence_maps_to_the_documented_release() {
    let matcher = Matcher::new(&bundled().unwrap()).unwrap();
    let one = |p: openlmt_catalog::InstalledPackage| -> Vec<String> {
        matcher
            .match_computer(&facts(vec![p], Vec::new()))
            .into_iter()
            .map(|m| m.component_id)
            .collect()
    };
    let cases: &[(openlmt_catalog::InstalledPackage, &[&str])] = &[
        // MQ 9.4 install log; MQ 9.3 and 9.2 by range.
        (rpm("MQSeriesServer", "9.4.0-0"), &["ibm-mq-server-9.4"]),
        (rpm("MQSeriesServer", "9.3.0-15"), &["ibm-mq-server-9.3"]),
        (rpm("MQSeriesServer", "9.2.0-0"), &["ibm-mq-server-9.2"]),
        (
            rpm("TIVsm-BA", "8.2.2-0"),
            &["ibm-storage-protect-client-8.2-ba"],
        ),
        (
            rpm("TIVsm-BA", "8.1.12-0"),
            &["ibm-spectrum-protect-client-8.1-ba"],
        ),
        (
            rpm("TIVsm-API64", "8.2.2-0"),
            &["ibm-storage-protect-client-8.2-api"],
        ),
        (deb("gskcrypt64", "8.0-50.40"), &["ibm-gskit-8-crypt"]),
        (rpm("gskssl64", "8.0.55.17-1"), &["ibm-gskit-8-ssl"]),
        (
            rpm("ibm-java-s390x-sdk", "8.0-8.20"),
            &["ibm-sdk-java-8-s390x"],
        ),
        (
            deb("instana-agent-dynamic", "1.2.3"),
            &["ibm-instana-host-agent"],
        ),
        (
            rpm("instana-agent-static", "1.2.3-1"),
            &["ibm-instana-host-agent"],
        ),
        (
            rpm("gpfs.base", "5.1.0-0"),
            &["ibm-spectrum-scale-5.1-gpfs"],
        ),
        (
            deb("gpfs.base", "5.0.2-0"),
            &["ibm-spectrum-scale-5.0-gpfs"],
        ),
        (
            rpm("gpfs.gplbin-3.10.0-229.el7.x86_64", "4.2.2-0"),
            &["ibm-spectrum-scale-4.2-gpfs"],
        ),
        (
            deb("gpfs.gplbin", "5.0.2-0"),
            &["ibm-spectrum-scale-5.0-gpfs"],
        ),
        (rpm("gpfs.base", "5.2.0-0"), &[]),
        (
            rpm("pam-ibm-auth", "1.0.7-0"),
            &["ibm-verify-gateway-linux-pam-1.0"],
        ),
        (rpm("ibm-radius", "1.0.7-0"), &["ibm-verify-gateway-radius"]),
        (
            rpm("ibm-aspera-httpgateway", "2.1.0-1"),
            &["ibm-aspera-http-gateway-2.1"],
        ),
        (
            deb("ibm-fasp.io-gateway", "1.0.0"),
            &["ibm-aspera-faspio-gateway"],
        ),
        (
            rpm("advance-toolchain-at8.0-runtime", "8.0-5"),
            &["ibm-advance-toolchain-8.0-runtime"],
        ),
        (
            rpm("xlc.16.1.1", "16.1.1.0-0"),
            &["ibm-xl-c-cpp-linux-16.1.1"],
        ),
    ];
    for (p, want) in cases {
        assert_eq!(one(p.clone()), *want, "{p:?}");
    }
}
