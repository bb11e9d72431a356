//! Loading and validating catalogs: the issue's minimal form, every error with its path,
//! layering.

use openlmt_catalog::{
    load, load_layer, merge_layers, Metric, Pattern, SignatureRule, SourceFilter, SwidKey,
};

/// The minimal form from issue 8, verbatim.
const MINIMAL: &str = r#"{"catalog_version": "2026-12-01.1",
 "products": [{"id": "acme-server-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1",
   "metric": "PVU",
   "components": [{"id": "acme-engine-7", "name": "ACME Server Engine", "release": "7.1", "charged": true,
     "signatures": [{"swid": {"regid": "acme.example", "persistent_id": "4f1e0c"}},
                    {"package": {"source": "rpm", "name": "acme-engine", "version": ">=7.1, <7.2"}}]}]}]}"#;

fn errors(json: &str) -> Vec<String> {
    match load(json) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn minimal_form_is_accepted_exactly() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.catalog_version, "2026-12-01.1");
    assert_eq!(c.products.len(), 1);
    let p = &c.products[0];
    assert_eq!(
        (p.id.as_str(), p.publisher.as_str(), p.name.as_str()),
        ("acme-server-7", "ACME", "ACME Server")
    );
    assert_eq!(p.release.as_deref(), Some("7.1"));
    assert_eq!(p.metric, Some(Metric::Pvu));
    assert_eq!(p.components.len(), 1);
    assert_eq!(p.components[0].component_id, "acme-engine-7");
    assert!(p.components[0].charged);
    let comp = c.component("acme-engine-7").unwrap();
    assert_eq!(comp.name, "ACME Server Engine");
    assert_eq!(comp.signatures.len(), 2);
    match &comp.signatures[0].rule {
        SignatureRule::Swid(s) => {
            assert_eq!(s.regid, "acme.example");
            assert_eq!(s.key, SwidKey::PersistentId("4f1e0c".into()));
            assert!(s.version.is_none());
        }
        other => panic!("{other:?}"),
    }
    match &comp.signatures[1].rule {
        SignatureRule::Package(s) => {
            assert_eq!(s.source, SourceFilter::Rpm);
            assert_eq!(s.name, Pattern::Exact("acme-engine".into()));
            assert_eq!(s.version.as_ref().unwrap().to_string(), ">=7.1, <7.2");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn one_component_under_two_products_is_two_bundling_options() {
    let json = r#"{"catalog_version": "1",
      "products": [
        {"id": "suite", "publisher": "ACME", "name": "ACME Suite", "metric": "VPC",
         "components": [{"id": "engine", "name": "Engine", "charged": false,
                         "signatures": [{"package": {"source": "dpkg", "name": "acme-engine"}}]}]},
        {"id": "server", "publisher": "ACME", "name": "ACME Server", "metric": "PVU",
         "components": [{"id": "engine"}]}]}"#;
    let c = load(json).unwrap();
    assert_eq!(c.components.len(), 1);
    let opts: Vec<(&str, bool)> = c
        .bundling_options("engine")
        .map(|(p, charged)| (p.id.as_str(), charged))
        .collect();
    assert_eq!(opts, vec![("suite", false), ("server", true)]);
}

#[test]
fn every_error_is_reported_with_its_path() {
    // Derived from the minimal form: one mistake per field.
    let json = r#"{"catalog_version": " ",
     "products": [
      {"id": "acme-server-7", "publisher": "ACME", "name": "", "metric": "PVUs",
       "components": [
         {"id": "acme-engine-7", "name": "ACME Server Engine",
          "signatures": [{"swid": {"regid": "acme.example"}},
                         {"package": {"source": "rpm", "name": "acme-engine", "version": "=>7.1"}},
                         {"swid": {"regid": "acme.example", "persistent_id": "a", "tag_id": "b"}},
                         {"package": {"source": "deb", "name": {"regex": "acme-(engine"}}},
                         {},
                         {"swid": {"regid": "x", "name": "y"}, "package": {"source": "rpm", "name": "z"}},
                         {"package": {"source": "rpm", "name": "acme", "colour": "red"}}]},
         {"id": "ghost"}]},
      {"id": "acme-server-7", "publisher": "ACME", "name": "Again",
       "components": [{"id": "acme-engine-7", "name": "Different name", "signatures": []}]}]}"#;
    let e = errors(json);
    let expected = [
        "catalog_version: must not be empty",
        "products[0].name: must not be empty",
        "products[0].metric: unknown metric \"PVUs\"",
        "products[0].components[0].signatures[0].swid: needs one of persistent_id, tag_id, tag_id_prefix or name",
        "products[0].components[0].signatures[1].package.version: bad operator \"=>\"",
        "products[0].components[0].signatures[2].swid: has persistent_id and tag_id",
        "products[0].components[0].signatures[3].package.source: unknown source \"deb\"",
        "products[0].components[0].signatures[3].package.name.regex: invalid regular expression",
        "products[0].components[0].signatures[4]: a signature needs one of `swid` or `package`",
        "products[0].components[0].signatures[5]: a signature has exactly one of `swid` or `package`",
        "products[0].components[0].signatures[6].package.colour: unknown field `colour`",
        "products[0].components[1].id: unknown component \"ghost\"",
        "products[1].components[0]: component \"acme-engine-7\" is already defined differently at products[0].components[0]",
        "products[1].id: duplicate product id \"acme-server-7\"",
    ];
    for want in expected {
        assert!(
            e.iter().any(|got| got.starts_with(want)),
            "missing {want:?} in\n{}",
            e.join("\n")
        );
    }
    assert_eq!(e.len(), expected.len(), "{}", e.join("\n"));
}

#[test]
fn document_level_errors() {
    let e = errors(r#"{"products": []}"#);
    assert_eq!(e, vec!["catalog_version: missing"]);
    let e = errors(r#"{"catalog_version": "1", "products": [], "extra": 1}"#);
    assert!(e[0].contains("unknown field `extra`"), "{e:?}");
    let e = errors(r#"{"catalog_version": 7, "products": []}"#);
    assert!(e[0].starts_with("catalog_version: invalid type"), "{e:?}");
    // Truncated JSON, derived from the minimal form.
    let e = errors(&MINIMAL[..MINIMAL.len() / 2]);
    assert!(e[0].contains("EOF"), "{e:?}");
    let e = errors(&format!("{MINIMAL} trailing"));
    assert!(e[0].contains("trailing"), "{e:?}");
    // A product missing a required field, and a product whose type is wrong, next to a bad
    // signature elsewhere: all three are reported.
    let e = errors(
        r#"{"catalog_version": "1", "products": [
          {"id": "a", "name": "A", "components": []},
          "not a product",
          {"id": "b", "publisher": "B", "name": "B", "components": [
             {"id": "c", "name": "C", "signatures": [{"package": {"source": "any", "name": 3}}]}]}]}"#,
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("products[0]: missing field `publisher`")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with("products[1]: invalid type")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with(
            "products[2].components[0].signatures[0].package.name: expected a string"
        )),
        "{e:?}"
    );
}

#[test]
fn regex_size_is_bounded() {
    // A regex that compiles to far more than the size limit.
    let json = r#"{"catalog_version": "1", "products": [{"id": "p", "publisher": "P", "name": "P",
      "components": [{"id": "c", "name": "C", "signatures": [
        {"package": {"source": "rpm", "name": {"regex": "(\\w{100}){100}"}}}]}]}]}"#;
    let e = errors(json);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("products[0].components[0].signatures[0].package.name.regex: invalid regular expression")
            && e[0].contains("size limit"),
        "{e:?}"
    );
}

#[test]
fn dpkg_bounds_must_be_debian_versions() {
    let json = r#"{"catalog_version": "1", "products": [{"id": "p", "publisher": "P", "name": "P",
      "components": [{"id": "c", "name": "C", "signatures": [
        {"package": {"source": "dpkg", "name": "x", "version": ">=1.0/beta"}}]}]}]}"#;
    let e = errors(json);
    assert!(
        e[0].starts_with("products[0].components[0].signatures[0].package.version: \"1.0/beta\" is not a Debian version"),
        "{e:?}"
    );
}

const OPERATOR: &str = r#"{"catalog_version": "ops-3",
  "components": [
    {"id": "acme-engine-7", "name": "ACME Server Engine (in-house build)",
     "signatures": [{"package": {"source": "rpm", "name": "acme-engine-custom"}}]}],
  "products": [
    {"id": "inhouse-tool", "publisher": "Our IT", "name": "In-house Tool",
     "components": [{"id": "tool", "name": "Tool", "signatures": [{"package": {"source": "dpkg", "name": "our-tool"}}]},
                    {"id": "acme-engine-7", "charged": false}]}]}"#;

#[test]
fn operator_layer_overrides_by_id() {
    let bundled = load(MINIMAL).unwrap();
    // Standalone, the operator layer's reference must resolve in the same file…
    assert!(load(OPERATOR).is_ok());
    let ops = load_layer(OPERATOR, &bundled).unwrap();
    let eff = merge_layers(&bundled, &ops);
    assert_eq!(eff.catalog_version, "2026-12-01.1+ops-3");
    // The bundled product is kept, in place, and still lists the component…
    assert_eq!(eff.products[0].id, "acme-server-7");
    assert_eq!(eff.products[1].id, "inhouse-tool");
    // …whose definition is now the operator's.
    let c = eff.component("acme-engine-7").unwrap();
    assert_eq!(c.name, "ACME Server Engine (in-house build)");
    assert_eq!(c.signatures.len(), 1);
    assert_eq!(eff.components.len(), 2);
    let opts: Vec<(&str, bool)> = eff
        .bundling_options("acme-engine-7")
        .map(|(p, ch)| (p.id.as_str(), ch))
        .collect();
    assert_eq!(opts, vec![("acme-server-7", true), ("inhouse-tool", false)]);

    // A product with the same id replaces the bundled product whole.
    let replace = r#"{"catalog_version": "ops-4", "products": [
       {"id": "acme-server-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1", "metric": "VPC",
        "components": [{"id": "acme-engine-7"}]}]}"#;
    // Standalone it is refused (the component is defined only in the bundled layer)…
    let e = load(replace).unwrap_err();
    assert_eq!(e[0].path, "products[0].components[0].id");
    // …on top of the bundled layer it resolves.
    let eff = merge_layers(&bundled, &load_layer(replace, &bundled).unwrap());
    assert_eq!(eff.products.len(), 1);
    assert_eq!(eff.products[0].metric, Some(Metric::Vpc));
    assert_eq!(eff.component("acme-engine-7").unwrap().signatures.len(), 2);

    // Merging with an empty operator layer changes nothing but the version.
    let empty = load(r#"{"catalog_version": "none", "products": []}"#).unwrap();
    let eff = merge_layers(&bundled, &empty);
    assert_eq!(eff.products, bundled.products);
    assert_eq!(eff.components, bundled.components);
}

#[test]
fn publishers_resolve_by_id() {
    let json = r#"{"catalog_version": "1",
      "publishers": [{"id": "ibm", "name": "IBM"}, {"id": "ibm", "name": ""}],
      "products": [{"id": "p", "publisher": "ibm", "name": "P",
        "components": [{"id": "c", "name": "C", "signatures": []}]}]}"#;
    let e = errors(json);
    assert_eq!(
        e,
        vec![
            "publishers[1].id: duplicate publisher id \"ibm\"",
            "publishers[1].name: must not be empty",
        ]
    );
    let c = load(&json.replace(r#", {"id": "ibm", "name": ""}"#, "")).unwrap();
    assert_eq!(c.products[0].publisher, "IBM");
}

#[test]
fn an_operator_layer_names_bundled_publishers_by_id() {
    let bundled = openlmt_catalog::bundled().unwrap();
    let layer = r#"{"catalog_version": "ops-1", "products": [
      {"id": "ibm-in-house", "publisher": "ibm", "name": "IBM product we track",
       "components": [{"id": "c", "name": "C", "signatures": []}]}]}"#;
    // Over the bundled layer, `ibm` is the bundled publisher's id…
    let c = load_layer(layer, &bundled).unwrap();
    assert_eq!(c.products[0].publisher, "IBM");
    // …on its own, only a name.
    assert_eq!(load(layer).unwrap().products[0].publisher, "ibm");
}

mod never_panics {
    use super::MINIMAL;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The minimal form truncated, or with one byte replaced: an answer, never a panic.
        #[test]
        fn mutated_minimal_form(cut in 0..MINIMAL.len(), pos in 0..MINIMAL.len(), byte in any::<u8>()) {
            let _ = openlmt_catalog::load(&MINIMAL[..(0..=cut).rev().find(|&i| MINIMAL.is_char_boundary(i)).unwrap_or(0)]);
            let mut b = MINIMAL.as_bytes().to_vec();
            b[pos] = byte;
            let _ = openlmt_catalog::load(&String::from_utf8_lossy(&b));
        }
    }
}
