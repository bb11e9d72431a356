//! ILMT's bundling rules (`openlmt_catalog::bundling`): one worked example per rule on
//! catalogs in the minimal JSON form, the order of the rules, determinism, and the bundled
//! catalog.

use openlmt_catalog::bundling::{is_non_production, NON_PRODUCTION_TERMS};
use openlmt_catalog::{
    bundle_computer, bundled, load, Assignment, BundlingRule, Catalog, Existing, Found, Gone,
};
use proptest::prelude::*;

/// Releases 7 and 8 of ACME Server and ACME Workgroup. `acme-engine-*` and `acme-agent` have
/// two options each; `acme-console-8` and `acme-cli` one; `acme-orphan` none.
const ACME: &str = r#"{"catalog_version": "2026-12-01.1",
 "components": [{"id": "acme-orphan", "name": "ACME Orphan", "signatures": []}],
 "products": [
  {"id": "acme-server-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1", "metric": "PVU",
   "components": [{"id": "acme-engine-7", "name": "ACME Engine", "release": "7.1", "charged": true,
     "signatures": [{"package": {"source": "rpm", "name": "acme-engine", "version": ">=7.1, <7.2"}}]}]},
  {"id": "acme-workgroup-7", "publisher": "ACME", "name": "ACME Workgroup", "release": "7.1", "metric": "PVU",
   "components": [{"id": "acme-engine-7", "charged": true}]},
  {"id": "acme-server-8", "publisher": "ACME", "name": "ACME Server", "release": "8.0", "metric": "PVU",
   "components": [{"id": "acme-engine-8", "name": "ACME Engine", "release": "8.0", "charged": true,
       "signatures": [{"package": {"source": "rpm", "name": "acme-engine", "version": ">=8.0, <8.1"}}]},
     {"id": "acme-agent", "name": "ACME Agent", "charged": true,
       "signatures": [{"package": {"source": "any", "name": "acme-agent"}}]}]},
  {"id": "acme-workgroup-8", "publisher": "ACME", "name": "ACME Workgroup", "release": "8.0", "metric": "PVU",
   "components": [{"id": "acme-engine-8", "charged": true},
     {"id": "acme-agent", "charged": false},
     {"id": "acme-console-8", "name": "ACME Workgroup Console", "release": "8.0", "charged": true,
       "signatures": [{"package": {"source": "rpm", "name": "acme-wg-console"}}]}]},
  {"id": "acme-tools", "publisher": "ACME", "name": "ACME Tools",
   "components": [{"id": "acme-cli", "name": "ACME CLI", "charged": false,
     "signatures": [{"package": {"source": "dpkg", "name": "acme-cli"}}]}]}]}"#;

fn catalog(json: &str) -> Catalog {
    load(json).unwrap_or_else(|e| panic!("{e:?}"))
}

fn acme() -> Catalog {
    catalog(ACME)
}

fn a(product: &str, charged: bool, rule_id: i64, details: &str) -> Assignment {
    Assignment {
        product_id: product.to_string(),
        charged,
        rule: BundlingRule::from_id(rule_id).unwrap(),
        details: details.to_string(),
    }
}

fn new(component: &str) -> Found {
    Found {
        component_id: component.to_string(),
        existing: None,
    }
}

fn stored(component: &str, instance_id: i64, assignment: Assignment, confirmed: bool) -> Found {
    Found {
        component_id: component.to_string(),
        existing: Some(Existing {
            instance_id,
            assignment: Some(assignment),
            confirmed,
        }),
    }
}

fn gone(instance_id: i64, component: &str, assignment: Option<Assignment>) -> Gone {
    Gone {
        instance_id,
        component_id: component.to_string(),
        assignment,
    }
}

fn one(c: &Catalog, f: Found, g: &[Gone]) -> Option<Assignment> {
    let out = bundle_computer(c, &[f], g);
    assert_eq!(out.len(), 1);
    out.into_iter().next().unwrap()
}

#[test]
fn rule_ids_and_names_are_ilmts() {
    let expected = [
        (1, "Manual Assignment"),
        (2, "Single Bundling Option"),
        (3, "Upgrade Based Inheritance"),
        (4, "Computer Best Fit"),
        (5, "Environment Wide Best Fit"),
        (6, "Final Tie Breaker"),
    ];
    for (id, name) in expected {
        let r = BundlingRule::from_id(id).unwrap();
        assert_eq!((r.id(), r.name()), (id, name));
    }
    assert_eq!(BundlingRule::from_id(0), None);
    assert_eq!(BundlingRule::from_id(7), None);
    assert_eq!(
        BundlingRule::ManualAssignment,
        BundlingRule::from_id(1).unwrap()
    );
}

// Rule 1: kept.

#[test]
fn manual_assignment_is_kept_unchanged() {
    let c = acme();
    // The name rule would choose acme-server-8; the user chose the workgroup, not charged.
    let manual = a("acme-workgroup-8", false, 1, "{}");
    assert_eq!(
        one(&c, stored("acme-engine-8", 7, manual.clone(), false), &[]),
        Some(manual)
    );
}

#[test]
fn manual_assignment_beats_single_option() {
    let c = acme();
    // acme-cli has the single option acme-tools; the user put it under acme-server-8.
    let manual = a("acme-server-8", true, 1, "{}");
    assert_eq!(
        one(&c, stored("acme-cli", 3, manual.clone(), false), &[]),
        Some(manual)
    );
}

#[test]
fn confirmed_assignment_survives_the_catalog_dropping_its_product() {
    // Made by the name rule, then confirmed by a user.
    let confirmed = a("acme-workgroup-8", true, 6, r#"{"nameMatching":true}"#);
    // The new catalog no longer lists acme-agent under acme-workgroup-8.
    let dropped = ACME.replace(r#"{"id": "acme-agent", "charged": false},"#, "");
    let c = catalog(&dropped);
    assert_eq!(c.bundling_options("acme-agent").count(), 1);
    assert_eq!(
        one(&c, stored("acme-agent", 9, confirmed.clone(), true), &[]),
        Some(confirmed.clone())
    );
    // Unconfirmed, the same assignment is re-decided: now a single option.
    assert_eq!(
        one(&c, stored("acme-agent", 9, confirmed, false), &[]),
        Some(a("acme-server-8", true, 2, "{}"))
    );
}

// Rule 2: stability and component reinstallation.

#[test]
fn unconfirmed_assignment_still_offered_is_kept_and_follows_charged() {
    let c = acme();
    // Earlier put on acme-workgroup-8 by computer best fit, charged then; the catalog now
    // says acme-agent is not charged under acme-workgroup-8. Alone, the agent would now go to
    // acme-server-8 by name (distance 6 against 8).
    let before = a("acme-workgroup-8", true, 4, r#"{"productsOnComputer":1}"#);
    assert_eq!(
        one(&c, stored("acme-agent", 11, before, false), &[]),
        Some(a(
            "acme-workgroup-8",
            false,
            4,
            r#"{"productsOnComputer":1}"#
        ))
    );
    assert_eq!(
        one(&c, new("acme-agent"), &[]),
        Some(a("acme-server-8", true, 6, r#"{"nameMatching":true}"#))
    );
}

#[test]
fn reinstalled_component_goes_back_to_its_old_product() {
    let c = acme();
    // The stored instance of the same (component, path) had been assigned by upgrade to the
    // workgroup; it comes back and keeps it although upgrade no longer applies.
    let before = a("acme-workgroup-8", true, 3, r#"{"sourceProdInvId":41}"#);
    assert_eq!(
        one(&c, stored("acme-engine-8", 12, before.clone(), false), &[]),
        Some(before)
    );
}

// Rule 3: no option.

#[test]
fn component_without_product_has_no_assignment() {
    let c = acme();
    let out = bundle_computer(
        &c,
        &[
            new("acme-orphan"),
            new("not-in-the-catalog"),
            new("acme-cli"),
        ],
        &[],
    );
    assert_eq!(out, vec![None, None, Some(a("acme-tools", false, 2, "{}"))]);
    // An unconfirmed assignment to a product the component is no longer under is dropped.
    let stale = a("acme-tools", true, 2, "{}");
    assert_eq!(one(&c, stored("acme-orphan", 5, stale, false), &[]), None);
}

// Rule 4: single bundling option.

#[test]
fn single_bundling_option() {
    let c = acme();
    assert_eq!(
        one(&c, new("acme-console-8"), &[]),
        Some(a("acme-workgroup-8", true, 2, "{}"))
    );
    // The option's charged flag is taken as it is.
    assert_eq!(
        one(&c, new("acme-cli"), &[]),
        Some(a("acme-tools", false, 2, "{}"))
    );
}

// Rule 5: upgrade-based inheritance.

#[test]
fn upgrade_inherits_the_product_of_the_same_name() {
    let c = acme();
    // ACME Engine 7.1 was on ACME Workgroup 7.1 and is gone; ACME Engine 8.0 appears. By
    // name it would go to ACME Server 8.0 (distance 6 against 8).
    let g = [gone(
        41,
        "acme-engine-7",
        Some(a("acme-workgroup-7", true, 1, "{}")),
    )];
    assert_eq!(
        one(&c, new("acme-engine-8"), &g),
        Some(a("acme-workgroup-8", true, 3, r#"{"sourceProdInvId":41}"#))
    );
    assert_eq!(
        one(&c, new("acme-engine-8"), &[]),
        Some(a("acme-server-8", true, 6, r#"{"nameMatching":true}"#))
    );
}

#[test]
fn upgrade_inherits_the_very_product_when_it_is_an_option() {
    // A suite product that lists both releases of the engine.
    let json = r#"{"catalog_version": "1",
     "products": [
      {"id": "acme-suite", "publisher": "ACME", "name": "ACME Suite",
       "components": [{"id": "e7", "name": "ACME Engine", "release": "7", "signatures": []},
                      {"id": "e8", "name": " acme engine ", "release": "8", "charged": false, "signatures": []}]},
      {"id": "acme-engine", "publisher": "ACME", "name": "ACME Engine",
       "components": [{"id": "e8"}]}]}"#;
    let c = catalog(json);
    let g = [gone(
        7,
        "e7",
        Some(a("acme-suite", true, 6, r#"{"nameMatching":true}"#)),
    )];
    // Names compare trimmed and case-insensitively; the exact product wins over the name.
    assert_eq!(
        one(&c, new("e8"), &g),
        Some(a("acme-suite", false, 3, r#"{"sourceProdInvId":7}"#))
    );
}

#[test]
fn upgrade_needs_one_instance_and_one_source() {
    let c = acme();
    let from_wg = gone(
        41,
        "acme-engine-7",
        Some(a("acme-workgroup-7", true, 1, "{}")),
    );
    let name_rule = Some(a("acme-server-8", true, 6, r#"{"nameMatching":true}"#));
    // Two instances of the new component: no inheritance; the first goes by name, the
    // second follows it by computer best fit.
    let out = bundle_computer(
        &c,
        &[new("acme-engine-8"), new("acme-engine-8")],
        std::slice::from_ref(&from_wg),
    );
    assert_eq!(
        out,
        vec![
            name_rule.clone(),
            Some(a("acme-server-8", true, 4, r#"{"productsOnComputer":1}"#))
        ]
    );
    // Two sources: no inheritance.
    let from_server = gone(42, "acme-engine-7", Some(a("acme-server-7", true, 1, "{}")));
    assert_eq!(
        one(&c, new("acme-engine-8"), &[from_wg.clone(), from_server]),
        name_rule
    );
    // A source without assignment, or with the same component id, is no source.
    assert_eq!(
        one(&c, new("acme-engine-8"), &[gone(43, "acme-engine-7", None)]),
        name_rule
    );
    assert_eq!(
        one(
            &c,
            new("acme-engine-8"),
            &[gone(
                44,
                "acme-engine-8",
                Some(a("acme-workgroup-8", true, 1, "{}"))
            )]
        ),
        name_rule
    );
}

#[test]
fn upgrade_beats_computer_best_fit() {
    let c = acme();
    let g = [gone(
        41,
        "acme-engine-7",
        Some(a("acme-workgroup-7", true, 1, "{}")),
    )];
    // ACME Server 8.0 is on the computer through the agent's manual assignment.
    let found = [
        stored("acme-agent", 2, a("acme-server-8", true, 1, "{}"), false),
        new("acme-engine-8"),
    ];
    assert_eq!(
        bundle_computer(&c, &found, &g)[1],
        Some(a("acme-workgroup-8", true, 3, r#"{"sourceProdInvId":41}"#))
    );
}

// Rule 6: computer best fit.

#[test]
fn computer_best_fit_beats_the_name() {
    let c = acme();
    // The console (single option) puts ACME Workgroup 8.0 on the computer; the agent joins
    // it although its name is closer to ACME Server. The console is listed after the agent:
    // single-option instances are decided first.
    let out = bundle_computer(&c, &[new("acme-agent"), new("acme-console-8")], &[]);
    assert_eq!(
        out,
        vec![
            Some(a(
                "acme-workgroup-8",
                false,
                4,
                r#"{"productsOnComputer":1}"#
            )),
            Some(a("acme-workgroup-8", true, 2, "{}")),
        ]
    );
    // The engine likewise (the example of docs/catalog.md).
    let out = bundle_computer(&c, &[new("acme-engine-8"), new("acme-console-8")], &[]);
    assert_eq!(
        out[0],
        Some(a(
            "acme-workgroup-8",
            true,
            4,
            r#"{"productsOnComputer":1}"#
        ))
    );
}

#[test]
fn computer_best_fit_sees_assignments_decided_earlier_in_the_call() {
    let c = acme();
    // The engine goes to ACME Server 8.0 by name; the agent, after it, follows by best fit.
    let out = bundle_computer(&c, &[new("acme-engine-8"), new("acme-agent")], &[]);
    assert_eq!(
        out,
        vec![
            Some(a("acme-server-8", true, 6, r#"{"nameMatching":true}"#)),
            Some(a("acme-server-8", true, 4, r#"{"productsOnComputer":1}"#)),
        ]
    );
}

#[test]
fn several_best_fits_narrow_the_candidates_for_the_name_rule() {
    let json = r#"{"catalog_version": "1",
     "products": [
      {"id": "x", "publisher": "ACME", "name": "ACME Server X",
       "components": [{"id": "engine", "name": "ACME Server", "signatures": []},
                      {"id": "x-only", "name": "X Console", "signatures": []}]},
      {"id": "y", "publisher": "ACME", "name": "ACME Server Y",
       "components": [{"id": "engine"}, {"id": "y-only", "name": "Y Console", "signatures": []}]},
      {"id": "z", "publisher": "ACME", "name": "ACME Server",
       "components": [{"id": "engine"}]}]}"#;
    let c = catalog(json);
    // Alone, the engine goes to the exact name.
    assert_eq!(
        one(&c, new("engine"), &[]),
        Some(a("z", true, 6, r#"{"nameMatching":true}"#))
    );
    // X and Y are both on the computer: only they remain, tied at distance 2; X sorts first.
    let out = bundle_computer(&c, &[new("y-only"), new("engine"), new("x-only")], &[]);
    assert_eq!(
        out[1],
        Some(a(
            "x",
            true,
            6,
            r#"{"nameMatching":true,"sortingUsed":true}"#
        ))
    );
}

// Rule 7: closest product name, production with production.

#[test]
fn closest_name_keeps_production_with_production() {
    let json = r#"{"catalog_version": "1",
     "products": [
      {"id": "trial", "publisher": "ACME", "name": "ACME Engine Trial",
       "components": [{"id": "engine", "name": "ACME Engine", "signatures": []},
                      {"id": "engine-dev", "name": "ACME Server Developer Edition", "signatures": []}]},
      {"id": "server", "publisher": "ACME", "name": "ACME Engine Server",
       "components": [{"id": "engine"}]},
      {"id": "edition", "publisher": "ACME", "name": "ACME Server Edition",
       "components": [{"id": "engine-dev"}]},
      {"id": "express", "publisher": "ACME", "name": "ACME Server Express",
       "components": [{"id": "engine-dev", "charged": false}]}]}"#;
    let c = catalog(json);
    // "acme engine": "acme engine trial" is 6 away, "acme engine server" 7, but the
    // component is production and so is only the server.
    assert_eq!(
        one(&c, new("engine"), &[]),
        Some(a("server", true, 6, r#"{"nameMatching":true}"#))
    );
    // "acme server developer edition": "acme server edition" is 10 away, "acme server
    // express" 13, but the component is non-production (developer) and so is only express.
    assert_eq!(
        one(&c, new("engine-dev"), &[]),
        Some(a("express", false, 6, r#"{"nameMatching":true}"#))
    );
}

#[test]
fn closest_name_when_every_candidate_is_of_the_other_class() {
    let json = r#"{"catalog_version": "1",
     "products": [
      {"id": "far", "publisher": "ACME", "name": "ACME Database Trial Edition",
       "components": [{"id": "db", "name": "ACME Database", "signatures": []}]},
      {"id": "near", "publisher": "ACME", "name": "ACME Database Express",
       "components": [{"id": "db"}]}]}"#;
    let c = catalog(json);
    assert_eq!(
        one(&c, new("db"), &[]),
        Some(a("near", true, 6, r#"{"nameMatching":true}"#))
    );
}

#[test]
fn non_production_names() {
    for name in [
        "IBM WebSphere Application Server - Express",
        "ACME Non-Production",
        "ACME non_production use",
        "ACME NonProduction",
        "ACME Server (Non-Prod)",
        "ACME Trial",
        "ACME Limited Use",
        "ACME Developer Edition",
        "ACME Development Server",
        "ACME TEST",
        "ACME Evaluation",
    ] {
        assert!(is_non_production(name), "{name}");
    }
    for name in [
        "ACME Server",
        "ACME Latest",
        "ACME Testing Framework",
        "ACME Contest",
        "ACME Production",
        "ACME Expressway",
        "ACME Non Productive",
    ] {
        assert!(!is_non_production(name), "{name}");
    }
    assert_eq!(NON_PRODUCTION_TERMS.len(), 10);
}

// Rule 8: deterministic tie-breaker.

#[test]
fn tie_breaker_sorts_by_name_then_id() {
    let json = r#"{"catalog_version": "1",
     "products": [
      {"id": "acme-a", "publisher": "ACME", "name": "ACME Server Y",
       "components": [{"id": "engine", "name": "ACME Server", "signatures": []},
                      {"id": "twin", "name": "ACME Server Twin", "signatures": []}]},
      {"id": "acme-b", "publisher": "ACME", "name": "ACME Server X",
       "components": [{"id": "engine"}]},
      {"id": "acme-twin-2", "publisher": "ACME", "name": "ACME Server Twins",
       "components": [{"id": "twin"}]},
      {"id": "acme-twin-1", "publisher": "ACME", "name": "ACME Server Twins",
       "components": [{"id": "twin"}]}]}"#;
    let c = catalog(json);
    let sorted = r#"{"nameMatching":true,"sortingUsed":true}"#;
    // Both 2 away: the name "ACME Server X" sorts first, whatever the ids.
    assert_eq!(
        one(&c, new("engine"), &[]),
        Some(a("acme-b", true, 6, sorted))
    );
    // Twin products "ACME Server Twins" (acme-a is 4 away, the twins 1): the smaller id.
    assert_eq!(
        one(&c, new("twin"), &[]),
        Some(a("acme-twin-1", true, 6, sorted))
    );
}

// Determinism.

#[test]
fn same_input_same_output_and_answer_per_instance() {
    let c = acme();
    let found = [
        new("acme-engine-8"),
        new("acme-agent"),
        new("acme-orphan"),
        stored("acme-cli", 3, a("acme-server-8", true, 1, "{}"), false),
        new("acme-console-8"),
    ];
    let g = [gone(
        41,
        "acme-engine-7",
        Some(a("acme-workgroup-7", true, 1, "{}")),
    )];
    let first = bundle_computer(&c, &found, &g);
    assert_eq!(first.len(), found.len());
    for _ in 0..3 {
        assert_eq!(bundle_computer(&c, &found, &g), first);
    }
    assert_eq!(
        first,
        vec![
            Some(a("acme-workgroup-8", true, 3, r#"{"sourceProdInvId":41}"#)),
            // The console's single option and the manual assignment are both on the computer:
            // two best fits, then the name.
            Some(a("acme-server-8", true, 6, r#"{"nameMatching":true}"#)),
            None,
            Some(a("acme-server-8", true, 1, "{}")),
            Some(a("acme-workgroup-8", true, 2, "{}")),
        ]
    );
}

/// A catalog whose component `engine` ("ACME Server") has one option per name in `names`
/// (ids `p0`, `p1`, …) and whose component `helper` has the single option `p<helper>`,
/// with the products in the order `order`.
fn shuffled_catalog(names: &[&str], helper: usize, order: &[usize]) -> Catalog {
    let products: Vec<String> = order
        .iter()
        .map(|&i| {
            let helper_ref = if i == helper {
                r#", {"id": "helper"}"#
            } else {
                ""
            };
            format!(
                r#"{{"id": "p{i}", "publisher": "ACME", "name": "{}", "components": [{{"id": "engine"}}{helper_ref}]}}"#,
                names[i]
            )
        })
        .collect();
    catalog(&format!(
        r#"{{"catalog_version": "1",
         "components": [{{"id": "engine", "name": "ACME Server", "signatures": []}},
                        {{"id": "helper", "name": "Helper", "signatures": []}}],
         "products": [{}]}}"#,
        products.join(",\n")
    ))
}

const NAMES: [&str; 7] = [
    "ACME Server X",
    "ACME Server Y",
    "ACME Server",
    "acme server",
    "ACME Serve",
    "ACME Server Trial",
    "Other Product",
];

proptest! {
    #[test]
    fn shuffling_the_products_does_not_change_the_result(
        (names, order) in prop::collection::vec(prop::sample::select(NAMES.to_vec()), 2..7)
            .prop_flat_map(|names| {
                let n = names.len();
                (Just(names), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
            }),
        helper in prop::option::of(0usize..7),
        helper_first in any::<bool>(),
    ) {
        let n = names.len();
        let helper = helper.filter(|&h| h < n);
        let identity: Vec<usize> = (0..n).collect();
        let mut found = vec![new("engine")];
        if helper.is_some() {
            found.insert(if helper_first { 0 } else { 1 }, new("helper"));
        }
        let h = helper.unwrap_or(usize::MAX);
        let plain = bundle_computer(&shuffled_catalog(&names, h, &identity), &found, &[]);
        let shuffled = bundle_computer(&shuffled_catalog(&names, h, &order), &found, &[]);
        prop_assert_eq!(&plain, &shuffled);
        let engine = plain[found.iter().position(|f| f.component_id == "engine").unwrap()]
            .clone()
            .unwrap();
        prop_assert!(engine.rule != BundlingRule::EnvironmentWideBestFit);
        if let Some(h) = helper {
            // The helper's product is on the computer and is one of the engine's options.
            prop_assert_eq!(engine.product_id, format!("p{h}"));
            prop_assert_eq!(engine.rule, BundlingRule::ComputerBestFit);
        }
    }
}

// The bundled catalog.

#[test]
fn bundled_components_with_one_option_bundle_by_single_option() {
    let c = bundled().unwrap();
    let mut singles = 0;
    for comp in &c.components {
        let options: Vec<_> = c.bundling_options(&comp.id).collect();
        if options.len() != 1 {
            continue;
        }
        singles += 1;
        let (product, charged) = options[0];
        assert_eq!(
            one(&c, new(&comp.id), &[]),
            Some(a(&product.id, charged, 2, "{}")),
            "{}",
            comp.id
        );
    }
    // Every component of the bundled catalog (2026-12-04.1) has exactly one option.
    assert_eq!(singles, c.components.len());
    assert_eq!(singles, 49);
    // The whole catalog found on one computer at once gives the same answers.
    let all: Vec<Found> = c.components.iter().map(|comp| new(&comp.id)).collect();
    let out = bundle_computer(&c, &all, &[]);
    assert!(out
        .iter()
        .all(|o| o.as_ref().map(|a| a.rule) == Some(BundlingRule::SingleBundlingOption)));
}
