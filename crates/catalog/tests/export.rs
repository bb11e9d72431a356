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
    assert_eq!(loaded(&to_json(&c)).signature_count(), 38);
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
    assert_eq!(again.catalog_version, "2026-12-01.1+2026-12-01.1");
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
