//! The catalog document as written in JSON: the serde types of the open format.
//!
//! These types mirror `catalog.schema.json` field for field (a test checks that the two do
//! not drift). They are deliberately close to the text: optional fields stay optional and
//! version ranges stay strings here; [`crate::load`] turns a document into a validated
//! [`crate::Catalog`], reporting every error with the JSON path of its field.
//!
//! Every list element is read on its own ([`Lenient`]), so one malformed signature (an
//! unknown field, a wrong type) is reported with its path while the rest of the document is
//! still read and checked.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A list element read independently of its siblings: either the element, or why it is not
/// one (with the path inside the element).
#[derive(Debug, Clone, PartialEq)]
pub enum Lenient<T> {
    /// The element.
    Ok(T),
    /// The element's structural error: `path` is relative to the element (`"."` for the
    /// element itself).
    Err {
        /// Path inside the element, as `serde_path_to_error` writes it.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(match serde_path_to_error::deserialize::<_, T>(v) {
            Ok(t) => Lenient::Ok(t),
            Err(e) => Lenient::Err {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            },
        })
    }
}

impl<T: Serialize> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Lenient::Ok(t) => t.serialize(s),
            Lenient::Err { message, .. } => Err(serde::ser::Error::custom(message)),
        }
    }
}

/// A whole catalog document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogDocument {
    /// The catalog's own version (free text, e.g. `2026-12-01.1`); required, non-empty.
    #[serde(default)]
    pub catalog_version: Option<String>,
    /// Publishers that products may name by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub publishers: Vec<Lenient<PublisherDoc>>,
    /// Components defined once and listed by reference under products.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Lenient<ComponentDoc>>,
    /// Products (one entry per product release).
    #[serde(default)]
    pub products: Vec<Lenient<ProductDoc>>,
}

/// A publisher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherDoc {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A product release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductDoc {
    /// Stable id, unique among products.
    pub id: String,
    /// A publisher id from `publishers`, or the publisher's name.
    pub publisher: String,
    /// Product name.
    pub name: String,
    /// Release (`7.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// `PVU`, `RVU_MAPC`, `VPC`, or absent / `null` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The public source of the product facts (name, release, metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The product's components: its bundling options.
    #[serde(default)]
    pub components: Vec<Lenient<ComponentDoc>>,
}

/// A component: a definition (has `name`) or, under a product, a reference to a component
/// defined elsewhere (only `id` and `charged`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDoc {
    /// Stable id, one component however many products list it.
    pub id: String,
    /// Component name (absent in a reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Component release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// Under a product only: whether this bundling option is charged (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charged: Option<bool>,
    /// How the component is recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Vec<Lenient<SignatureDoc>>>,
}

/// One signature: exactly one of `swid` and `package`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureDoc {
    /// A SWID-tag signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swid: Option<SwidDoc>,
    /// An installed-package signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageDoc>,
    /// The public source that shows this evidence (URL or document title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// A SWID-tag signature: `regid` plus exactly one of `persistent_id`, `tag_id`,
/// `tag_id_prefix`, `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwidDoc {
    /// The tag's `regid` (`ibm.com`), compared exactly.
    pub regid: String,
    /// IBM's `Meta/@persistentId`, stable across releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_id: Option<String>,
    /// The whole `tagId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_id: Option<String>,
    /// A prefix of the `tagId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_id_prefix: Option<String>,
    /// The tag's `name`, compared exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A version range on the tag's `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// An installed-package signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageDoc {
    /// `dpkg`, `rpm` or `any`.
    pub source: String,
    /// The package name: a string (exact) or `{"regex": "..."}`.
    pub name: PatternDoc,
    /// The package vendor (rpm `VENDOR`, dpkg `Maintainer`): exact or `{"regex": ...}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<PatternDoc>,
    /// A version range, compared with the packaging system's ordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A string compared exactly, or a regular expression marked as `{"regex": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternDoc {
    /// Exact, case-sensitive.
    Exact(String),
    /// A regular expression (Rust `regex` syntax) that must match the whole value.
    Regex(String),
}

impl Serialize for PatternDoc {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PatternDoc::Exact(t) => s.serialize_str(t),
            PatternDoc::Regex(r) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("regex", r)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PatternDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Ok(PatternDoc::Exact(s)),
            serde_json::Value::Object(m) => {
                if let Some(k) = m.keys().find(|k| k.as_str() != "regex") {
                    return Err(D::Error::custom(format!(
                        "unknown field `{k}` in a pattern, expected only `regex`"
                    )));
                }
                match m.get("regex") {
                    Some(serde_json::Value::String(r)) => Ok(PatternDoc::Regex(r.clone())),
                    Some(_) => Err(D::Error::custom("`regex` must be a string")),
                    None => Err(D::Error::custom("missing field `regex`")),
                }
            }
            _ => Err(D::Error::custom(
                "expected a string (exact) or {\"regex\": \"...\"}",
            )),
        }
    }
}
