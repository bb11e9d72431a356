//! **Bundling**: ILMT's rules for assigning every discovered software instance (a catalog
//! component found on a computer) to exactly one product among the component's bundling
//! options ([`Catalog::bundling_options`]), with the rule recorded on the assignment (ILMT's
//! `bundling_evidence.bundling_rule`, ids 1–6, and its `details`).
//!
//! Sources (see `shared/reference/ilmt/v2-api-shapes.md` §8–§9): ILMT's "Automated bundling"
//! page (<https://www.ibm.com/docs/en/license-metric-tool/9.2.0?topic=classification-automated-bundling>),
//! BigFix Inventory's "Stand-alone product discovery" rule
//! (<https://help.hcl-software.com/bigfix/11.0/inventory/Inventory/softinv/r_rule_standalone_product_discovery.html>)
//! and its `bundling_evidence` association
//! (<https://help.hcl-software.com/bigfix/11.0/inventory/Inventory/integration/bundling_evidence.html>).
//!
//! [`bundle_computer`] decides one computer at a time. For each found instance, in the order
//! given, the first rule that applies decides:
//!
//! 1. **Kept** — an existing assignment made manually (rule 1) or confirmed is returned
//!    unchanged, even if the catalog no longer offers its product: such assignments are never
//!    changed automatically.
//! 2. **Stability / component reinstallation** — an existing, unconfirmed assignment whose
//!    product is still a bundling option of the component is kept with its rule and details;
//!    only `charged` follows the catalog's current option. This is also how a reinstalled
//!    component goes back to its old product (ILMT evaluates reinstallation first; it has no
//!    rule id of its own).
//! 3. **No option** — a component not in the catalog, or listed under no product: `None`.
//! 4. **Single bundling option** (id 2) — exactly one option; details `{}`.
//! 5. **Upgrade-based inheritance** (id 3) — only when this component has exactly one found
//!    instance on the computer and exactly one [`Gone`] instance has a component of the same
//!    name (case-insensitive, trimmed), a different id, and an assignment: the option whose
//!    product is that product wins, else the option whose product has the same name
//!    (case-insensitive) as that product. A gone component that the catalog no longer has
//!    has no name to compare and is no source. Details `{"sourceProdInvId":<gone instance id>}`.
//!    Should several options share that name (and none be the very product), the candidates
//!    narrow to them and the next rules decide among them.
//! 6. **Computer best fit** (id 4) — the candidates whose product is already assigned to another
//!    instance of this computer: the kept assignments (rules 1–2, taken for every instance
//!    before anything is decided), the single-option ones (rule 4, decided next for every
//!    instance) and those decided earlier in this call (the rest, in the order given).
//!    Exactly one: it wins, details `{"productsOnComputer":1}`. Several: the candidates narrow
//!    to them. None: every candidate goes on.
//! 7. **Closest product name** (id 6, details `{"nameMatching":true}`) — production is kept with
//!    production: when some candidates have the same class (production or non-production) as
//!    the component's name, only they remain. Then the smallest Levenshtein distance between the
//!    lower-cased component name and the lower-cased product name wins, if it is unique.
//!    A name is *non-production* when it contains, as whole words (case-insensitive, split at
//!    anything but letters and digits), one of [`NON_PRODUCTION_TERMS`]: our reading of ILMT's
//!    "trial / limited / express" editions.
//! 8. **Deterministic tie-breaker** (id 6, details `{"nameMatching":true,"sortingUsed":true}`) —
//!    among the candidates still tied, the alphabetically first product name (case-insensitive,
//!    then exact), then product id. The result never depends on the catalog's order.
//!
//! ILMT's *environment-wide best fit* (id 5, judged from other computers' assignments) is
//! defined for the wire ([`BundlingRule::EnvironmentWideBestFit`]) but openlmt does not apply
//! it: bundling looks at one computer at a time.

use std::collections::{HashMap, HashSet};

use crate::catalog::{Catalog, Component, Product};

/// ILMT's `bundling_evidence.bundling_rule` ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundlingRule {
    /// 1: a user made the assignment.
    ManualAssignment,
    /// 2: the component has exactly one bundling option.
    SingleBundlingOption,
    /// 3: the new version of a component inherits the old version's product.
    UpgradeBasedInheritance,
    /// 4: the product is already assigned to another instance of the computer.
    ComputerBestFit,
    /// 5: judged from other computers (defined for the wire; openlmt never produces it).
    EnvironmentWideBestFit,
    /// 6: the closest product name, then a fixed alphabetical order.
    FinalTieBreaker,
}

impl BundlingRule {
    /// Every rule, in id order.
    pub const ALL: [BundlingRule; 6] = [
        BundlingRule::ManualAssignment,
        BundlingRule::SingleBundlingOption,
        BundlingRule::UpgradeBasedInheritance,
        BundlingRule::ComputerBestFit,
        BundlingRule::EnvironmentWideBestFit,
        BundlingRule::FinalTieBreaker,
    ];

    /// ILMT's id, 1..=6.
    pub fn id(self) -> i64 {
        match self {
            BundlingRule::ManualAssignment => 1,
            BundlingRule::SingleBundlingOption => 2,
            BundlingRule::UpgradeBasedInheritance => 3,
            BundlingRule::ComputerBestFit => 4,
            BundlingRule::EnvironmentWideBestFit => 5,
            BundlingRule::FinalTieBreaker => 6,
        }
    }

    /// The rule with this id.
    pub fn from_id(id: i64) -> Option<BundlingRule> {
        BundlingRule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// ILMT's name of the rule.
    pub fn name(self) -> &'static str {
        match self {
            BundlingRule::ManualAssignment => "Manual Assignment",
            BundlingRule::SingleBundlingOption => "Single Bundling Option",
            BundlingRule::UpgradeBasedInheritance => "Upgrade Based Inheritance",
            BundlingRule::ComputerBestFit => "Computer Best Fit",
            BundlingRule::EnvironmentWideBestFit => "Environment Wide Best Fit",
            BundlingRule::FinalTieBreaker => "Final Tie Breaker",
        }
    }
}

/// A component → product assignment and why it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The product.
    pub product_id: String,
    /// Whether the component counts for the product.
    pub charged: bool,
    /// The rule that made the assignment.
    pub rule: BundlingRule,
    /// JSON object text with rule-specific keys (ILMT's `details`), e.g. `{"nameMatching":true}`; `{}` when none.
    pub details: String,
}

/// The stored instance of the same (component, discovery path) on this computer, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    /// The instance.
    pub instance_id: i64,
    /// Its current assignment.
    pub assignment: Option<Assignment>,
    /// Whether a user confirmed the assignment.
    pub confirmed: bool,
}

/// One instance that this discovery found on the computer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The component found.
    pub component_id: String,
    /// The stored instance it continues, if any.
    pub existing: Option<Existing>,
}

/// An instance that was present on the computer before this discovery and is not found now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gone {
    /// The instance.
    pub instance_id: i64,
    /// Its component.
    pub component_id: String,
    /// Its last assignment.
    pub assignment: Option<Assignment>,
}

/// The words that make a product or component name non-production (rule 7), matched as
/// whole words, case-insensitive; a hyphenated term matches with any separator
/// (`Non Production`, `non_production`).
pub const NON_PRODUCTION_TERMS: [&str; 10] = [
    "non-production",
    "nonproduction",
    "non-prod",
    "trial",
    "limited",
    "express",
    "developer",
    "development",
    "test",
    "evaluation",
];

/// The words of a name: lower-cased runs of letters and digits.
fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `name` names a non-production edition (see [`NON_PRODUCTION_TERMS`]).
pub fn is_non_production(name: &str) -> bool {
    let w = words(name);
    NON_PRODUCTION_TERMS.iter().any(|term| {
        let t = words(term);
        w.windows(t.len()).any(|win| win == t.as_slice())
    })
}

const DETAILS_NONE: &str = "{}";
const DETAILS_BEST_FIT: &str = r#"{"productsOnComputer":1}"#;
const DETAILS_NAME: &str = r#"{"nameMatching":true}"#;
const DETAILS_SORTED: &str = r#"{"nameMatching":true,"sortingUsed":true}"#;

fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// The catalog's lookups bundling needs, indexed once (the catalog's own
/// lookups scan its lists): bundling options by component, products and
/// components by id. Build it once per catalog and bundle every computer
/// with [`bundle_computer_with`].
pub struct BundlingIndex<'a> {
    options: HashMap<&'a str, Vec<(&'a Product, bool)>>,
    products: HashMap<&'a str, &'a Product>,
    components: HashMap<&'a str, &'a Component>,
}

impl<'a> BundlingIndex<'a> {
    /// Indexes `catalog` (options in catalog order, as
    /// [`Catalog::bundling_options`] lists them).
    pub fn new(catalog: &'a Catalog) -> BundlingIndex<'a> {
        let mut options: HashMap<&'a str, Vec<(&'a Product, bool)>> = HashMap::new();
        for p in &catalog.products {
            for b in &p.components {
                let list = options.entry(b.component_id.as_str()).or_default();
                if !list.iter().any(|(q, _)| q.id == p.id) {
                    list.push((p, b.charged));
                }
            }
        }
        BundlingIndex {
            options,
            products: catalog
                .products
                .iter()
                .map(|p| (p.id.as_str(), p))
                .collect(),
            components: catalog
                .components
                .iter()
                .map(|c| (c.id.as_str(), c))
                .collect(),
        }
    }

    fn options(&self, component_id: &str) -> &[(&'a Product, bool)] {
        self.options.get(component_id).map_or(&[], Vec::as_slice)
    }

    fn product(&self, id: &str) -> Option<&'a Product> {
        self.products.get(id).copied()
    }

    fn component(&self, id: &str) -> Option<&'a Component> {
        self.components.get(id).copied()
    }
}

/// Decides the assignment of every found instance of one computer, in the order given
/// (the caller sorts them deterministically). `None` = the component has no product (or is not in the catalog).
pub fn bundle_computer(
    catalog: &Catalog,
    found: &[Found],
    gone: &[Gone],
) -> Vec<Option<Assignment>> {
    bundle_computer_with(&BundlingIndex::new(catalog), found, gone)
}

/// [`bundle_computer`] with a prebuilt index: the cost grows with the
/// computer's instances, not with the catalog's size.
pub fn bundle_computer_with(
    catalog: &BundlingIndex<'_>,
    found: &[Found],
    gone: &[Gone],
) -> Vec<Option<Assignment>> {
    let mut per_component: HashMap<&str, usize> = HashMap::new();
    for f in found {
        *per_component.entry(f.component_id.as_str()).or_default() += 1;
    }
    // Rules 1 and 2 first, for every instance: what they keep is "on the computer" for
    // rule 6 whatever the order of the instances.
    let mut out: Vec<Option<Assignment>> = found.iter().map(|f| kept(catalog, f)).collect();
    // (Borrowed: from the kept assignments, which are the found instances'
    // own, and from the catalog for the decided ones.)
    let mut on_computer: HashSet<&str> = found
        .iter()
        .zip(&out)
        .filter(|(_, a)| a.is_some())
        .filter_map(|(f, _)| {
            Some(
                f.existing
                    .as_ref()?
                    .assignment
                    .as_ref()?
                    .product_id
                    .as_str(),
            )
        })
        .collect();
    // Then the instances whose component has a single option (rule 4): they depend on
    // nothing, and deciding them before the others makes rule 6 see their products whatever
    // the order of the instances. Then every other instance, in the order given.
    let mut pending = vec![true; found.len()];
    for single_only in [true, false] {
        for (i, f) in found.iter().enumerate() {
            if out[i].is_some() || !pending[i] {
                continue;
            }
            if single_only && catalog.options(&f.component_id).len() != 1 {
                continue;
            }
            pending[i] = false;
            let alone = per_component.get(f.component_id.as_str()) == Some(&1);
            let decided = decide(catalog, f, alone, gone, &on_computer);
            if let Some(p) = decided
                .as_ref()
                .and_then(|a| catalog.product(&a.product_id))
            {
                on_computer.insert(p.id.as_str());
            }
            out[i] = decided;
        }
    }
    out
}

/// Rules 1 and 2: the existing assignment, if it is kept.
fn kept(catalog: &BundlingIndex<'_>, f: &Found) -> Option<Assignment> {
    let existing = f.existing.as_ref()?;
    let a = existing.assignment.as_ref()?;
    if existing.confirmed || a.rule == BundlingRule::ManualAssignment {
        return Some(a.clone());
    }
    catalog
        .options(&f.component_id)
        .iter()
        .find(|(p, _)| p.id == a.product_id)
        .map(|&(_, charged)| Assignment {
            charged,
            ..a.clone()
        })
}

/// Rules 3–8 for an instance that kept nothing.
fn decide(
    catalog: &BundlingIndex<'_>,
    f: &Found,
    alone: bool,
    gone: &[Gone],
    on_computer: &HashSet<&str>,
) -> Option<Assignment> {
    let options = catalog.options(&f.component_id);
    let assign = |(p, charged): (&Product, bool), rule, details: &str| Assignment {
        product_id: p.id.clone(),
        charged,
        rule,
        details: details.to_string(),
    };
    // Rule 3.
    if options.is_empty() {
        return None;
    }
    // Rule 4.
    if options.len() == 1 {
        return Some(assign(
            options[0],
            BundlingRule::SingleBundlingOption,
            DETAILS_NONE,
        ));
    }
    let mut candidates = options.to_vec();
    // Rule 5.
    if let Some((source, product_id)) = upgrade_source(catalog, f, alone, gone) {
        if let Some(&o) = candidates.iter().find(|(p, _)| p.id == product_id) {
            return Some(assign(
                o,
                BundlingRule::UpgradeBasedInheritance,
                &format!(r#"{{"sourceProdInvId":{source}}}"#),
            ));
        }
        if let Some(old) = catalog.product(product_id) {
            let named: Vec<_> = candidates
                .iter()
                .copied()
                .filter(|(p, _)| same_name(&p.name, &old.name))
                .collect();
            match named.len() {
                0 => {}
                1 => {
                    return Some(assign(
                        named[0],
                        BundlingRule::UpgradeBasedInheritance,
                        &format!(r#"{{"sourceProdInvId":{source}}}"#),
                    ))
                }
                _ => candidates = named,
            }
        }
    }
    // Rule 6.
    let fits: Vec<_> = candidates
        .iter()
        .copied()
        .filter(|(p, _)| on_computer.contains(p.id.as_str()))
        .collect();
    match fits.len() {
        0 => {}
        1 => {
            return Some(assign(
                fits[0],
                BundlingRule::ComputerBestFit,
                DETAILS_BEST_FIT,
            ))
        }
        _ => candidates = fits,
    }
    // Rule 7. A component that is in no product's list has no options, so it exists here.
    let component_name = catalog
        .component(&f.component_id)
        .map_or(f.component_id.as_str(), |c| c.name.as_str());
    let class = is_non_production(component_name);
    if candidates
        .iter()
        .any(|(p, _)| is_non_production(&p.name) == class)
    {
        candidates.retain(|(p, _)| is_non_production(&p.name) == class);
    }
    let lower = component_name.to_lowercase();
    let distance = |p: &Product| strsim::levenshtein(&lower, &p.name.to_lowercase());
    let best = candidates.iter().map(|(p, _)| distance(p)).min()?;
    candidates.retain(|(p, _)| distance(p) == best);
    if candidates.len() == 1 {
        return Some(assign(
            candidates[0],
            BundlingRule::FinalTieBreaker,
            DETAILS_NAME,
        ));
    }
    // Rule 8.
    candidates
        .into_iter()
        .min_by(|(a, _), (b, _)| {
            (a.name.to_lowercase(), &a.name, &a.id).cmp(&(b.name.to_lowercase(), &b.name, &b.id))
        })
        .map(|o| assign(o, BundlingRule::FinalTieBreaker, DETAILS_SORTED))
}

/// Rule 5's source: the one gone instance (id, product) this component inherits from.
fn upgrade_source<'a>(
    catalog: &BundlingIndex<'_>,
    f: &Found,
    alone: bool,
    gone: &'a [Gone],
) -> Option<(i64, &'a str)> {
    if !alone {
        return None;
    }
    let name = &catalog.component(&f.component_id)?.name;
    let mut sources = gone.iter().filter_map(|g| {
        let a = g.assignment.as_ref()?;
        let old = catalog.component(&g.component_id)?;
        (g.component_id != f.component_id && same_name(&old.name, name))
            .then_some((g.instance_id, a.product_id.as_str()))
    });
    let first = sources.next()?;
    sources.next().is_none().then_some(first)
}
