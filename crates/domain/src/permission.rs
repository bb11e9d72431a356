//! What a user may do. A user with no permission may still read the import
//! status.

use crate::import::string_enum;
use std::fmt;
use std::str::FromStr;

string_enum! {
    Permission {
        ManageImports => "manage_imports",
        UploadScanResults => "upload_scan_results",
        ViewEndpoints => "view_endpoints",
        ViewRawData => "view_raw_data",
        ViewSoftware => "view_software",
        ManageSoftwareClassification => "manage_software_classification",
        ViewLicenseMetrics => "view_license_metrics",
        ManageLicenseMetrics => "manage_license_metrics",
    }
}

/// A set of permissions, stored as a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PermissionSet(u32);

impl PermissionSet {
    pub const fn empty() -> Self {
        PermissionSet(0)
    }

    pub fn all() -> Self {
        Permission::ALL.iter().copied().collect()
    }

    fn bit(p: Permission) -> u32 {
        1 << (Permission::ALL.iter().position(|x| *x == p).unwrap_or(0) as u32)
    }

    pub fn insert(&mut self, p: Permission) {
        self.0 |= Self::bit(p);
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & Self::bit(p) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// Comma-separated names, e.g. `manage_imports,view_endpoints`.
    pub fn to_list(self) -> String {
        self.iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses a comma-separated list (empty string: no permission).
    pub fn parse_list(s: &str) -> Result<Self, crate::import::UnknownValue> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Permission::from_str)
            .collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::empty();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl fmt::Display for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_list())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_round_trip() {
        let all = PermissionSet::all();
        assert_eq!(PermissionSet::parse_list(&all.to_list()).unwrap(), all);
        assert_eq!(
            PermissionSet::parse_list("").unwrap(),
            PermissionSet::empty()
        );
        let one = PermissionSet::parse_list("view_raw_data").unwrap();
        assert!(one.contains(Permission::ViewRawData));
        assert!(!one.contains(Permission::ManageImports));
        assert!(PermissionSet::parse_list("root").is_err());
    }
}
