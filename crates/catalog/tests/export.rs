//! Exporting a catalog as a document: `load(export(load(x))) == load(x)`, on the bundled
//! catalog, the issue's minimal form, a merged catalog, and a catalog that uses every field.

use openlmt_catalog::{bundled, load, load_layer, merge_layers, to_json, Catalog, BUNDLED_JSON};

/// The minimal form from issue 8, verbatim.
const MINIMAL: &str = r#"{"catalog_version": "2026-12-01.1",
 "products": [{"id": "acme-server-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1",
   "metric": "PVU",
   "components": [{"id": "acme-engine-7", "name": "ACME Server Engine", "release": "7.1", "charged": true,
     "signatures": [{"swid": {"regid": "acme.example", "persistent_id": "4f1e0c"}},
                    {"package": {"source": "rpm", "name": "acme-engine", "version": ">=7.1, <7.2"}}]}]}]}"#;

/// Every field of the format: publishers named by id, a top-level component listed by
/// reference under two products (one option not charged), a component defined under a
/// product, every SWID key, regular expressions for name and vendor, `*` and spaced ranges.
const EVERY_FIELD: &str = r#"{
  "catalog_version": " 2027-01-15.2 ",
  "publishers": [{"id": "acme", "name": "ACME Corp."}, {"id": "beta", "name": "Beta Ltd"}],
  "components": [
    {"id": "acme-engine-8", "name": "ACME Engine", "release": "8.0", "signatures": [
      {"swid": {"regid": "acme.example", "tag_id_prefix": "acme.example-engine-", "version": ">= 8.0 ,< 9"},
       "evidence": "https://acme.example/tags"},
      {"swid": {"regid": "acme.example", "tag_id": "acme.example-engine-8.0.0"}},
      {"swid": {"regid": "acme.example", "name": "ACME Engine"}},
      {"package": {"source": "any", "name": {"regex": "acme-engine(-[a-z]+)?"},
                   "vendor": {"regex": "ACME.*"}, "version": "*"}}]},
    {"id": "acme-unused", "name": "Never listed", "signatures": []}
  ],
  "products": [
    {"id": "acme-server-8", "publisher": "acme", "name": "ACME Server", "release": "8.0",
     "metric": "VPC", "evidence": "https://acme.example/licensing",
     "components": [{"id": "acme-engine-8"},
                    {"id": "acme-console-8", "name": "ACME Console", "charged": false,
                     "signatures": [{"package": {"source": "dpkg", "name": "acme-console",
                                                 "vendor": "ACME Corp. <pkg@acme.example>",
                                                 "version": ">=1:8.0~rc1, !=1:8.0-3"}}]}]},
    {"id": "acme-workgroup-8", "publisher": "ACME Corp.", "name": "ACME Workgroup",
     "metric": null, "components": [{"id": "acme-engine-8", "charged": false}]},
    {"id": "beta-tool", "publisher": "Beta Ltd", "name": "Beta Tool", "metric": "RVU_MAPC",
     "components": [{"id": "beta-tool", "name": "Beta Tool", "signatures": [
       {"package": {"source": "rpm", "name": "beta-tool", "version": ">2.0-1.el9"}}]}]},
    {"id": "gamma", "publisher": "Gamma Inc", "name": "Gamma",
     "components": [{"id": "acme-console-8", "charged": true}]}
  ]
}"#;

fn loaded(json: &str) -> Catalog {
    load(json).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The round trip: exporting and loading again gives the same catalog, and exporting that
/// gives the same text.
fn assert_round_trip(c: &Catalog) {
    let text = to_json(c);
    let again = load(&text).unwrap_or_else(|e| panic!("the export does not load: {e:?}\n{text}"));
    assert_eq!(
        &again, c,
        "the export loads as a different catalog:\n{text}"
    );
    assert_eq!(to_json(&again), text, "exporting is not stable");
}

#[test]
fn the_bundled_catalog_round_trips() {
    let c = bundled().unwrap();
    assert_round_trip(&c);
    assert_eq!(loaded(&to_json(&c)).signature_count(), 61);
}

#[test]
fn the_minimal_form_round_trips() {
    assert_round_trip(&loaded(MINIMAL));
}

#[test]
fn every_field_round_trips() {
    let c = loaded(EVERY_FIELD);
    assert_round_trip(&c);
    // The normalised document: components defined once at the top, products by reference,
    // charged written only when false, publishers named by id, ranges canonical.
    let doc: serde_json::Value = serde_json::from_str(&to_json(&c)).unwrap();
    assert_eq!(doc["catalog_version"], "2027-01-15.2");
    assert_eq!(doc["components"].as_array().unwrap().len(), 4);
    assert_eq!(
        doc["products"][0]["components"],
        serde_json::json!([{"id": "acme-engine-8"}, {"id": "acme-console-8", "charged": false}])
    );
    assert_eq!(doc["products"][1]["publisher"], "acme");
    assert_eq!(doc["products"][2]["publisher"], "beta");
    assert_eq!(doc["products"][3]["publisher"], "Gamma Inc");
    assert!(doc["products"][1].get("metric").is_none());
    assert_eq!(
        doc["components"][0]["signatures"][0]["swid"]["version"],
        ">=8.0, <9"
    );
    assert_eq!(
        doc["components"][0]["signatures"][3]["package"]["version"],
        "*"
    );
    assert_eq!(
        doc["components"][0]["signatures"][3]["package"]["name"],
        serde_json::json!({"regex": "acme-engine(-[a-z]+)?"})
    );
}

#[test]
fn the_merged_catalog_round_trips() {
    let b = bundled().unwrap();
    let op = load_layer(MINIMAL, &b).unwrap();
    let merged = merge_layers(&b, &op);
    assert_round_trip(&merged);
    // The export is a whole catalog: it loads on its own, and holds bundled + ACME.
    let again = loaded(&to_json(&merged));
    assert_eq!(again.catalog_version, "2026-12-04.1+2026-12-01.1");
    assert_eq!(again.products.len(), b.products.len() + 1);
    assert!(again.product("acme-server-7").is_some());
    assert!(again.component("acme-engine-7").is_some());
    // Loading the export as an operator layer changes nothing either: every entry overrides
    // its bundled twin with itself.
    let relayered = merge_layers(&b, &load_layer(&to_json(&merged), &b).unwrap());
    assert_eq!(relayered.products, merged.products);
    assert_eq!(relayered.components, merged.components);
}

#[test]
fn an_operator_override_round_trips() {
    // The operator replaces a bundled product (its metric) and a bundled component (its
    // signatures), and lists a bundled component by reference under a new product.
    let b = bundled().unwrap();
    let source: serde_json::Value = serde_json::from_str(BUNDLED_JSON).unwrap();
    let product = &source["products"][0];
    let mut overridden = product.clone();
    overridden["metric"] = "VPC".into();
    let component_id = product["components"][0]["id"].as_str().unwrap().to_string();
    let layer = serde_json::json!({
        "catalog_version": "ops-1",
        "products": [overridden,
            {"id": "in-house", "publisher": "Us", "name": "In-house bundle",
             "components": [{"id": component_id, "charged": false}]}]
    })
    .to_string();
    let op = load_layer(&layer, &b).unwrap_or_else(|e| panic!("{e:?}"));
    let merged = merge_layers(&b, &op);
    assert_round_trip(&merged);
}

mod round_trip_property {
    use super::assert_round_trip;
    use openlmt_catalog::load;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn text() -> impl Strategy<Value = String> {
        // Non-empty, with the characters real names have (spaces, dots, unicode).
        "[A-Za-z0-9][A-Za-z0-9 ._/é-]{0,12}"
    }

    fn range() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop::sample::select(vec![
            "*",
            ">=7.1, <7.2",
            " >= 1:2.0~rc1 ,!=1:2.0-3",
            "=9.2.0.1",
            ">0",
        ]))
        .prop_map(|r| r.map(str::to_string))
    }

    fn pattern() -> impl Strategy<Value = Value> {
        prop_oneof![
            text().prop_map(Value::String),
            prop::sample::select(vec!["acme-[a-z]+", "postgresql-[0-9]+", "(?i)ibm.*"])
                .prop_map(|r| json!({ "regex": r })),
        ]
    }

    fn signature() -> impl Strategy<Value = Value> {
        let swid = (text(), 0..4usize, text(), range(), prop::option::of(text())).prop_map(
            |(regid, key, value, version, evidence)| {
                let key = ["persistent_id", "tag_id", "tag_id_prefix", "name"][key];
                let mut w = json!({ "regid": regid, key: value });
                if let Some(v) = version {
                    w["version"] = v.into();
                }
                let mut s = json!({ "swid": w });
                if let Some(e) = evidence {
                    s["evidence"] = e.into();
                }
                s
            },
        );
        let package = (
            prop::sample::select(vec!["dpkg", "rpm", "any"]),
            pattern(),
            prop::option::of(pattern()),
            range(),
        )
            .prop_map(|(source, name, vendor, version)| {
                let mut p = json!({ "source": source, "name": name });
                if let Some(v) = vendor {
                    p["vendor"] = v;
                }
                if let Some(v) = version {
                    p["version"] = v.into();
                }
                json!({ "package": p })
            });
        prop_oneof![swid, package]
    }

    /// A valid catalog: `n` components (some top-level, some defined under their first
    /// product), products listing them by index, publishers named by id or by name.
    fn catalog() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(
                (text(), prop::option::of(text()), prop::collection::vec(signature(), 0..4), any::<bool>()),
                1..6,
            ),
            prop::collection::vec(
                (
                    text(),
                    prop::option::of(text()),
                    prop::option::of(prop::sample::select(vec!["PVU", "RVU_MAPC", "VPC"])),
                    0..3usize,
                    prop::collection::btree_map(0..6usize, any::<bool>(), 1..4),
                ),
                1..5,
            ),
        )
            .prop_map(|(components, products)| {
                let n = components.len();
                let def = |i: usize| {
                    let (name, release, sigs, _) = &components[i];
                    let mut c = json!({ "id": format!("c{i}"), "name": name, "signatures": sigs });
                    if let Some(r) = release {
                        c["release"] = r.clone().into();
                    }
                    c
                };
                let mut defined = vec![false; n];
                let mut top = Vec::new();
                for (i, (_, _, _, at_top)) in components.iter().enumerate() {
                    if *at_top {
                        top.push(def(i));
                        defined[i] = true;
                    }
                }
                let mut prods = Vec::new();
                for (k, (name, release, metric, publisher, comps)) in products.iter().enumerate() {
                    let mut list = Vec::new();
                    for (&i, &charged) in comps {
                        let i = i % n;
                        if list.iter().any(|c: &Value| c["id"] == format!("c{i}")) {
                            continue;
                        }
                        let mut c = if defined[i] {
                            json!({ "id": format!("c{i}") })
                        } else {
                            defined[i] = true;
                            def(i)
                        };
                        c["charged"] = charged.into();
                        list.push(c);
                    }
                    let publisher = ["acme", "Beta Ltd", "ACME Corp."][*publisher];
                    let mut p = json!({ "id": format!("p{k}"), "publisher": publisher,
                                        "name": name, "components": list });
                    if let Some(r) = release {
                        p["release"] = r.clone().into();
                    }
                    if let Some(m) = metric {
                        p["metric"] = (*m).into();
                    }
                    prods.push(p);
                }
                // Components no product lists are top-level definitions.
                for (i, d) in defined.iter().enumerate() {
                    if !d {
                        top.push(def(i));
                    }
                }
                json!({
                    "catalog_version": "prop-1",
                    "publishers": [{"id": "acme", "name": "ACME Corp."}, {"id": "beta", "name": "Beta Ltd"}],
                    "components": top,
                    "products": prods,
                })
                .to_string()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn every_valid_catalog_round_trips(json in catalog()) {
            let c = load(&json).map_err(|e| TestCaseError::fail(format!("{e:?}\n{json}")))?;
            assert_round_trip(&c);
        }
    }
}
