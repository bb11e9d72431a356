//! The openlmt **software catalog**: what installed software is, and how it is recognised.
//!
//! * [`format`]: the open catalog format as serde types (`catalog.schema.json` describes
//!   the same document; `docs/catalog.md` explains every field).
//! * [`load`] / [`load_layer`]: parse and validate a document into a [`Catalog`], reporting
//!   every error with the JSON path of its field and refusing the whole document on any.
//! * [`merge_layers`]: the bundled layer overlaid by the operator's layer (same id wins).
//! * [`to_document`] / [`to_json`]: a catalog written back in the open format (the export
//!   of the effective catalog), loadable again with the same result.
//! * [`Matcher`]: a catalog compiled into indexes, matched against one computer's
//!   [`ComputerFacts`] (installed packages, SWID tags).
//! * [`bundled`]: the catalog shipped inside openlmt (`bundled/catalog.json`).
//! * [`bundling`]: ILMT's bundling rules, assigning each found component to one product.
//!
//! Like `openlmt-domain`, this crate does no I/O: everything is testable on worked
//! examples.

pub mod bundling;
mod catalog;
mod export;
pub mod format;
mod matcher;
pub mod range;

pub use bundling::{
    bundle_computer, bundle_computer_with, Assignment, BundlingIndex, BundlingRule, Existing,
    Found, Gone,
};
pub use catalog::{
    load, load_layer, merge_layers, validate, BundleOption, Catalog, CatalogError, Component,
    Metric, PackageSignature, Pattern, Product, Publisher, Signature, SignatureRule, SourceFilter,
    SwidKey, SwidSignature, MAX_DOCUMENT_BYTES, REGEX_SIZE_LIMIT,
};
pub use export::{to_document, to_json};
pub use matcher::{
    ComputerFacts, Evidence, FactRef, InstalledPackage, Match, MatchCache, MatchRef, Matcher,
    PackageDb, SignatureKind, SwidTagFact, REGEX_SET_SIZE_LIMIT,
};
pub use range::{VersionRange, VersionScheme};

/// The bundled catalog's source text (`crates/catalog/bundled/catalog.json`).
pub const BUNDLED_JSON: &str = include_str!("../bundled/catalog.json");

/// The bundled catalog, validated. A test guarantees that it loads; should it ever fail,
/// the errors are returned rather than a panic.
pub fn bundled() -> Result<Catalog, Vec<CatalogError>> {
    load(BUNDLED_JSON)
}
