//! The validated catalog, loading (parse, don't validate) and layering.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::format::{
    CatalogDocument, ComponentDoc, Lenient, PackageDoc, PatternDoc, ProductDoc, SignatureDoc,
    SwidDoc,
};
use crate::range::{check_bound, VersionRange, VersionScheme};

/// Upper bound on the compiled size of one regular expression (bytes of the compiled
/// program, `regex::RegexBuilder::size_limit`).
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Upper bound on a catalog document's size in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024 * 1024;

/// One validation error: the JSON path of the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// `products[0].components[1].signatures[0].package.version`; empty for the document.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for CatalogError {}

/// A licence metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Processor Value Unit.
    Pvu,
    /// Resource Value Unit, Managed Activation Points (sic: IBM's `RVU_MAPC`).
    RvuMapc,
    /// Virtual Processor Core.
    Vpc,
}

impl Metric {
    /// The catalog spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Pvu => "PVU",
            Metric::RvuMapc => "RVU_MAPC",
            Metric::Vpc => "VPC",
        }
    }

    /// Parse the catalog spelling (exact).
    pub fn parse(s: &str) -> Option<Metric> {
        match s {
            "PVU" => Some(Metric::Pvu),
            "RVU_MAPC" => Some(Metric::RvuMapc),
            "VPC" => Some(Metric::Vpc),
            _ => None,
        }
    }
}

/// A publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A component → product relation (one bundling option).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleOption {
    /// The component.
    pub component_id: String,
    /// Whether using the component under this product is charged.
    pub charged: bool,
}

/// A product release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Id.
    pub id: String,
    /// Publisher name (resolved from `publishers` when the document named an id).
    pub publisher: String,
    /// Name.
    pub name: String,
    /// Release.
    pub release: Option<String>,
    /// Metric, if any.
    pub metric: Option<Metric>,
    /// Source of the product facts.
    pub evidence: Option<String>,
    /// Bundling options, in document order.
    pub components: Vec<BundleOption>,
}

/// A component: what discovery finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Release.
    pub release: Option<String>,
    /// Signatures, in document order.
    pub signatures: Vec<Signature>,
}

/// A string matched exactly or by a regular expression over the whole value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Exact, case-sensitive.
    Exact(String),
    /// Regular expression source (already checked to compile within
    /// [`REGEX_SIZE_LIMIT`]); it must match the whole value.
    Regex(String),
}

impl Pattern {
    /// The regex source anchored to the whole value.
    pub fn anchored(re: &str) -> String {
        format!("^(?:{re})$")
    }
}

/// Which package databases a package signature applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFilter {
    /// dpkg only.
    Dpkg,
    /// rpm only.
    Rpm,
    /// Either; the version range is compared with the installed package's own ordering.
    Any,
}

/// How a SWID signature identifies a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwidKey {
    /// `Meta/@persistentId`.
    PersistentId(String),
    /// The whole `tagId`.
    TagId(String),
    /// A prefix of the `tagId`.
    TagIdPrefix(String),
    /// The tag's `name`.
    Name(String),
}

/// A SWID signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwidSignature {
    /// The tag's regid.
    pub regid: String,
    /// The identifying field.
    pub key: SwidKey,
    /// Range on the tag version.
    pub version: Option<VersionRange>,
}

/// An installed-package signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSignature {
    /// dpkg, rpm or any.
    pub source: SourceFilter,
    /// Package name.
    pub name: Pattern,
    /// Package vendor.
    pub vendor: Option<Pattern>,
    /// Range on the package version.
    pub version: Option<VersionRange>,
}

/// The rule of a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureRule {
    /// SWID tag.
    Swid(SwidSignature),
    /// Installed package.
    Package(PackageSignature),
}

/// A signature with the public source of its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The rule.
    pub rule: SignatureRule,
    /// The source (URL or document title).
    pub evidence: Option<String>,
}

/// A validated catalog: every reference resolves, every range and regex is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    /// The catalog's version.
    pub catalog_version: String,
    /// Publishers.
    pub publishers: Vec<Publisher>,
    /// Products, in document order.
    pub products: Vec<Product>,
    /// Components, in order of first definition.
    pub components: Vec<Component>,
}

impl Catalog {
    /// The component with this id.
    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.id == id)
    }

    /// The product with this id.
    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.id == id)
    }

    /// The products a component is listed under (its bundling options), with `charged`.
    pub fn bundling_options<'a>(
        &'a self,
        component_id: &'a str,
    ) -> impl Iterator<Item = (&'a Product, bool)> + 'a {
        self.products.iter().filter_map(move |p| {
            p.components
                .iter()
                .find(|b| b.component_id == component_id)
                .map(|b| (p, b.charged))
        })
    }

    /// Number of signatures over all components.
    pub fn signature_count(&self) -> usize {
        self.components.iter().map(|c| c.signatures.len()).sum()
    }
}

/// Load and validate a catalog document (JSON). Every error is reported, each with its
/// path; on any error nothing is returned.
pub fn load(json: &str) -> Result<Catalog, Vec<CatalogError>> {
    load_with_base(json, None)
}

/// Load an operator layer: like [`load`], except that a product may list, by reference
/// (`{"id": ..., "charged": ...}`), a component defined only in `base` (the bundled layer).
pub fn load_layer(json: &str, base: &Catalog) -> Result<Catalog, Vec<CatalogError>> {
    load_with_base(json, Some(base))
}

fn err(path: impl Into<String>, message: impl Into<String>) -> CatalogError {
    CatalogError {
        path: path.into(),
        message: message.into(),
    }
}

fn join(outer: &str, inner: &str) -> String {
    if inner.is_empty() || inner == "." {
        outer.to_string()
    } else if inner.starts_with('[') || outer.is_empty() {
        format!("{outer}{inner}")
    } else {
        format!("{outer}.{inner}")
    }
}

/// A sort key for paths: list positions compare as numbers (`products[2]` before
/// `products[10]`), field names alphabetically, a field before its sub-fields.
fn path_key(path: &str) -> Vec<(String, usize)> {
    path.split('.')
        .map(|seg| match seg.split_once('[') {
            Some((name, rest)) => (
                name.to_string(),
                rest.trim_end_matches(']')
                    .parse::<usize>()
                    .map_or(0, |n| n + 1),
            ),
            None => (seg.to_string(), 0),
        })
        .collect()
}

fn load_with_base(json: &str, base: Option<&Catalog>) -> Result<Catalog, Vec<CatalogError>> {
    if json.len() > MAX_DOCUMENT_BYTES {
        return Err(vec![err(
            "",
            format!(
                "catalog is {} bytes, more than the limit of {MAX_DOCUMENT_BYTES}",
                json.len()
            ),
        )]);
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let doc: CatalogDocument = match serde_path_to_error::deserialize(&mut de) {
        Ok(d) => d,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            return Err(vec![err(path, e.into_inner().to_string())]);
        }
    };
    if let Err(e) = de.end() {
        return Err(vec![err("", e.to_string())]);
    }
    validate(&doc, base)
}

struct Validator<'b> {
    errors: Vec<CatalogError>,
    base: Option<&'b Catalog>,
    /// Component definitions by id: (path of the first definition, its document form).
    defs: HashMap<String, (String, ComponentDoc)>,
    def_order: Vec<String>,
    components: HashMap<String, Component>,
}

/// Validate a parsed document (see [`load`]).
pub fn validate(
    doc: &CatalogDocument,
    base: Option<&Catalog>,
) -> Result<Catalog, Vec<CatalogError>> {
    let mut v = Validator {
        errors: Vec::new(),
        base,
        defs: HashMap::new(),
        def_order: Vec::new(),
        components: HashMap::new(),
    };
    let catalog_version = match doc.catalog_version.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_string(),
        Some(_) => {
            v.errors.push(err("catalog_version", "must not be empty"));
            String::new()
        }
        None => {
            v.errors.push(err("catalog_version", "missing"));
            String::new()
        }
    };

    let mut publishers = Vec::new();
    let mut publisher_ids = HashSet::new();
    for (i, p) in doc.publishers.iter().enumerate() {
        let path = format!("publishers[{i}]");
        let Some(p) = v.element(&path, p) else {
            continue;
        };
        v.non_empty(&format!("{path}.id"), &p.id);
        v.non_empty(&format!("{path}.name"), &p.name);
        if !p.id.is_empty() && !publisher_ids.insert(p.id.clone()) {
            v.errors.push(err(
                format!("{path}.id"),
                format!("duplicate publisher id \"{}\"", p.id),
            ));
        }
        publishers.push(crate::Publisher {
            id: p.id.clone(),
            name: p.name.clone(),
        });
    }

    // Pass 1: component definitions, top level first, then under products.
    for (i, c) in doc.components.iter().enumerate() {
        let path = format!("components[{i}]");
        let Some(c) = v.element(&path, c) else {
            continue;
        };
        if c.charged.is_some() {
            v.errors.push(err(
                format!("{path}.charged"),
                "`charged` belongs to a product's component list, not to a top-level component",
            ));
        }
        if c.name.is_none() {
            v.errors.push(err(
                format!("{path}.name"),
                "missing (a top-level component is a definition)",
            ));
        }
        v.define(&path, c);
    }
    for (i, p) in doc.products.iter().enumerate() {
        let Lenient::Ok(p) = p else { continue };
        for (j, c) in p.components.iter().enumerate() {
            let Lenient::Ok(c) = c else { continue };
            if c.name.is_some() {
                v.define(&format!("products[{i}].components[{j}]"), c);
            }
        }
    }

    // Pass 2: products and their bundling options.
    let mut products = Vec::new();
    let mut product_ids = HashSet::new();
    for (i, p) in doc.products.iter().enumerate() {
        let path = format!("products[{i}]");
        let Some(p) = v.element(&path, p) else {
            continue;
        };
        let product = v.product(&path, p, &publishers);
        if !p.id.is_empty() && !product_ids.insert(p.id.clone()) {
            v.errors.push(err(
                format!("{path}.id"),
                format!("duplicate product id \"{}\"", p.id),
            ));
        }
        products.extend(product);
    }

    if !v.errors.is_empty() {
        // Report ordered by path, list positions numerically (the checks run in two
        // passes, definitions first).
        v.errors.sort_by_cached_key(|e| path_key(&e.path));
        return Err(v.errors);
    }
    let mut components = Vec::with_capacity(v.def_order.len());
    for id in &v.def_order {
        if let Some(c) = v.components.remove(id) {
            components.push(c);
        }
    }
    Ok(Catalog {
        catalog_version,
        publishers,
        products,
        components,
    })
}

impl Validator<'_> {
    fn element<'a, T>(&mut self, path: &str, e: &'a Lenient<T>) -> Option<&'a T> {
        match e {
            Lenient::Ok(t) => Some(t),
            Lenient::Err {
                path: inner,
                message,
            } => {
                self.errors.push(err(join(path, inner), message.clone()));
                None
            }
        }
    }

    fn non_empty(&mut self, path: &str, s: &str) -> bool {
        if s.trim().is_empty() {
            self.errors.push(err(path, "must not be empty"));
            false
        } else {
            true
        }
    }

    /// Record a component definition; a second definition of the same id must be identical.
    fn define(&mut self, path: &str, c: &ComponentDoc) {
        if !self.non_empty(&format!("{path}.id"), &c.id) {
            return;
        }
        let mut normalised = c.clone();
        normalised.charged = None;
        if let Some((first, prev)) = self.defs.get(&c.id) {
            if *prev != normalised {
                self.errors.push(err(
                    path,
                    format!(
                        "component \"{}\" is already defined differently at {first} \
                         (list it again with the same definition, or by reference: only id and charged)",
                        c.id
                    ),
                ));
            }
            return;
        }
        self.defs
            .insert(c.id.clone(), (path.to_string(), normalised));
        self.def_order.push(c.id.clone());
        if let Some(comp) = self.component(path, c) {
            self.components.insert(c.id.clone(), comp);
        }
    }

    fn component(&mut self, path: &str, c: &ComponentDoc) -> Option<Component> {
        let name = c.name.clone().unwrap_or_default();
        let mut ok = self.non_empty(&format!("{path}.name"), &name);
        if let Some(r) = &c.release {
            ok &= self.non_empty(&format!("{path}.release"), r);
        }
        let mut signatures = Vec::new();
        match &c.signatures {
            None => {
                self.errors.push(err(
                    format!("{path}.signatures"),
                    "missing (use [] for a component that is never discovered)",
                ));
                ok = false;
            }
            Some(sigs) => {
                for (k, s) in sigs.iter().enumerate() {
                    let spath = format!("{path}.signatures[{k}]");
                    let Some(s) = self.element(&spath, s) else {
                        ok = false;
                        continue;
                    };
                    match self.signature(&spath, s) {
                        Some(sig) => signatures.push(sig),
                        None => ok = false,
                    }
                }
            }
        }
        ok.then(|| Component {
            id: c.id.clone(),
            name,
            release: c.release.clone(),
            signatures,
        })
    }

    fn signature(&mut self, path: &str, s: &SignatureDoc) -> Option<Signature> {
        if let Some(e) = &s.evidence {
            if !self.non_empty(&format!("{path}.evidence"), e) {
                return None;
            }
        }
        let rule = match (&s.swid, &s.package) {
            (Some(w), None) => SignatureRule::Swid(self.swid(&format!("{path}.swid"), w)?),
            (None, Some(p)) => SignatureRule::Package(self.package(&format!("{path}.package"), p)?),
            (None, None) => {
                self.errors
                    .push(err(path, "a signature needs one of `swid` or `package`"));
                return None;
            }
            (Some(_), Some(_)) => {
                self.errors.push(err(
                    path,
                    "a signature has exactly one of `swid` or `package`, not both",
                ));
                return None;
            }
        };
        Some(Signature {
            rule,
            evidence: s.evidence.clone(),
        })
    }

    fn range(
        &mut self,
        path: &str,
        text: &Option<String>,
        schemes: &[VersionScheme],
    ) -> Result<Option<VersionRange>, ()> {
        let Some(text) = text else { return Ok(None) };
        let range: VersionRange = match text.parse() {
            Ok(r) => r,
            Err(e) => {
                self.errors.push(err(path, e.0));
                return Err(());
            }
        };
        for c in &range.constraints {
            for s in schemes {
                if let Err(m) = check_bound(*s, &c.version) {
                    self.errors.push(err(path, m));
                    return Err(());
                }
            }
        }
        Ok(Some(range))
    }

    fn swid(&mut self, path: &str, w: &SwidDoc) -> Option<SwidSignature> {
        let mut ok = self.non_empty(&format!("{path}.regid"), &w.regid);
        let keys: Vec<(&str, &String)> = [
            ("persistent_id", &w.persistent_id),
            ("tag_id", &w.tag_id),
            ("tag_id_prefix", &w.tag_id_prefix),
            ("name", &w.name),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let key = match keys.as_slice() {
            [] => {
                self.errors.push(err(
                    path,
                    "needs one of persistent_id, tag_id, tag_id_prefix or name",
                ));
                None
            }
            [(k, v)] => {
                if self.non_empty(&format!("{path}.{k}"), v) {
                    Some(match *k {
                        "persistent_id" => SwidKey::PersistentId((*v).clone()),
                        "tag_id" => SwidKey::TagId((*v).clone()),
                        "tag_id_prefix" => SwidKey::TagIdPrefix((*v).clone()),
                        _ => SwidKey::Name((*v).clone()),
                    })
                } else {
                    None
                }
            }
            more => {
                let names: Vec<&str> = more.iter().map(|(k, _)| *k).collect();
                self.errors.push(err(
                    path,
                    format!(
                        "has {}: give exactly one of persistent_id, tag_id, tag_id_prefix or name",
                        names.join(" and ")
                    ),
                ));
                None
            }
        };
        let version = self.range(
            &format!("{path}.version"),
            &w.version,
            &[VersionScheme::Swid],
        );
        ok &= version.is_ok();
        let key = key?;
        ok.then(|| SwidSignature {
            regid: w.regid.clone(),
            key,
            version: version.ok().flatten(),
        })
    }

    fn pattern(&mut self, path: &str, p: &PatternDoc) -> Option<Pattern> {
        match p {
            PatternDoc::Exact(s) => self.non_empty(path, s).then(|| Pattern::Exact(s.clone())),
            PatternDoc::Regex(r) => {
                let rpath = format!("{path}.regex");
                if !self.non_empty(&rpath, r) {
                    return None;
                }
                match regex::RegexBuilder::new(&Pattern::anchored(r))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                {
                    Ok(_) => Some(Pattern::Regex(r.clone())),
                    Err(e) => {
                        let msg = e.to_string();
                        let msg = msg.lines().last().unwrap_or(&msg).trim().to_string();
                        self.errors
                            .push(err(rpath, format!("invalid regular expression: {msg}")));
                        None
                    }
                }
            }
        }
    }

    fn package(&mut self, path: &str, p: &PackageDoc) -> Option<PackageSignature> {
        let source = match p.source.as_str() {
            "dpkg" => Some(SourceFilter::Dpkg),
            "rpm" => Some(SourceFilter::Rpm),
            "any" => Some(SourceFilter::Any),
            other => {
                self.errors.push(err(
                    format!("{path}.source"),
                    format!("unknown source \"{other}\" (dpkg, rpm or any)"),
                ));
                None
            }
        };
        let name = self.pattern(&format!("{path}.name"), &p.name);
        let vendor = match &p.vendor {
            None => Some(None),
            Some(v) => self.pattern(&format!("{path}.vendor"), v).map(Some),
        };
        let schemes: &[VersionScheme] = match source {
            Some(SourceFilter::Dpkg) => &[VersionScheme::Dpkg],
            Some(SourceFilter::Rpm) => &[VersionScheme::Rpm],
            _ => &[VersionScheme::Dpkg, VersionScheme::Rpm],
        };
        let version = self.range(&format!("{path}.version"), &p.version, schemes);
        Some(PackageSignature {
            source: source?,
            name: name?,
            vendor: vendor?,
            version: version.ok()?,
        })
    }

    fn product(&mut self, path: &str, p: &ProductDoc, publishers: &[Publisher]) -> Option<Product> {
        let mut ok = self.non_empty(&format!("{path}.id"), &p.id);
        ok &= self.non_empty(&format!("{path}.publisher"), &p.publisher);
        ok &= self.non_empty(&format!("{path}.name"), &p.name);
        if let Some(r) = &p.release {
            ok &= self.non_empty(&format!("{path}.release"), r);
        }
        let metric = match p.metric.as_deref() {
            None => None,
            Some(m) => match Metric::parse(m) {
                Some(m) => Some(m),
                None => {
                    self.errors.push(err(
                        format!("{path}.metric"),
                        format!("unknown metric \"{m}\" (PVU, RVU_MAPC, VPC, or null for none)"),
                    ));
                    ok = false;
                    None
                }
            },
        };
        if p.components.is_empty() {
            self.errors.push(err(
                format!("{path}.components"),
                "a product needs at least one component",
            ));
            ok = false;
        }
        let mut bundles = Vec::new();
        let mut seen = HashSet::new();
        for (j, c) in p.components.iter().enumerate() {
            let cpath = format!("{path}.components[{j}]");
            let Some(c) = self.element(&cpath, c) else {
                ok = false;
                continue;
            };
            if c.name.is_none() {
                // A reference: only id and charged.
                if c.release.is_some() || c.signatures.is_some() {
                    self.errors.push(err(
                        &cpath,
                        "a component without `name` is a reference and may only have `id` and `charged`",
                    ));
                    ok = false;
                    continue;
                }
                if !self.non_empty(&format!("{cpath}.id"), &c.id) {
                    ok = false;
                    continue;
                }
                let known = self.defs.contains_key(&c.id)
                    || self.base.is_some_and(|b| b.component(&c.id).is_some());
                if !known {
                    self.errors.push(err(
                        format!("{cpath}.id"),
                        format!(
                            "unknown component \"{}\" (not defined in this catalog{})",
                            c.id,
                            if self.base.is_some() {
                                " nor in the bundled one"
                            } else {
                                ""
                            }
                        ),
                    ));
                    ok = false;
                    continue;
                }
            }
            if !seen.insert(c.id.clone()) {
                self.errors.push(err(
                    format!("{cpath}.id"),
                    format!("component \"{}\" is listed twice under this product", c.id),
                ));
                ok = false;
                continue;
            }
            bundles.push(BundleOption {
                component_id: c.id.clone(),
                charged: c.charged.unwrap_or(true),
            });
        }
        // A publisher id of this document, else (an operator layer) of the bundled layer,
        // else the publisher's name itself.
        let publisher = publishers
            .iter()
            .chain(self.base.iter().flat_map(|b| b.publishers.iter()))
            .find(|x| x.id == p.publisher)
            .map(|x| x.name.clone())
            .unwrap_or_else(|| p.publisher.clone());
        ok.then(|| Product {
            id: p.id.clone(),
            publisher,
            name: p.name.clone(),
            release: p.release.clone(),
            metric,
            evidence: p.evidence.clone(),
            components: bundles,
        })
    }
}

/// Merge the bundled layer and the operator's layer into the effective catalog.
///
/// Products, components and publishers are keyed by id: an operator entry replaces the
/// bundled entry with the same id in place (a replaced component keeps its bundling options
/// under bundled products, with the operator's name and signatures); new entries follow the
/// bundled ones in the operator's order. The effective `catalog_version` is
/// `"<bundled>+<operator>"`.
pub fn merge_layers(bundled: &Catalog, operator: &Catalog) -> Catalog {
    fn overlay<T: Clone>(base: &[T], top: &[T], id: impl Fn(&T) -> &str) -> Vec<T> {
        let top_ids: HashMap<&str, &T> = top.iter().map(|t| (id(t), t)).collect();
        let base_ids: HashSet<&str> = base.iter().map(&id).collect();
        let mut out: Vec<T> = base
            .iter()
            .map(|b| {
                top_ids
                    .get(id(b))
                    .map_or_else(|| b.clone(), |t| (*t).clone())
            })
            .collect();
        out.extend(top.iter().filter(|t| !base_ids.contains(id(t))).cloned());
        out
    }
    Catalog {
        catalog_version: format!("{}+{}", bundled.catalog_version, operator.catalog_version),
        publishers: overlay(&bundled.publishers, &operator.publishers, |p| &p.id),
        products: overlay(&bundled.products, &operator.products, |p| &p.id),
        components: overlay(&bundled.components, &operator.components, |c| &c.id),
    }
}
