//! Scan package file names: `<YYYYMMDDHHMM>-<endpointID>.tar.gz|.tgz|.zip`.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::fmt;

/// The archive format a package name announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    TarGz,
    Zip,
}

/// A valid scan package file name. The endpoint id is 1 to 128 characters
/// of `[A-Za-z0-9._-]` and does not start with a dot, so a name can never
/// denote a path outside its directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScanPackageName {
    file_name: String,
    scan_time: DateTime<Utc>,
    endpoint_id: String,
    kind: ArchiveKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a scan package name: {reason} (expected <YYYYMMDDHHMM>-<endpointID>.tar.gz, .tgz or .zip)")]
pub struct BadScanPackageName {
    pub name: String,
    pub reason: &'static str,
}

const MAX_ENDPOINT_ID: usize = 128;

impl ScanPackageName {
    pub fn parse(name: &str) -> Result<ScanPackageName, BadScanPackageName> {
        let bad = |reason| BadScanPackageName {
            name: name.chars().take(200).collect(),
            reason,
        };
        let (stem, kind) = if let Some(s) = name.strip_suffix(".tar.gz") {
            (s, ArchiveKind::TarGz)
        } else if let Some(s) = name.strip_suffix(".tgz") {
            (s, ArchiveKind::TarGz)
        } else if let Some(s) = name.strip_suffix(".zip") {
            (s, ArchiveKind::Zip)
        } else {
            return Err(bad("unknown extension"));
        };
        let (stamp, endpoint) = match (stem.get(..12), stem.get(12..13), stem.get(13..)) {
            (Some(stamp), Some("-"), Some(endpoint)) => (stamp, endpoint),
            _ => return Err(bad("no `<YYYYMMDDHHMM>-` prefix")),
        };
        if !stamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("no `<YYYYMMDDHHMM>-` prefix"));
        }
        let scan_time = NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M")
            .map_err(|_| bad("the scan time is not a valid date and time"))?
            .and_utc();
        if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_ID {
            return Err(bad("the endpoint id must have 1 to 128 characters"));
        }
        if endpoint.starts_with('.')
            || !endpoint
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(bad(
                "the endpoint id may hold only letters, digits, `.`, `_` and `-`",
            ));
        }
        Ok(ScanPackageName {
            file_name: name.to_string(),
            scan_time,
            endpoint_id: endpoint.to_string(),
            kind,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.file_name
    }
    pub fn scan_time(&self) -> DateTime<Utc> {
        self.scan_time
    }
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }
    pub fn kind(&self) -> ArchiveKind {
        self.kind
    }
}

impl fmt::Display for ScanPackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_the_three_extensions() {
        let p = ScanPackageName::parse("202611281530-4f2a9c.tar.gz").unwrap();
        assert_eq!(p.endpoint_id(), "4f2a9c");
        assert_eq!(p.kind(), ArchiveKind::TarGz);
        assert_eq!(
            p.scan_time(),
            Utc.with_ymd_and_hms(2026, 11, 28, 15, 30, 0).unwrap()
        );
        assert_eq!(
            ScanPackageName::parse("202611281530-x.tgz").unwrap().kind(),
            ArchiveKind::TarGz
        );
        assert_eq!(
            ScanPackageName::parse("202611281530-my-host.01.zip")
                .unwrap()
                .endpoint_id(),
            "my-host.01"
        );
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "x.tar.gz",
            "20261128153-abc.tar.gz",
            "202611281530abc.tar.gz",
            "202613281530-abc.tar.gz",
            "202611281530-.tar.gz",
            "202611281530-../../etc.tar.gz",
            "202611281530-a/b.tar.gz",
            "202611281530-.hidden.tar.gz",
            "202611281530-abc.tar",
            "２02611281530-abc.zip",
        ] {
            assert!(ScanPackageName::parse(bad).is_err(), "{bad} accepted");
        }
        let long = format!("202611281530-{}.zip", "a".repeat(129));
        assert!(ScanPackageName::parse(&long).is_err());
    }
}
