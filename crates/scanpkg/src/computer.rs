//! `computer.yml`: who the endpoint is and when it was scanned.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_norway::Value;

use crate::FORMAT_VERSION;

/// The `Scan Time` layout: UTC, second precision, literal `Z`.
pub const SCAN_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Longest accepted endpoint id.
pub const MAX_ENDPOINT_ID_LEN: usize = 128;

/// Parsed `computer.yml`. Unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputerInfo {
    /// `format_version`; 1 when absent.
    pub format_version: u32,
    /// `endpointID` (required): `[A-Za-z0-9._-]`, 1..=128 characters, not starting with `.`.
    pub endpoint_id: String,
    /// `Computer Name`.
    pub computer_name: Option<String>,
    /// `DNS Name`.
    pub dns_name: Option<String>,
    /// `IP Address`: a string or a list of strings in the file; always a list here.
    pub ip_addresses: Vec<String>,
    /// `Operating System`.
    pub operating_system: Option<String>,
    /// `Agent Version`.
    pub agent_version: Option<String>,
    /// `Scan Time` (`YYYY-MM-DDTHH:MM:SSZ`).
    pub scan_time: Option<DateTime<Utc>>,
    /// `Facts Digest` (format 4; ignored as an unknown key in earlier versions): the
    /// [`crate::FactsDigest`] of the package's fact members as its writer computed it, in
    /// [`crate::FactsDigest::to_stated`]'s form `<version>:<64 hex digits>` (any version is
    /// accepted here; the reader compares only its own). The writers
    /// ([`crate::write_scan_package_to`], [`crate::ScanPackageTemplate`]) compute and set it
    /// for format 4 whatever it holds.
    pub facts_digest: Option<String>,
}

#[derive(Serialize)]
struct ComputerYaml<'a> {
    format_version: u32,
    #[serde(rename = "endpointID")]
    endpoint_id: &'a str,
    #[serde(rename = "Computer Name", skip_serializing_if = "Option::is_none")]
    computer_name: Option<&'a str>,
    #[serde(rename = "DNS Name", skip_serializing_if = "Option::is_none")]
    dns_name: Option<&'a str>,
    #[serde(rename = "IP Address")]
    ip_addresses: &'a [String],
    #[serde(rename = "Operating System", skip_serializing_if = "Option::is_none")]
    operating_system: Option<&'a str>,
    #[serde(rename = "Agent Version", skip_serializing_if = "Option::is_none")]
    agent_version: Option<&'a str>,
    #[serde(rename = "Scan Time", skip_serializing_if = "Option::is_none")]
    scan_time: Option<String>,
    #[serde(rename = "Facts Digest", skip_serializing_if = "Option::is_none")]
    facts_digest: Option<&'a str>,
}

/// The first format whose `computer.yml` may state the facts digest.
pub(crate) const FACTS_DIGEST_FORMAT: u32 = 4;

/// Whether `s` has the form of a stated facts digest: a decimal version (1 to 9 digits),
/// `:`, 64 lower-case hexadecimal digits.
fn is_stated_digest(s: &str) -> bool {
    s.split_once(':').is_some_and(|(v, h)| {
        (1..=9).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_digit())
            && h.len() == 64
            && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

impl ComputerInfo {
    /// A minimal record: the format version this crate writes, the given endpoint id,
    /// nothing else.
    pub fn new(endpoint_id: impl Into<String>) -> Self {
        ComputerInfo {
            format_version: FORMAT_VERSION,
            endpoint_id: endpoint_id.into(),
            computer_name: None,
            dns_name: None,
            ip_addresses: Vec::new(),
            operating_system: None,
            agent_version: None,
            scan_time: None,
            facts_digest: None,
        }
    }

    /// Parse `computer.yml` text. The error string is the reason, without the file name.
    pub fn parse(text: &str) -> Result<ComputerInfo, String> {
        let value: Value =
            serde_norway::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
        let map = match value {
            Value::Mapping(m) => m,
            Value::Null => return Err("empty document".into()),
            _ => return Err("top level is not a mapping".into()),
        };
        let get = |key: &str| map.get(Value::String(key.to_string()));

        let format_version = match get("format_version") {
            None | Some(Value::Null) => 1,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (1..=u64::from(FORMAT_VERSION)).contains(&v) => v as u32,
                _ => {
                    return Err(format!(
                    "unsupported format_version {n} (this reader understands 1..={FORMAT_VERSION})"
                ))
                }
            },
            Some(_) => return Err("format_version is not an integer".into()),
        };

        let endpoint_id = match get("endpointID").and_then(scalar) {
            Some(id) => id,
            None => return Err("missing endpointID".into()),
        };
        validate_endpoint_id(&endpoint_id)?;

        let ip_addresses = match get("IP Address") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => {
                let mut out = Vec::new();
                for item in items {
                    match scalar(item) {
                        Some(s) => out.push(s),
                        None => {
                            if !matches!(item, Value::Null) {
                                return Err("IP Address list holds a non-string item".into());
                            }
                        }
                    }
                }
                out
            }
            Some(v) => match scalar(v) {
                // Commas and any white space separate addresses (a tab too:
                // a list item is trimmed, so a token must hold no white space
                // to read back the same from the list `to_yaml` writes).
                Some(s) => s
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect(),
                None => return Err("IP Address is neither a string nor a list".into()),
            },
        };

        let scan_time = match get("Scan Time").and_then(scalar) {
            None => None,
            Some(s) => Some(parse_scan_time(&s).ok_or_else(|| {
                format!("Scan Time `{s}` is not a UTC time like 2024-05-01T12:30:00Z")
            })?),
        };

        // Format 4's key; before it, an unknown key like any other.
        let facts_digest = match get("Facts Digest") {
            _ if format_version < FACTS_DIGEST_FORMAT => None,
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if is_stated_digest(s) => Some(s.clone()),
            Some(_) => {
                return Err(
                    "Facts Digest is not a version, `:` and 64 lower-case hex digits".into(),
                )
            }
        };

        Ok(ComputerInfo {
            format_version,
            endpoint_id,
            computer_name: get("Computer Name").and_then(scalar),
            dns_name: get("DNS Name").and_then(scalar),
            ip_addresses,
            operating_system: get("Operating System").and_then(scalar),
            agent_version: get("Agent Version").and_then(scalar),
            scan_time,
            facts_digest,
        })
    }

    /// Render as `computer.yml` text (round-trips through [`ComputerInfo::parse`]; a
    /// `facts_digest` is written only in format 4 and later, and must have its form).
    pub fn to_yaml(&self) -> Result<String, String> {
        validate_endpoint_id(&self.endpoint_id)?;
        if let Some(d) = &self.facts_digest {
            if self.format_version >= FACTS_DIGEST_FORMAT && !is_stated_digest(d) {
                return Err(format!("Facts Digest `{d}` is not a stated digest"));
            }
        }
        let doc = ComputerYaml {
            format_version: self.format_version,
            endpoint_id: &self.endpoint_id,
            computer_name: self.computer_name.as_deref(),
            dns_name: self.dns_name.as_deref(),
            ip_addresses: &self.ip_addresses,
            operating_system: self.operating_system.as_deref(),
            agent_version: self.agent_version.as_deref(),
            scan_time: self
                .scan_time
                .map(|t| t.format(SCAN_TIME_FORMAT).to_string()),
            facts_digest: self
                .facts_digest
                .as_deref()
                .filter(|_| self.format_version >= FACTS_DIGEST_FORMAT),
        };
        serde_norway::to_string(&doc).map_err(|e| e.to_string())
    }
}

/// A YAML scalar as a trimmed string (numbers and booleans are written out); `None` for
/// null, empty strings, sequences and mappings.
fn scalar(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Tagged(t) => return scalar(&t.value),
        _ => return None,
    };
    crate::text::non_empty(&s)
}

/// Check that an endpoint id can safely appear in a file name.
pub fn validate_endpoint_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("endpointID is empty".into());
    }
    if id.len() > MAX_ENDPOINT_ID_LEN {
        return Err(format!(
            "endpointID is longer than {MAX_ENDPOINT_ID_LEN} characters"
        ));
    }
    if id.starts_with('.')
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "endpointID `{id}` may only contain letters, digits, `.`, `_` and `-` and must not start with `.`"
        ));
    }
    Ok(())
}

/// Parse `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_scan_time(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s.trim(), SCAN_TIME_FORMAT)
        .ok()
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_document() {
        let text = "format_version: 1\nendpointID: abc-123\nComputer Name: web01\n\
                    DNS Name: web01.example.org\nIP Address:\n  - 192.0.2.10\n  - 2001:db8::10\n\
                    Operating System: Debian GNU/Linux 12 (bookworm)\nAgent Version: x 1\n\
                    Scan Time: 2024-05-01T12:30:00Z\nExtra: ignored\n";
        let c = ComputerInfo::parse(text).unwrap();
        assert_eq!(c.endpoint_id, "abc-123");
        assert_eq!(c.ip_addresses, vec!["192.0.2.10", "2001:db8::10"]);
        assert_eq!(
            c.scan_time.unwrap().format(SCAN_TIME_FORMAT).to_string(),
            "2024-05-01T12:30:00Z"
        );
        let again = ComputerInfo::parse(&c.to_yaml().unwrap()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn facts_digest_from_format_4() {
        let d = format!("1:{}", "ab".repeat(32));
        let c = ComputerInfo::parse(&format!(
            "format_version: 4\nendpointID: a\nFacts Digest: {d}\n"
        ))
        .unwrap();
        assert_eq!(c.facts_digest.as_deref(), Some(d.as_str()));
        assert_eq!(ComputerInfo::parse(&c.to_yaml().unwrap()).unwrap(), c);
        for bad in [
            format!("1:{}", "AB".repeat(32)),
            "ab".repeat(32),
            format!("x:{}", "ab".repeat(32)),
            format!("1:{}", "ab".repeat(31)),
            "[1]".to_string(),
        ] {
            let e = ComputerInfo::parse(&format!(
                "format_version: 4\nendpointID: a\nFacts Digest: {bad}\n"
            ))
            .unwrap_err();
            assert!(e.starts_with("Facts Digest is not"), "{bad}: {e}");
        }
        // Before format 4, an unknown key whatever its value; and not written.
        let mut c3 =
            ComputerInfo::parse("format_version: 3\nendpointID: a\nFacts Digest: [1]\n").unwrap();
        assert_eq!(c3.facts_digest, None);
        c3.facts_digest = Some(d);
        assert!(!c3.to_yaml().unwrap().contains("Facts Digest"));
    }

    /// Regression (fuzz target `scan_package`, 2026-12-05): an `IP Address`
    /// string whose addresses a tab separated (the fuzzer's input folded the
    /// value onto a continuation line, ` 8…-3… \tx8 apic …`) kept the tab in an
    /// address; `to_yaml` writes the addresses as a list, whose items are
    /// trimmed when read, so the file did not read back the same. Any white
    /// space separates addresses now.
    #[test]
    fn addresses_separated_by_any_white_space_read_back_the_same() {
        for text in [
            "endpointID: debian12-vm\nIP Address: 192.0.2.10\t192.0.2.11, 2001:db8::10\n",
            "endpointID: debian12-vm\nIP Address:\n 192.0.2.10 \t192.0.2.11\n 2001:db8::10\n",
        ] {
            let c = ComputerInfo::parse(text).unwrap();
            assert_eq!(
                c.ip_addresses,
                ["192.0.2.10", "192.0.2.11", "2001:db8::10"],
                "{text:?}"
            );
            let yml = c.to_yaml().unwrap();
            assert_eq!(ComputerInfo::parse(&yml), Ok(c), "{yml}");
        }
    }

    #[test]
    fn single_ip_and_numeric_id() {
        let c = ComputerInfo::parse("endpointID: 12345\nIP Address: 192.0.2.1\n").unwrap();
        assert_eq!(c.endpoint_id, "12345");
        assert_eq!(c.ip_addresses, vec!["192.0.2.1"]);
        assert_eq!(c.format_version, 1);
    }

    #[test]
    fn errors() {
        assert_eq!(
            ComputerInfo::parse("Computer Name: x\n").unwrap_err(),
            "missing endpointID"
        );
        assert!(ComputerInfo::parse("endpointID: ../x\n")
            .unwrap_err()
            .contains("may only contain"));
        assert_eq!(
            ComputerInfo::parse("format_version: 2\nendpointID: a\n")
                .unwrap()
                .format_version,
            2
        );
        assert_eq!(
            ComputerInfo::parse("format_version: 3\nendpointID: a\n")
                .unwrap()
                .format_version,
            3
        );
        assert!(ComputerInfo::parse("format_version: 5\nendpointID: a\n")
            .unwrap_err()
            .contains("unsupported format_version 5 (this reader understands 1..=4)"));
        assert!(ComputerInfo::parse("format_version: 0\nendpointID: a\n").is_err());
        assert!(ComputerInfo::parse("endpointID: a\nScan Time: yesterday\n")
            .unwrap_err()
            .contains("Scan Time"));
        assert!(ComputerInfo::parse("- a\n- b\n").is_err());
        assert!(ComputerInfo::parse(": : :\n\t").is_err());
    }
}
