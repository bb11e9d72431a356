//! Installed-package evidence: `dpkg-status`, `dpkg-query.tsv`, `rpm-qa.tsv`.

use std::fmt;

use serde::Serialize;

use crate::text::non_empty;

/// Which package manager reported an installed package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// Debian's dpkg (`dpkg-status` or `dpkg-query.tsv`).
    Dpkg,
    /// RPM (`rpm-qa.tsv`).
    Rpm,
}

impl PackageManager {
    /// `"dpkg"` or `"rpm"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageManager::Dpkg => "dpkg",
            PackageManager::Rpm => "rpm",
        }
    }
}

impl fmt::Display for PackageManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledPackage {
    /// Package name.
    pub name: String,
    /// Version (dpkg: `Version`; rpm: `VERSION-RELEASE`).
    pub version: String,
    /// Architecture (`amd64`, `all`, `x86_64`, `noarch`, …).
    pub architecture: Option<String>,
    /// dpkg: `Maintainer`; rpm: `VENDOR` (`(none)` becomes `None`).
    pub vendor: Option<String>,
    /// Package manager.
    pub source: PackageManager,
}

/// Parse raw `/var/lib/dpkg/status`. Only stanzas whose `Status:` third word is
/// `installed` and that have `Package` and `Version` count. Continuation lines are skipped.
pub fn parse_dpkg_status(text: &str) -> Vec<InstalledPackage> {
    let mut out = Vec::new();
    let mut st = Stanza::default();
    for line in crate::text::lines(text) {
        // Most lines are continuation lines (descriptions, conffiles): one byte
        // decides. Only a line that starts with whitespace can be blank.
        match line.as_bytes().first() {
            None => {
                st.finish(&mut out);
                continue;
            }
            Some(b) if b.is_ascii_graphic() => {}
            Some(_) => {
                if line.trim().is_empty() {
                    st.finish(&mut out);
                    continue;
                }
                if line.starts_with([' ', '\t']) {
                    continue;
                }
            }
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "Package" => st.package = non_empty(v),
            "Status" => st.installed = v.split_whitespace().nth(2) == Some("installed"),
            "Version" => st.version = non_empty(v),
            "Architecture" => st.arch = non_empty(v),
            "Maintainer" => st.maintainer = non_empty(v),
            _ => {}
        }
    }
    st.finish(&mut out);
    out
}

#[derive(Default)]
struct Stanza {
    package: Option<String>,
    version: Option<String>,
    arch: Option<String>,
    maintainer: Option<String>,
    installed: bool,
}

impl Stanza {
    fn finish(&mut self, out: &mut Vec<InstalledPackage>) {
        let s = std::mem::take(self);
        if let (true, Some(name), Some(version)) = (s.installed, s.package, s.version) {
            out.push(InstalledPackage {
                name,
                version,
                architecture: s.arch,
                vendor: s.maintainer,
                source: PackageManager::Dpkg,
            });
        }
    }
}

/// Parse `dpkg-query --show --showformat='${Package}\t${Architecture}\t${Version}\t
/// ${Installed-Size}\t${Section}\n'`. At least package, architecture and version are
/// needed; an optional sixth `${Status}` column, when present, must have `installed` as
/// its third word. Skipped lines are described in `notes`.
pub fn parse_dpkg_query_tsv(text: &str, notes: &mut Vec<String>) -> Vec<InstalledPackage> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let (Some(name), Some(arch), Some(version)) = (
            f.first().and_then(|s| non_empty(s)),
            f.get(1),
            f.get(2).and_then(|s| non_empty(s)),
        ) else {
            notes.push(format!(
                "dpkg-query.tsv line {}: expected at least 3 tab-separated fields, skipped",
                i + 1
            ));
            continue;
        };
        if let Some(status) = f.get(5).filter(|s| !s.trim().is_empty()) {
            if status.split_whitespace().nth(2) != Some("installed") {
                continue;
            }
        }
        out.push(InstalledPackage {
            name,
            version,
            architecture: non_empty(arch),
            vendor: None,
            source: PackageManager::Dpkg,
        });
    }
    out
}

/// Parse `rpm -qa --queryformat '%{NAME}\t%{ARCH}\t%{VERSION}-%{RELEASE}\t%{INSTALLTIME}\t
/// %{SIZE}\t%{VENDOR}\t%{SUMMARY}\t%{GROUP}\n'`. Name, arch and version are needed;
/// `(none)` values become `None`. Skipped lines are described in `notes`.
pub fn parse_rpm_qa_tsv(text: &str, notes: &mut Vec<String>) -> Vec<InstalledPackage> {
    let none = |s: &str| non_empty(s).filter(|v| v != "(none)");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let (Some(name), Some(arch), Some(version)) = (
            f.first().and_then(|s| non_empty(s)),
            f.get(1),
            f.get(2).and_then(|s| non_empty(s)),
        ) else {
            notes.push(format!(
                "rpm-qa.tsv line {}: expected at least 3 tab-separated fields, skipped",
                i + 1
            ));
            continue;
        };
        out.push(InstalledPackage {
            name,
            version,
            architecture: none(arch),
            vendor: f.get(5).and_then(|s| none(s)),
            source: PackageManager::Rpm,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_status_rules() {
        let text =
            "Package: a\nStatus: install ok installed\nVersion: 1\nDescription: x\n y: z\n\n\
                    Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\n\
                    Package: c\nStatus: install ok installed\n";
        let p = parse_dpkg_status(text);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "a");
    }

    #[test]
    fn rpm_none() {
        let mut notes = Vec::new();
        let p = parse_rpm_qa_tsv(
            "gpg-pubkey\t(none)\t1-2\t0\t0\t(none)\tkey\tPublic Keys\nshort\n",
            &mut notes,
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].architecture, None);
        assert_eq!(p[0].vendor, None);
        assert_eq!(notes.len(), 1);
    }
}
