//! The indexed matcher: one computer's facts against a compiled catalog.
//!
//! Every signature is indexed once, when the [`Matcher`] is built: exact package names in a
//! hash map per packaging system, package-name regular expressions in one `RegexSet` per
//! packaging system, SWID signatures in hash maps keyed by regid and then persistentId,
//! tagId or name, and tagId prefixes in a hash map probed once per distinct prefix length.
//! Matching a computer therefore costs a few hash look-ups and one `RegexSet` scan per fact:
//! it grows with the facts, not with facts × signatures. Only the signatures a look-up
//! returns are then checked for their vendor and version range.

use std::collections::{BTreeSet, HashMap};

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::catalog::{
    Catalog, CatalogError, Pattern, SignatureRule, SourceFilter, SwidKey, REGEX_SIZE_LIMIT,
};
use crate::range::{VersionRange, VersionScheme};

/// Upper bound on the compiled size of one packaging system's `RegexSet`.
pub const REGEX_SET_SIZE_LIMIT: usize = 256 * 1024 * 1024;

/// The package database an installed package was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PackageDb {
    /// dpkg.
    Dpkg,
    /// rpm.
    Rpm,
}

impl PackageDb {
    fn slot(self) -> usize {
        match self {
            PackageDb::Dpkg => 0,
            PackageDb::Rpm => 1,
        }
    }

    fn scheme(self) -> VersionScheme {
        match self {
            PackageDb::Dpkg => VersionScheme::Dpkg,
            PackageDb::Rpm => VersionScheme::Rpm,
        }
    }

    /// `"dpkg"` or `"rpm"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageDb::Dpkg => "dpkg",
            PackageDb::Rpm => "rpm",
        }
    }
}

/// One installed package of a computer (a dpkg or rpm record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// Which database reported it.
    pub source: PackageDb,
    /// Package name.
    pub name: String,
    /// Version (dpkg `Version`; rpm `[EPOCH:]VERSION-RELEASE`).
    pub version: String,
    /// Architecture.
    pub architecture: Option<String>,
    /// dpkg `Maintainer`, rpm `VENDOR`.
    pub vendor: Option<String>,
}

/// One SWID tag found on a computer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwidTagFact {
    /// The regid of the tag's software creator (or tag creator).
    pub regid: Option<String>,
    /// `Meta/@persistentId`, when the tag has one.
    pub persistent_id: Option<String>,
    /// `tagId`.
    pub tag_id: String,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: Option<String>,
    /// The directory the tag was found in, when known.
    pub directory: Option<String>,
}

/// Everything known about one computer's software.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComputerFacts {
    /// Installed packages.
    pub installed_packages: Vec<InstalledPackage>,
    /// SWID tags.
    pub swid_tags: Vec<SwidTagFact>,
}

/// What kind of signature matched, strongest first (the order used to pick one signature
/// when several of a component match the same fact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignatureKind {
    /// SWID regid + persistentId.
    SwidPersistentId,
    /// SWID regid + whole tagId.
    SwidTagId,
    /// SWID regid + tagId prefix.
    SwidTagIdPrefix,
    /// SWID regid + tag name.
    SwidName,
    /// Exact package name.
    PackageExact,
    /// Package name regular expression.
    PackageRegex,
}

impl SignatureKind {
    /// A stable name (`swid_persistent_id`, …, `package_regex`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureKind::SwidPersistentId => "swid_persistent_id",
            SignatureKind::SwidTagId => "swid_tag_id",
            SignatureKind::SwidTagIdPrefix => "swid_tag_id_prefix",
            SignatureKind::SwidName => "swid_name",
            SignatureKind::PackageExact => "package_exact",
            SignatureKind::PackageRegex => "package_regex",
        }
    }

    /// The kind of a signature rule.
    pub fn of(rule: &SignatureRule) -> SignatureKind {
        match rule {
            SignatureRule::Swid(s) => match s.key {
                SwidKey::PersistentId(_) => SignatureKind::SwidPersistentId,
                SwidKey::TagId(_) => SignatureKind::SwidTagId,
                SwidKey::TagIdPrefix(_) => SignatureKind::SwidTagIdPrefix,
                SwidKey::Name(_) => SignatureKind::SwidName,
            },
            SignatureRule::Package(p) => match p.name {
                Pattern::Exact(_) => SignatureKind::PackageExact,
                Pattern::Regex(_) => SignatureKind::PackageRegex,
            },
        }
    }
}

/// Which fact a match rests on (index into [`ComputerFacts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FactRef {
    /// `installed_packages[i]`.
    Package(usize),
    /// `swid_tags[i]`.
    SwidTag(usize),
}

/// The evidence of a match, copied from the fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// An installed package.
    Package {
        /// Database.
        source: PackageDb,
        /// Name.
        name: String,
        /// Version.
        version: String,
        /// Architecture.
        architecture: Option<String>,
    },
    /// A SWID tag.
    Swid {
        /// tagId.
        tag_id: String,
        /// The tag's version.
        version: Option<String>,
        /// The tag's directory.
        directory: Option<String>,
    },
}

/// A component found on a computer: one per (component, fact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The component's id.
    pub component_id: String,
    /// Index of the matching signature in the component's `signatures`.
    pub signature_index: usize,
    /// Its kind.
    pub kind: SignatureKind,
    /// The fact.
    pub fact: FactRef,
    /// The evidence.
    pub evidence: Evidence,
    /// The detailed version: the tag's version for SWID, the package version for packages.
    pub detailed_version: Option<String>,
}

enum VendorMatcher {
    Exact(String),
    Regex(Regex),
}

impl VendorMatcher {
    fn matches(&self, vendor: Option<&str>) -> bool {
        match (self, vendor) {
            (_, None) => false,
            (VendorMatcher::Exact(e), Some(v)) => e == v,
            (VendorMatcher::Regex(r), Some(v)) => r.is_match(v),
        }
    }
}

struct SigEntry {
    component: usize,
    index: usize,
    kind: SignatureKind,
    version: Option<VersionRange>,
    vendor: Option<VendorMatcher>,
}

type Nested = HashMap<String, HashMap<String, Vec<u32>>>;

/// A catalog compiled for matching. Build it once per catalog; it is immutable and `Sync`.
pub struct Matcher {
    component_ids: Vec<String>,
    sigs: Vec<SigEntry>,
    pkg_exact: [HashMap<String, Vec<u32>>; 2],
    pkg_regex: [Option<RegexSet>; 2],
    pkg_regex_sigs: [Vec<u32>; 2],
    swid_pid: Nested,
    swid_tag: Nested,
    swid_name: Nested,
    swid_prefix: Nested,
    prefix_lens: Vec<usize>,
}

fn push(map: &mut Nested, regid: &str, key: &str, id: u32) {
    map.entry(regid.to_string())
        .or_default()
        .entry(key.to_string())
        .or_default()
        .push(id);
}

fn lookup<'a>(map: &'a Nested, regid: &str, key: &str) -> &'a [u32] {
    map.get(regid)
        .and_then(|m| m.get(key))
        .map_or(&[], Vec::as_slice)
}

fn compile_one(re: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&Pattern::anchored(re))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

impl Matcher {
    /// Compile a validated catalog. Fails only if the regular expressions of one packaging
    /// system together exceed [`REGEX_SET_SIZE_LIMIT`].
    pub fn new(catalog: &Catalog) -> Result<Matcher, CatalogError> {
        let mut m = Matcher {
            component_ids: Vec::with_capacity(catalog.components.len()),
            sigs: Vec::new(),
            pkg_exact: [HashMap::new(), HashMap::new()],
            pkg_regex: [None, None],
            pkg_regex_sigs: [Vec::new(), Vec::new()],
            swid_pid: HashMap::new(),
            swid_tag: HashMap::new(),
            swid_name: HashMap::new(),
            swid_prefix: HashMap::new(),
            prefix_lens: Vec::new(),
        };
        let mut regex_src: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        let mut prefix_lens = BTreeSet::new();
        for (ci, c) in catalog.components.iter().enumerate() {
            m.component_ids.push(c.id.clone());
            for (si, s) in c.signatures.iter().enumerate() {
                let id = u32::try_from(m.sigs.len()).map_err(|_| CatalogError {
                    path: String::new(),
                    message: "too many signatures".into(),
                })?;
                let kind = SignatureKind::of(&s.rule);
                let (version, vendor) = match &s.rule {
                    SignatureRule::Swid(w) => {
                        match &w.key {
                            SwidKey::PersistentId(k) => push(&mut m.swid_pid, &w.regid, k, id),
                            SwidKey::TagId(k) => push(&mut m.swid_tag, &w.regid, k, id),
                            SwidKey::Name(k) => push(&mut m.swid_name, &w.regid, k, id),
                            SwidKey::TagIdPrefix(k) => {
                                prefix_lens.insert(k.len());
                                push(&mut m.swid_prefix, &w.regid, k, id);
                            }
                        }
                        (w.version.clone(), None)
                    }
                    SignatureRule::Package(p) => {
                        let slots: &[usize] = match p.source {
                            SourceFilter::Dpkg => &[0],
                            SourceFilter::Rpm => &[1],
                            SourceFilter::Any => &[0, 1],
                        };
                        for &slot in slots {
                            match &p.name {
                                Pattern::Exact(n) => {
                                    m.pkg_exact[slot].entry(n.clone()).or_default().push(id)
                                }
                                Pattern::Regex(r) => {
                                    regex_src[slot].push(Pattern::anchored(r));
                                    m.pkg_regex_sigs[slot].push(id);
                                }
                            }
                        }
                        let vendor = match &p.vendor {
                            None => None,
                            Some(Pattern::Exact(v)) => Some(VendorMatcher::Exact(v.clone())),
                            Some(Pattern::Regex(r)) => {
                                Some(VendorMatcher::Regex(compile_one(r).map_err(|e| {
                                    CatalogError {
                                        path: format!("component {}", c.id),
                                        message: format!("vendor regex: {e}"),
                                    }
                                })?))
                            }
                        };
                        (p.version.clone(), vendor)
                    }
                };
                m.sigs.push(SigEntry {
                    component: ci,
                    index: si,
                    kind,
                    version: version.filter(|r| !r.is_any()),
                    vendor,
                });
            }
        }
        for slot in 0..2 {
            if regex_src[slot].is_empty() {
                continue;
            }
            let set = RegexSetBuilder::new(&regex_src[slot])
                .size_limit(REGEX_SET_SIZE_LIMIT)
                .build()
                .map_err(|e| CatalogError {
                    path: String::new(),
                    message: format!(
                        "the package-name regular expressions for {} do not compile together: {e}",
                        ["dpkg", "rpm"][slot]
                    ),
                })?;
            m.pkg_regex[slot] = Some(set);
        }
        m.prefix_lens = prefix_lens.into_iter().collect();
        Ok(m)
    }

    /// Number of indexed signatures.
    pub fn signature_count(&self) -> usize {
        self.sigs.len()
    }

    fn version_ok(range: &Option<VersionRange>, scheme: VersionScheme, v: Option<&str>) -> bool {
        match (range, v) {
            (None, _) => true,
            (Some(r), Some(v)) => r.matches(scheme, v),
            (Some(_), None) => false,
        }
    }

    /// The components found on one computer: one [`Match`] per (component, fact), sorted by
    /// component (catalog order) and then fact. When several signatures of a component
    /// match the same fact, the strongest kind wins ([`SignatureKind`] order), then the
    /// first in the component's list.
    pub fn match_computer(&self, facts: &ComputerFacts) -> Vec<Match> {
        self.match_computer_cached(facts, &mut MatchCache::default())
    }

    /// The signatures an installed package matches (after vendor and version checks).
    fn package_hits(&self, p: &InstalledPackage) -> Vec<u32> {
        let slot = p.source.slot();
        let scheme = p.source.scheme();
        let check = |id: u32| {
            let s = &self.sigs[id as usize];
            Self::version_ok(&s.version, scheme, Some(&p.version))
                && s.vendor
                    .as_ref()
                    .is_none_or(|v| v.matches(p.vendor.as_deref()))
        };
        let mut hits = Vec::new();
        if let Some(ids) = self.pkg_exact[slot].get(&p.name) {
            hits.extend(ids.iter().copied().filter(|&id| check(id)));
        }
        if let Some(set) = &self.pkg_regex[slot] {
            for k in set.matches(&p.name).iter() {
                let id = self.pkg_regex_sigs[slot][k];
                if check(id) {
                    hits.push(id);
                }
            }
        }
        hits
    }

    /// The signatures a SWID tag matches (after the version check).
    fn tag_hits(&self, t: &SwidTagFact) -> Vec<u32> {
        let Some(regid) = t.regid.as_deref() else {
            return Vec::new();
        };
        let mut hits: Vec<u32> = Vec::new();
        if let Some(pid) = t.persistent_id.as_deref() {
            hits.extend_from_slice(lookup(&self.swid_pid, regid, pid));
        }
        hits.extend_from_slice(lookup(&self.swid_tag, regid, &t.tag_id));
        hits.extend_from_slice(lookup(&self.swid_name, regid, &t.name));
        if let Some(by_prefix) = self.swid_prefix.get(regid) {
            for &len in &self.prefix_lens {
                if len > t.tag_id.len() {
                    break;
                }
                if let Some(prefix) = t.tag_id.get(..len) {
                    if let Some(ids) = by_prefix.get(prefix) {
                        hits.extend_from_slice(ids);
                    }
                }
            }
        }
        hits.retain(|&id| {
            Self::version_ok(
                &self.sigs[id as usize].version,
                VersionScheme::Swid,
                t.version.as_deref(),
            )
        });
        hits
    }

    /// [`Matcher::match_computer`], remembering in `cache` which signatures each distinct
    /// fact matched: an estate's computers repeat the same packages and tags, so matching
    /// many computers with one cache checks each distinct fact once. The result is the same
    /// as without the cache.
    pub fn match_computer_cached(
        &self,
        facts: &ComputerFacts,
        cache: &mut MatchCache,
    ) -> Vec<Match> {
        self.match_refs_cached(facts, cache)
            .into_iter()
            .map(|m| {
                make_match(
                    m.component_id.to_string(),
                    m.signature_index,
                    m.kind,
                    m.fact,
                    facts,
                )
            })
            .collect()
    }

    /// [`Matcher::match_computer_cached`] without copying the evidence out of the facts
    /// (nor the component ids out of the matcher): the same matches, in the same order.
    /// Discovery matches millions of facts; each copy is an allocation.
    pub fn match_refs_cached(
        &self,
        facts: &ComputerFacts,
        cache: &mut MatchCache,
    ) -> Vec<MatchRef<'_>> {
        cache.bound();
        // (component, fact) -> (kind, signature index)
        let mut best: HashMap<(usize, FactRef), (SignatureKind, usize)> = HashMap::new();
        let mut consider = |sig: &SigEntry, fact: FactRef| {
            let cand = (sig.kind, sig.index);
            best.entry((sig.component, fact))
                .and_modify(|b| {
                    if cand < *b {
                        *b = cand
                    }
                })
                .or_insert(cand);
        };

        for (i, p) in facts.installed_packages.iter().enumerate() {
            for &id in cache.package(p, |p| self.package_hits(p)) {
                consider(&self.sigs[id as usize], FactRef::Package(i));
            }
        }

        for (i, t) in facts.swid_tags.iter().enumerate() {
            for &id in cache.tag(t, |t| self.tag_hits(t)) {
                consider(&self.sigs[id as usize], FactRef::SwidTag(i));
            }
        }

        let mut out: Vec<MatchRef<'_>> = best
            .into_iter()
            .map(|((c, fact), (kind, signature_index))| MatchRef {
                component: c,
                component_id: &self.component_ids[c],
                signature_index,
                kind,
                fact,
            })
            .collect();
        out.sort_unstable_by_key(|m| (m.component, m.fact));
        out
    }
}

/// A match without its evidence: which component, by which signature, on which fact (the
/// caller reads the evidence from the facts it matched). [`Matcher::match_refs_cached`]
/// returns these, copying nothing; a [`Match`] is one with the evidence copied out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchRef<'m> {
    /// The component's position in the catalog (the sort key of the matches).
    pub component: usize,
    /// The component's id.
    pub component_id: &'m str,
    /// Index of the matching signature in the component's `signatures`.
    pub signature_index: usize,
    /// Its kind.
    pub kind: SignatureKind,
    /// The fact.
    pub fact: FactRef,
}

/// A remembered installed package: version, vendor, the signatures it matched.
type PackageEntry = (String, Option<String>, Vec<u32>);
/// A remembered tag: regid, persistentId, name, version, the signatures it matched.
type TagEntry = (
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Vec<u32>,
);

/// Which signatures each distinct fact matched, for [`Matcher::match_computer_cached`]. Use
/// one cache with one matcher only. It holds at most [`MatchCache::MAX_ENTRIES`] facts (it
/// starts afresh when full), so its memory stays bounded whatever the estate. Looking a fact
/// up allocates nothing (facts are keyed by package name or tagId, then compared field by
/// field).
#[derive(Debug, Default)]
pub struct MatchCache {
    /// Per package database (dpkg, rpm): package name → entries.
    packages: [HashMap<String, Vec<PackageEntry>>; 2],
    /// tagId → entries.
    tags: HashMap<String, Vec<TagEntry>>,
    entries: usize,
}

impl MatchCache {
    /// The most distinct facts remembered.
    pub const MAX_ENTRIES: usize = 200_000;

    fn bound(&mut self) {
        if self.entries > Self::MAX_ENTRIES {
            *self = MatchCache::default();
        }
    }

    fn package(
        &mut self,
        p: &InstalledPackage,
        compute: impl FnOnce(&InstalledPackage) -> Vec<u32>,
    ) -> &[u32] {
        let map = &mut self.packages[p.source.slot()];
        let at = map.get(p.name.as_str()).and_then(|v| {
            v.iter()
                .position(|(version, vendor, _)| *version == p.version && *vendor == p.vendor)
        });
        if !map.contains_key(p.name.as_str()) {
            map.insert(p.name.clone(), Vec::new());
        }
        // (Present: inserted just above.)
        let Some(bucket) = map.get_mut(p.name.as_str()) else {
            return &[];
        };
        let at = match at {
            Some(at) => at,
            None => {
                bucket.push((p.version.clone(), p.vendor.clone(), compute(p)));
                self.entries += 1;
                bucket.len() - 1
            }
        };
        &bucket[at].2
    }

    fn tag(&mut self, t: &SwidTagFact, compute: impl FnOnce(&SwidTagFact) -> Vec<u32>) -> &[u32] {
        let at = self.tags.get(t.tag_id.as_str()).and_then(|v| {
            v.iter().position(|(regid, pid, name, version, _)| {
                *regid == t.regid
                    && *pid == t.persistent_id
                    && *name == t.name
                    && *version == t.version
            })
        });
        if !self.tags.contains_key(t.tag_id.as_str()) {
            self.tags.insert(t.tag_id.clone(), Vec::new());
        }
        // (Present: inserted just above.)
        let Some(bucket) = self.tags.get_mut(t.tag_id.as_str()) else {
            return &[];
        };
        let at = match at {
            Some(at) => at,
            None => {
                bucket.push((
                    t.regid.clone(),
                    t.persistent_id.clone(),
                    t.name.clone(),
                    t.version.clone(),
                    compute(t),
                ));
                self.entries += 1;
                bucket.len() - 1
            }
        };
        &bucket[at].4
    }
}

/// Build a [`Match`] from its parts, copying the evidence out of the fact (the indices
/// come from iterating `facts`, so they are in range).
fn make_match(
    component_id: String,
    signature_index: usize,
    kind: SignatureKind,
    fact: FactRef,
    facts: &ComputerFacts,
) -> Match {
    let (evidence, detailed_version) = match fact {
        FactRef::Package(i) => {
            let p = &facts.installed_packages[i];
            (
                Evidence::Package {
                    source: p.source,
                    name: p.name.clone(),
                    version: p.version.clone(),
                    architecture: p.architecture.clone(),
                },
                Some(p.version.clone()),
            )
        }
        FactRef::SwidTag(i) => {
            let t = &facts.swid_tags[i];
            (
                Evidence::Swid {
                    tag_id: t.tag_id.clone(),
                    version: t.version.clone(),
                    directory: t.directory.clone(),
                },
                t.version.clone(),
            )
        }
    };
    Match {
        component_id,
        signature_index,
        kind,
        fact,
        evidence,
        detailed_version,
    }
}
