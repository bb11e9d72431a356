//! A validated [`Catalog`] written back as a catalog document (the open format), so that
//! the effective catalog (both layers merged) can be exported and loaded again.
//!
//! The document is normalised, not the text the catalog was loaded from: every component is
//! defined once in the top-level `components` list, products list their components by
//! reference (`{"id": …}`, with `"charged": false` when the option is not charged), version
//! ranges are written in their canonical form (`>=7.1, <7.2`), publishers are kept. The
//! property that matters is the round trip: `load(export(c)) == c` for every catalog `c`
//! that [`crate::load`] made (tests: `tests/export.rs`).
//!
//! One limit: a product holds its publisher's *name* (resolved when it was loaded). The
//! export names the publisher by id when a publisher of that name is listed, else by the
//! name itself. In a merged catalog where the operator's layer lists a publisher whose *id*
//! equals a bundled product's publisher *name* but whose name differs, reloading resolves
//! that product to the operator's publisher name.

use crate::catalog::{
    Catalog, Component, PackageSignature, Pattern, Product, Signature, SignatureRule, SourceFilter,
    SwidKey, SwidSignature,
};
use crate::format::{
    CatalogDocument, ComponentDoc, Lenient, PackageDoc, PatternDoc, ProductDoc, PublisherDoc,
    SignatureDoc, SwidDoc,
};

/// The catalog as a document in the open format (see the module documentation).
pub fn to_document(catalog: &Catalog) -> CatalogDocument {
    CatalogDocument {
        catalog_version: Some(catalog.catalog_version.clone()),
        publishers: catalog
            .publishers
            .iter()
            .map(|p| {
                Lenient::Ok(PublisherDoc {
                    id: p.id.clone(),
                    name: p.name.clone(),
                })
            })
            .collect(),
        components: catalog
            .components
            .iter()
            .map(|c| Lenient::Ok(component(c)))
            .collect(),
        products: catalog
            .products
            .iter()
            .map(|p| Lenient::Ok(product(catalog, p)))
            .collect(),
    }
}

/// The catalog as pretty-printed JSON text in the open format.
pub fn to_json(catalog: &Catalog) -> String {
    // The document holds only strings, booleans and lists of valid elements: serialising it
    // cannot fail (`Lenient::Err` never occurs in a document made by `to_document`).
    serde_json::to_string_pretty(&to_document(catalog))
        .unwrap_or_else(|e| unreachable!("a catalog document always serialises: {e}"))
}

fn component(c: &Component) -> ComponentDoc {
    ComponentDoc {
        id: c.id.clone(),
        name: Some(c.name.clone()),
        release: c.release.clone(),
        charged: None,
        signatures: Some(
            c.signatures
                .iter()
                .map(|s| Lenient::Ok(signature(s)))
                .collect(),
        ),
    }
}

fn product(catalog: &Catalog, p: &Product) -> ProductDoc {
    // Name the publisher by id when one of that name is listed (loading resolves the id back
    // to this name); otherwise by the name, which loading keeps as it is.
    let publisher = catalog
        .publishers
        .iter()
        .find(|x| x.name == p.publisher)
        .map_or_else(|| p.publisher.clone(), |x| x.id.clone());
    ProductDoc {
        id: p.id.clone(),
        publisher,
        name: p.name.clone(),
        release: p.release.clone(),
        metric: p.metric.map(|m| m.as_str().to_string()),
        evidence: p.evidence.clone(),
        components: p
            .components
            .iter()
            .map(|b| {
                Lenient::Ok(ComponentDoc {
                    id: b.component_id.clone(),
                    name: None,
                    release: None,
                    charged: (!b.charged).then_some(false),
                    signatures: None,
                })
            })
            .collect(),
    }
}

fn signature(s: &Signature) -> SignatureDoc {
    let (swid, package) = match &s.rule {
        SignatureRule::Swid(w) => (Some(swid(w)), None),
        SignatureRule::Package(p) => (None, Some(package(p))),
    };
    SignatureDoc {
        swid,
        package,
        evidence: s.evidence.clone(),
    }
}

fn swid(w: &SwidSignature) -> SwidDoc {
    let mut doc = SwidDoc {
        regid: w.regid.clone(),
        persistent_id: None,
        tag_id: None,
        tag_id_prefix: None,
        name: None,
        version: w.version.as_ref().map(ToString::to_string),
    };
    match &w.key {
        SwidKey::PersistentId(v) => doc.persistent_id = Some(v.clone()),
        SwidKey::TagId(v) => doc.tag_id = Some(v.clone()),
        SwidKey::TagIdPrefix(v) => doc.tag_id_prefix = Some(v.clone()),
        SwidKey::Name(v) => doc.name = Some(v.clone()),
    }
    doc
}

fn package(p: &PackageSignature) -> PackageDoc {
    PackageDoc {
        source: match p.source {
            SourceFilter::Dpkg => "dpkg",
            SourceFilter::Rpm => "rpm",
            SourceFilter::Any => "any",
        }
        .to_string(),
        name: pattern(&p.name),
        vendor: p.vendor.as_ref().map(pattern),
        version: p.version.as_ref().map(ToString::to_string),
    }
}

fn pattern(p: &Pattern) -> PatternDoc {
    match p {
        Pattern::Exact(s) => PatternDoc::Exact(s.clone()),
        Pattern::Regex(r) => PatternDoc::Regex(r.clone()),
    }
}
