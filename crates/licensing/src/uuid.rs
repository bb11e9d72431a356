//! SMBIOS system UUIDs.
//!
//! SMBIOS 2.6+ stores the first three UUID fields little-endian; older dmidecode versions and
//! VMware's BIOS UUID (as vCenter reports it) show them in the other byte order, so the same VM
//! can appear as `42149365-eff8-7207-…` on one side and `65931442-f8ef-0772-…` on the other
//! (cloud-init's Azure helper `byte_swap_system_uuid` handles the same mismatch). A guest UUID
//! from a scan therefore matches a VM-manager UUID in **either** order; [`SmbiosUuid::match_key`]
//! gives one key for both orders so matching stays a hash lookup.

use serde::{Deserialize, Serialize};

/// A parsed SMBIOS UUID (16 bytes, in the order the text showed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SmbiosUuid([u8; 16]);

/// Why a UUID string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UuidError {
    /// The input.
    pub input: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for UuidError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.input, self.message)
    }
}

impl SmbiosUuid {
    /// Parse `8-4-4-4-12` hex in any case, with or without braces, or 32 hex digits without
    /// dashes. Surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<SmbiosUuid, UuidError> {
        let err = |m: &str| UuidError {
            input: s.to_string(),
            message: m.to_string(),
        };
        let t = s.trim();
        let t = match (t.strip_prefix('{'), t.ends_with('}')) {
            (Some(inner), true) => &inner[..inner.len() - 1],
            (None, false) => t,
            _ => return Err(err("unbalanced braces")),
        };
        let groups: Vec<&str> = t.split('-').collect();
        let hex: String = if groups.len() == 5 {
            let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            if lens != [8, 4, 4, 4, 12] {
                return Err(err("expected groups of 8-4-4-4-12 hex digits"));
            }
            groups.concat()
        } else if groups.len() == 1 && t.len() == 32 {
            t.to_string()
        } else {
            return Err(err("expected 8-4-4-4-12 hex digits"));
        };
        let mut bytes = [0u8; 16];
        let digits: Vec<u8> = hex.bytes().collect();
        for (i, b) in bytes.iter_mut().enumerate() {
            let hi = hex_val(digits[2 * i]).ok_or_else(|| err("not a hex digit"))?;
            let lo = hex_val(digits[2 * i + 1]).ok_or_else(|| err("not a hex digit"))?;
            *b = hi << 4 | lo;
        }
        Ok(SmbiosUuid(bytes))
    }

    /// The UUID with the first three groups byte-swapped.
    pub fn swapped(&self) -> SmbiosUuid {
        let mut b = self.0;
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        SmbiosUuid(b)
    }

    /// Lower-case `8-4-4-4-12` text of the UUID as given.
    pub fn canonical(&self) -> String {
        let h: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// Whether `other` is the same UUID in either byte order.
    pub fn matches(&self, other: &SmbiosUuid) -> bool {
        self == other || *self == other.swapped()
    }

    /// One key for both byte orders (the smaller of the two byte strings).
    pub fn match_key(&self) -> [u8; 16] {
        let s = self.swapped();
        if s.0 < self.0 {
            s.0
        } else {
            self.0
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Serialize for SmbiosUuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical())
    }
}

impl<'de> Deserialize<'de> for SmbiosUuid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SmbiosUuid::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for SmbiosUuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}
