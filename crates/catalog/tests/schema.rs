//! `catalog.schema.json` and the serde types do not drift apart.
//!
//! A JSON-Schema validator crate (`jsonschema` 0.61, default features off) was tried as a
//! dev-dependency: it changed the feature set of shared dependencies and took 12 minutes of
//! wall time to build on the 2-core machine, so instead these tests check that the schema's
//! property names, required fields and enums match the serde types field for field, and
//! that the bundled catalog and the minimal form use only properties the schema declares.

use std::collections::BTreeSet;

use openlmt_catalog::format::{
    CatalogDocument, ComponentDoc, Lenient, PackageDoc, PatternDoc, ProductDoc, PublisherDoc,
    SignatureDoc, SwidDoc,
};
use openlmt_catalog::BUNDLED_JSON;
use serde_json::Value;

const SCHEMA: &str = include_str!("../catalog.schema.json");

fn schema() -> Value {
    serde_json::from_str(SCHEMA).unwrap()
}

fn props(def: &Value) -> BTreeSet<String> {
    def["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// A document with every optional field present, serialized by the serde types.
fn full_document() -> Value {
    let sig_swid = SignatureDoc {
        swid: Some(SwidDoc {
            regid: "r".into(),
            persistent_id: Some("p".into()),
            tag_id: Some("t".into()),
            tag_id_prefix: Some("t-".into()),
            name: Some("n".into()),
            version: Some(">=1".into()),
        }),
        package: None,
        evidence: Some("e".into()),
    };
    let sig_pkg = SignatureDoc {
        swid: None,
        package: Some(PackageDoc {
            source: "rpm".into(),
            name: PatternDoc::Regex("a.*".into()),
            vendor: Some(PatternDoc::Exact("V".into())),
            version: Some("<2".into()),
        }),
        evidence: None,
    };
    let comp = ComponentDoc {
        id: "c".into(),
        name: Some("C".into()),
        release: Some("1".into()),
        charged: Some(true),
        signatures: Some(vec![Lenient::Ok(sig_swid), Lenient::Ok(sig_pkg)]),
    };
    let doc = CatalogDocument {
        catalog_version: Some("1".into()),
        publishers: vec![Lenient::Ok(PublisherDoc {
            id: "p".into(),
            name: "P".into(),
        })],
        components: vec![Lenient::Ok(ComponentDoc {
            charged: None,
            ..comp.clone()
        })],
        products: vec![Lenient::Ok(ProductDoc {
            id: "p".into(),
            publisher: "p".into(),
            name: "P".into(),
            release: Some("1".into()),
            metric: Some("PVU".into()),
            evidence: Some("e".into()),
            components: vec![Lenient::Ok(comp)],
        })],
    };
    serde_json::to_value(&doc).unwrap()
}

#[test]
fn schema_properties_match_the_serde_types() {
    let s = schema();
    assert!(
        s["$id"].as_str().unwrap().ends_with(":1"),
        "the $id carries the format version"
    );
    let d = &s["$defs"];
    let doc = full_document();
    assert_eq!(keys(&doc), props(&s));
    assert_eq!(keys(&doc["publishers"][0]), props(&d["publisher"]));
    assert_eq!(
        keys(&doc["components"][0]),
        props(&d["componentDefinition"])
    );
    let product = &doc["products"][0];
    assert_eq!(keys(product), props(&d["product"]));
    let comp = &product["components"][0];
    assert_eq!(keys(comp), props(&d["component"]));
    let sig_keys: BTreeSet<String> = keys(&comp["signatures"][0])
        .union(&keys(&comp["signatures"][1]))
        .cloned()
        .collect();
    assert_eq!(sig_keys, props(&d["signature"]));
    assert_eq!(keys(&comp["signatures"][0]["swid"]), props(&d["swid"]));
    assert_eq!(
        keys(&comp["signatures"][1]["package"]),
        props(&d["package"])
    );
    assert_eq!(
        comp["signatures"][1]["package"]["name"],
        serde_json::json!({"regex": "a.*"}),
        "a regex pattern is written as the schema's {{\"regex\": ...}} object"
    );
}

#[test]
fn schema_required_fields_are_exactly_what_serde_requires() {
    let s = schema();
    let d = &s["$defs"];
    // Dropping any one schema-required field makes serde (or the loader, for
    // catalog_version) refuse the element; the required fields alone are accepted.
    type Accepts = fn(Value) -> bool;
    let cases: [(&str, Value, Accepts); 5] = [
        (
            "publisher",
            serde_json::json!({"id": "p", "name": "P"}),
            |v| serde_json::from_value::<PublisherDoc>(v).is_ok(),
        ),
        (
            "product",
            serde_json::json!({"id": "p", "publisher": "P", "name": "P",
                "components": [{"id": "c", "name": "C", "signatures": []}]}),
            // serde defaults a missing `components` to []; the loader refuses both.
            |v| {
                let doc = serde_json::json!({"catalog_version": "1", "products": [v]});
                openlmt_catalog::load(&doc.to_string()).is_ok()
            },
        ),
        ("swid", serde_json::json!({"regid": "r"}), |v| {
            serde_json::from_value::<SwidDoc>(v).is_ok()
        }),
        (
            "package",
            serde_json::json!({"source": "rpm", "name": "n"}),
            |v| serde_json::from_value::<PackageDoc>(v).is_ok(),
        ),
        ("component", serde_json::json!({"id": "c"}), |v| {
            serde_json::from_value::<ComponentDoc>(v).is_ok()
        }),
    ];
    for (def, minimal, accepts) in cases {
        let required: BTreeSet<String> = d[def]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        assert_eq!(keys(&minimal), required, "{def}");
        assert!(accepts(minimal.clone()), "{def}: required fields alone");
        for field in &required {
            let mut m = minimal.clone();
            m.as_object_mut().unwrap().remove(field);
            assert!(!accepts(m), "{def} without {field} was accepted");
        }
    }
    // The document: only catalog_version is required (an operator layer may hold only
    // component overrides).
    assert_eq!(s["required"], serde_json::json!(["catalog_version"]));
    assert!(openlmt_catalog::load(r#"{"catalog_version": "1"}"#).is_ok());
    assert!(openlmt_catalog::load(r#"{}"#).is_err());
    // Enums.
    assert_eq!(
        d["product"]["properties"]["metric"]["enum"],
        serde_json::json!(["PVU", "RVU_MAPC", "VPC", null])
    );
    assert_eq!(
        d["package"]["properties"]["source"]["enum"],
        serde_json::json!(["dpkg", "rpm", "any"])
    );
}

/// Every object of a document uses only the properties its schema definition declares.
fn check_shape(doc: &Value, s: &Value) {
    let d = &s["$defs"];
    let sub = |v: &Value, def: &Value, what: &str| {
        let extra: Vec<String> = keys(v).difference(&props(def)).cloned().collect();
        assert!(
            extra.is_empty(),
            "{what} has undeclared properties {extra:?}"
        );
    };
    sub(doc, s, "document");
    let sigs = |c: &Value| {
        for sig in c["signatures"].as_array().into_iter().flatten() {
            sub(sig, &d["signature"], "signature");
            if let Some(w) = sig.get("swid") {
                sub(w, &d["swid"], "swid");
            }
            if let Some(p) = sig.get("package") {
                sub(p, &d["package"], "package");
                let src = p["source"].as_str().unwrap();
                assert!(["dpkg", "rpm", "any"].contains(&src));
            }
        }
    };
    for p in doc["products"].as_array().unwrap() {
        sub(p, &d["product"], "product");
        for c in p["components"].as_array().unwrap() {
            sub(c, &d["component"], "component");
            sigs(c);
        }
    }
    for c in doc
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        sub(c, &d["componentDefinition"], "component definition");
        sigs(c);
    }
}

#[test]
fn bundled_and_minimal_catalogs_fit_the_schema() {
    let s = schema();
    check_shape(&serde_json::from_str(BUNDLED_JSON).unwrap(), &s);
    let minimal = r#"{"catalog_version": "2026-12-01.1",
 "products": [{"id": "acme-server-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1",
   "metric": "PVU",
   "components": [{"id": "acme-engine-7", "name": "ACME Server Engine", "release": "7.1", "charged": true,
     "signatures": [{"swid": {"regid": "acme.example", "persistent_id": "4f1e0c"}},
                    {"package": {"source": "rpm", "name": "acme-engine", "version": ">=7.1, <7.2"}}]}]}]}"#;
    check_shape(&serde_json::from_str(minimal).unwrap(), &s);
    // The range pattern in the schema accepts the ranges the loader accepts, on the
    // bundled catalog's own ranges.
    let re = regex::Regex::new(s["$defs"]["versionRange"]["pattern"].as_str().unwrap()).unwrap();
    let doc: Value = serde_json::from_str(BUNDLED_JSON).unwrap();
    let mut n = 0;
    for p in doc["products"].as_array().unwrap() {
        for c in p["components"].as_array().unwrap() {
            for sig in c["signatures"].as_array().unwrap() {
                for kind in ["swid", "package"] {
                    if let Some(r) = sig.get(kind).and_then(|k| k.get("version")) {
                        let r = r.as_str().unwrap();
                        assert!(re.is_match(r), "{r}");
                        assert!(r.parse::<openlmt_catalog::VersionRange>().is_ok());
                        n += 1;
                    }
                }
            }
        }
    }
    assert!(n >= 10, "only {n} version ranges checked");
    for bad in ["=>7.1", "7.1", ">=7.1,", ""] {
        assert!(!re.is_match(bad), "{bad}");
        assert!(
            bad.parse::<openlmt_catalog::VersionRange>().is_err(),
            "{bad}"
        );
    }
}
