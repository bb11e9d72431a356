//! ISO/IEC 19770-2 SWID tags (`isotag_scan/*.swidtag`), 2015 and 2009 schemas, parsed with
//! a streaming `quick-xml` reader.

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use quick_xml::XmlVersion;
use serde::Serialize;

use crate::text::non_empty;

/// Deepest element nesting accepted (protects the element-path stack).
const MAX_DEPTH: usize = 64;

/// Which edition of ISO/IEC 19770-2 a tag follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SwidSchema {
    /// `SoftwareIdentity` (ISO/IEC 19770-2:2015).
    Iso2015,
    /// `software_identification_tag` (ISO/IEC 19770-2:2009).
    Iso2009,
}

/// The facts kept from one SWID tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SwidTag {
    /// 2015: `tagId`; 2009: `software_id/unique_id`.
    pub tag_id: String,
    /// 2015: `name`; 2009: `product_title`.
    pub name: String,
    /// 2015: `version`; 2009: `product_version/name`.
    pub version: Option<String>,
    /// 2015: `regid` of the `softwareCreator` Entity, else of the `tagCreator` Entity;
    /// 2009: `software_creator/regid`, else `software_id/tag_creator_regid`.
    pub regid: Option<String>,
    /// 2015: `name` of that Entity; 2009: `software_creator/name`.
    pub vendor: Option<String>,
    /// 2015: `persistentId` of the first `Meta` child of `SoftwareIdentity` that has one
    /// (the product's identifier across its versions: IBM tags carry it there and build
    /// their `tagId` as `ibm.com-<persistentId>-<version>`); 2009: always `None` (that
    /// schema has no such field).
    pub persistent_id: Option<String>,
    /// The directory the tag was found in on the scanned computer (its discovery path),
    /// from the package's `isotag_scan/index.json` (format 2); `None` when the package
    /// does not say. Not part of the tag document: [`parse_swidtag`] leaves it `None`.
    pub directory: Option<String>,
    /// Schema edition.
    pub schema: SwidSchema,
}

#[derive(Default)]
struct Entity {
    name: Option<String>,
    regid: Option<String>,
    creator: bool,
    tag_creator: bool,
}

/// Parse one `.swidtag` document. The error string says why it is not a usable tag.
pub fn parse_swidtag(bytes: &[u8]) -> Result<SwidTag, String> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut root: Option<SwidSchema> = None;

    // 2015
    let mut tag_id = None;
    let mut name = None;
    let mut version = None;
    let mut persistent_id = None;
    let mut entities: Vec<Entity> = Vec::new();
    // 2009: (path, text)
    let mut text_buf = String::new();
    let mut t2009 = Tag2009::default();

    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match ev {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return Err("elements nested too deeply".into());
                }
                handle_start(
                    &e,
                    &path,
                    &mut root,
                    &mut tag_id,
                    &mut name,
                    &mut version,
                    &mut persistent_id,
                    &mut entities,
                )?;
                path.push(local(&e));
                text_buf.clear();
            }
            Event::Empty(e) => {
                handle_start(
                    &e,
                    &path,
                    &mut root,
                    &mut tag_id,
                    &mut name,
                    &mut version,
                    &mut persistent_id,
                    &mut entities,
                )?;
            }
            Event::Text(t) if root == Some(SwidSchema::Iso2009) => {
                let s = t.xml10_content().map_err(|e| format!("bad text: {e}"))?;
                text_buf.push_str(&s);
            }
            Event::CData(t) if root == Some(SwidSchema::Iso2009) => {
                text_buf.push_str(&String::from_utf8_lossy(&t));
            }
            Event::GeneralRef(r) if root == Some(SwidSchema::Iso2009) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text_buf.push(c);
                } else {
                    let n = r.decode().map_err(|e| format!("bad reference: {e}"))?;
                    match quick_xml::escape::resolve_predefined_entity(&n) {
                        Some(s) => text_buf.push_str(s),
                        None => return Err(format!("unknown entity `&{n};`")),
                    }
                }
            }
            Event::End(_) => {
                if root == Some(SwidSchema::Iso2009) {
                    t2009.element_text(&path, &text_buf);
                }
                text_buf.clear();
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }

    match root {
        None => Err("no SoftwareIdentity or software_identification_tag root element".into()),
        Some(SwidSchema::Iso2015) => {
            let pick = entities
                .iter()
                .find(|e| e.creator)
                .or_else(|| entities.iter().find(|e| e.tag_creator));
            Ok(SwidTag {
                tag_id: tag_id.ok_or("SoftwareIdentity has no tagId")?,
                name: name.ok_or("SoftwareIdentity has no name")?,
                version,
                regid: pick.and_then(|e| e.regid.clone()),
                vendor: pick.and_then(|e| e.name.clone()),
                persistent_id,
                directory: None,
                schema: SwidSchema::Iso2015,
            })
        }
        Some(SwidSchema::Iso2009) => Ok(SwidTag {
            tag_id: t2009
                .unique_id
                .ok_or("software_identification_tag has no software_id/unique_id")?,
            name: t2009
                .title
                .ok_or("software_identification_tag has no product_title")?,
            version: t2009.version,
            regid: t2009.creator_regid.or(t2009.tag_creator_regid),
            vendor: t2009.creator_name,
            persistent_id: None,
            directory: None,
            schema: SwidSchema::Iso2009,
        }),
    }
}

fn local(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

#[allow(clippy::too_many_arguments)]
fn handle_start(
    e: &BytesStart<'_>,
    path: &[String],
    root: &mut Option<SwidSchema>,
    tag_id: &mut Option<String>,
    name: &mut Option<String>,
    version: &mut Option<String>,
    persistent_id: &mut Option<String>,
    entities: &mut Vec<Entity>,
) -> Result<(), String> {
    let lname = e.local_name();
    let lname = lname.as_ref();
    if path.is_empty() {
        if root.is_some() {
            return Err("more than one root element".into());
        }
        *root = match lname {
            b"SoftwareIdentity" => Some(SwidSchema::Iso2015),
            b"software_identification_tag" => Some(SwidSchema::Iso2009),
            other => {
                return Err(format!(
                    "unexpected root element `{}`",
                    String::from_utf8_lossy(other)
                ))
            }
        };
        if *root == Some(SwidSchema::Iso2015) {
            for_attrs(e, |k, v| {
                match k {
                    b"tagId" => *tag_id = non_empty(&v()?),
                    b"name" => *name = non_empty(&v()?),
                    b"version" => *version = non_empty(&v()?),
                    _ => {}
                }
                Ok(())
            })?;
        }
    } else if *root == Some(SwidSchema::Iso2015) && path.len() == 1 && lname == b"Entity" {
        let mut ent = Entity::default();
        for_attrs(e, |k, v| {
            match k {
                b"name" => ent.name = non_empty(&v()?),
                b"regid" => ent.regid = non_empty(&v()?),
                b"role" => {
                    for r in v()?.split_whitespace() {
                        ent.creator |= r == "softwareCreator";
                        ent.tag_creator |= r == "tagCreator";
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
        entities.push(ent);
    } else if *root == Some(SwidSchema::Iso2015)
        && path.len() == 1
        && lname == b"Meta"
        && persistent_id.is_none()
    {
        for_attrs(e, |k, v| {
            if k == b"persistentId" {
                *persistent_id = non_empty(&v()?);
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Calls `f` with the local name of every attribute of `e` and a function that decodes
/// its value (entities resolved, whitespace normalized). Every attribute is checked for
/// well-formedness, but only the values `f` asks for are decoded: most attributes of a
/// tag (`xmlns`, `xml:lang`, `versionScheme`, …) are never needed.
fn for_attrs(
    e: &BytesStart<'_>,
    mut f: impl FnMut(&[u8], &dyn Fn() -> Result<String, String>) -> Result<(), String>,
) -> Result<(), String> {
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        let value = || {
            a.normalized_value(XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .map_err(|err| format!("bad attribute value: {err}"))
        };
        f(a.key.local_name().as_ref(), &value)?;
    }
    Ok(())
}

#[derive(Default)]
struct Tag2009 {
    title: Option<String>,
    version: Option<String>,
    creator_regid: Option<String>,
    creator_name: Option<String>,
    unique_id: Option<String>,
    tag_creator_regid: Option<String>,
}

impl Tag2009 {
    fn element_text(&mut self, path: &[String], text: &str) {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let slot = match p.as_slice() {
            [_, "product_title"] => &mut self.title,
            [_, "product_version", "name"] => &mut self.version,
            [_, "software_creator", "regid"] => &mut self.creator_regid,
            [_, "software_creator", "name"] => &mut self.creator_name,
            [_, "software_id", "unique_id"] => &mut self.unique_id,
            [_, "software_id", "tag_creator_regid"] => &mut self.tag_creator_regid,
            _ => return,
        };
        if slot.is_none() {
            *slot = non_empty(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_preference_2015() {
        let xml = br#"<SoftwareIdentity xmlns="http://standards.iso.org/iso/19770/-2/2015/schema.xsd" name="A &amp; B" tagId="t1" version="1.0">
            <Entity name="Tool" regid="tool.example" role="tagCreator"/>
            <Entity name="Maker" regid="maker.example" role="softwareCreator licensor"/>
        </SoftwareIdentity>"#;
        let t = parse_swidtag(xml).unwrap();
        assert_eq!(t.name, "A & B");
        assert_eq!(t.vendor.as_deref(), Some("Maker"));
        assert_eq!(t.regid.as_deref(), Some("maker.example"));
    }

    #[test]
    fn only_kept_attribute_values_are_decoded() {
        // A value that cannot be decoded (an undefined entity) in an
        // attribute the tag's facts do not use is not a reason to drop the tag;
        // in one they use, it is. Attribute syntax is checked everywhere.
        let unused = br#"<SoftwareIdentity name="adduser" tagId="t" xml:lang="&nope;"><Entity name="Debian" regid="debian.org" role="tagCreator" extra="&nope;"/></SoftwareIdentity>"#;
        let t = parse_swidtag(unused).unwrap();
        assert_eq!(
            (t.name.as_str(), t.regid.as_deref()),
            ("adduser", Some("debian.org"))
        );
        let used = br#"<SoftwareIdentity name="&nope;" tagId="t"/>"#;
        assert!(parse_swidtag(used)
            .unwrap_err()
            .contains("bad attribute value"));
        let used_in_entity =
            br#"<SoftwareIdentity name="a" tagId="t"><Entity name="&nope;" role="tagCreator"/></SoftwareIdentity>"#;
        assert!(parse_swidtag(used_in_entity).is_err());
        let bad_syntax = br#"<SoftwareIdentity name="a" tagId="t" xml:lang=en/>"#;
        assert!(parse_swidtag(bad_syntax)
            .unwrap_err()
            .contains("bad attribute"));
    }

    #[test]
    fn rejects() {
        assert!(parse_swidtag(b"").is_err());
        assert!(parse_swidtag(b"<foo/>").is_err());
        assert!(parse_swidtag(b"<SoftwareIdentity name='x'/>").is_err());
        assert!(
            parse_swidtag(b"<SoftwareIdentity name='x' tagId='y'><a></b></SoftwareIdentity>")
                .is_err()
        );
    }
}
