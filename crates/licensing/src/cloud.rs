//! Public-cloud recognition from SMBIOS/DMI strings.
//!
//! A VM on an eligible public cloud is its own server at 70 PVU per vCPU (counting-rules.md §3
//! item 4 and §7). ILMT needs the computer "marked" as running on a public cloud (§7); this
//! module recognises the mark from DMI strings when a scan carries them. A caller that knows the
//! provider otherwise (the scanner's `PublicCloudGuest` element, an operator's marking) sets
//! [`CloudProvider`] directly.
//!
//! Only strings that public code or documentation shows are used; nothing is guessed:
//!
//! | provider | DMI evidence used | public source |
//! |---|---|---|
//! | Amazon EC2 | system manufacturer, board vendor or BIOS vendor is `Amazon EC2` (Nitro) | systemd `src/basic/virt.c` `dmi_vendor_table` (`"Amazon EC2"` → `VIRTUALIZATION_AMAZON`, read from `sys_vendor`, `board_vendor`, `bios_vendor`) |
//! | Amazon EC2 | system UUID and system serial both start with `ec2` (case-insensitive) and are equal (Xen instances) | cloud-init `tools/ds-identify`, `ec2_identify_platform` |
//! | Amazon EC2 | BIOS version contains `amazon` (e.g. `4.2.amazon`) | Red Hat insights-core `insights/combiners/cloud_provider.py` (bios version `4.2.amazon` → `aws`) |
//! | Microsoft Azure | chassis asset tag `7783-7084-3265-9085-8269-3286-77` | cloud-init `tools/ds-identify`, `is_azure_chassis` |
//! | Google Compute Engine | product name `Google Compute Engine`, or serial starting `GoogleCloud-` | cloud-init `tools/ds-identify`, `dscheck_GCE` |
//! | Oracle Cloud Infrastructure | chassis asset tag `OracleCloud.com` | cloud-init `tools/ds-identify`, `dscheck_Oracle`; cloud-init docs "Oracle" datasource ("the platform identifies itself via DMI data in the chassis asset tag with the string 'OracleCloud.com'") |
//! | Alibaba Cloud ECS | product name `Alibaba Cloud ECS` | cloud-init `tools/ds-identify`, `dscheck_AliYun` |
//! | Huawei Cloud | chassis asset tag `HUAWEICLOUD` | cloud-init `tools/ds-identify`, `dscheck_OpenStack` (recognised, but **not** on IBM's pre-approved list, §7) |
//!
//! **Not recognised from DMI** (no public DMI string found): IBM Cloud / SoftLayer (cloud-init
//! identifies it by Xen plus file-system labels, not DMI), Tencent Cloud, and the Fujitsu, NEC,
//! NTT and KDDI clouds. Those must be marked by the caller.

use serde::{Deserialize, Serialize};

/// A public cloud provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum CloudProvider {
    /// Amazon EC2.
    AmazonEc2,
    /// Microsoft Azure.
    MicrosoftAzure,
    /// Google Compute Engine.
    GoogleComputeEngine,
    /// IBM Cloud Virtual Server, IBM Power Virtual Server, IBM Cloud LinuxONE VS.
    IbmCloud,
    /// IBM SoftLayer (ILMT's own label; obsolete from ILMT 9.2.36).
    IbmSoftLayer,
    /// Oracle Cloud Infrastructure compute instance.
    OracleCloud,
    /// Alibaba Cloud ECS.
    AlibabaCloud,
    /// Tencent Cloud.
    TencentCloud,
    /// Fujitsu, NEC, NTT or KDDI clouds (pre-approved, named by the caller).
    OtherEligible(String),
    /// Huawei Cloud (recognisable, not pre-approved).
    HuaweiCloud,
    /// Any other cloud, named by the caller; not pre-approved.
    Other(String),
}

impl CloudProvider {
    /// Display name (`IBM SoftLayer` is ILMT's server-name prefix for SoftLayer VMs, §13).
    pub fn name(&self) -> String {
        match self {
            CloudProvider::AmazonEc2 => "Amazon EC2".into(),
            CloudProvider::MicrosoftAzure => "Microsoft Azure".into(),
            CloudProvider::GoogleComputeEngine => "Google Compute Engine".into(),
            CloudProvider::IbmCloud => "IBM Cloud".into(),
            CloudProvider::IbmSoftLayer => "IBM SoftLayer".into(),
            CloudProvider::OracleCloud => "Oracle Cloud".into(),
            CloudProvider::AlibabaCloud => "Alibaba Cloud".into(),
            CloudProvider::TencentCloud => "Tencent Cloud".into(),
            CloudProvider::HuaweiCloud => "Huawei Cloud".into(),
            CloudProvider::OtherEligible(s) | CloudProvider::Other(s) => s.clone(),
        }
    }

    /// Whether IBM lists the cloud as pre-approved for BYOSL sub-capacity (counting-rules.md §7:
    /// Amazon EC2, Azure, GCE, IBM Cloud / SoftLayer, Oracle, Alibaba, Tencent, Fujitsu, NEC,
    /// NTT, KDDI). Only these get the 70-per-vCPU rule; a VM on another cloud is counted like
    /// any VM (its host if known, else default counting).
    pub fn byosl_eligible(&self) -> bool {
        !matches!(self, CloudProvider::HuaweiCloud | CloudProvider::Other(_))
    }
}

/// The DMI strings a scan may carry; any subset may be known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DmiStrings {
    /// System manufacturer (`sys_vendor`).
    pub system_manufacturer: Option<String>,
    /// System product name (`product_name`).
    pub product_name: Option<String>,
    /// System version (`product_version`).
    pub system_version: Option<String>,
    /// System serial number (`product_serial`).
    pub serial_number: Option<String>,
    /// System UUID (`product_uuid`).
    pub system_uuid: Option<String>,
    /// BIOS vendor.
    pub bios_vendor: Option<String>,
    /// BIOS version.
    pub bios_version: Option<String>,
    /// Base board manufacturer.
    pub board_vendor: Option<String>,
    /// Chassis asset tag.
    pub chassis_asset_tag: Option<String>,
}

/// A recognised cloud with the evidence that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudMatch {
    /// The provider.
    pub provider: CloudProvider,
    /// Which DMI field and value matched, and the public source of the rule.
    pub evidence: String,
}

fn t(s: &Option<String>) -> &str {
    s.as_deref().map(str::trim).unwrap_or("")
}

/// Recognise a public cloud from DMI strings; `None` when no documented string matches.
pub fn recognise_cloud(dmi: &DmiStrings) -> Option<CloudMatch> {
    let hit = |provider: CloudProvider, evidence: String| Some(CloudMatch { provider, evidence });
    for (field, value) in [
        ("system manufacturer", t(&dmi.system_manufacturer)),
        ("board vendor", t(&dmi.board_vendor)),
        ("BIOS vendor", t(&dmi.bios_vendor)),
    ] {
        if value == "Amazon EC2" {
            return hit(
                CloudProvider::AmazonEc2,
                format!("{field} `{value}` (systemd virt.c dmi_vendor_table)"),
            );
        }
    }
    let uuid = t(&dmi.system_uuid);
    let serial = t(&dmi.serial_number);
    if uuid.len() >= 3 && uuid[..3].eq_ignore_ascii_case("ec2") && uuid.eq_ignore_ascii_case(serial)
    {
        return hit(
            CloudProvider::AmazonEc2,
            format!("system UUID and serial `{uuid}` start with ec2 (cloud-init ds-identify)"),
        );
    }
    if t(&dmi.bios_version).to_ascii_lowercase().contains("amazon") {
        return hit(
            CloudProvider::AmazonEc2,
            format!(
                "BIOS version `{}` contains amazon (insights-core cloud_provider)",
                t(&dmi.bios_version)
            ),
        );
    }
    let tag = t(&dmi.chassis_asset_tag);
    if tag == "7783-7084-3265-9085-8269-3286-77" {
        return hit(
            CloudProvider::MicrosoftAzure,
            format!("chassis asset tag `{tag}` (cloud-init ds-identify is_azure_chassis)"),
        );
    }
    if tag == "OracleCloud.com" {
        return hit(
            CloudProvider::OracleCloud,
            format!("chassis asset tag `{tag}` (cloud-init ds-identify dscheck_Oracle)"),
        );
    }
    if tag == "HUAWEICLOUD" {
        return hit(
            CloudProvider::HuaweiCloud,
            format!("chassis asset tag `{tag}` (cloud-init ds-identify dscheck_OpenStack)"),
        );
    }
    let product = t(&dmi.product_name);
    if product == "Google Compute Engine" {
        return hit(
            CloudProvider::GoogleComputeEngine,
            format!("product name `{product}` (cloud-init ds-identify dscheck_GCE)"),
        );
    }
    if serial.starts_with("GoogleCloud-") {
        return hit(
            CloudProvider::GoogleComputeEngine,
            format!("serial `{serial}` (cloud-init ds-identify dscheck_GCE)"),
        );
    }
    if product == "Alibaba Cloud ECS" {
        return hit(
            CloudProvider::AlibabaCloud,
            format!("product name `{product}` (cloud-init ds-identify dscheck_AliYun)"),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dmi() -> DmiStrings {
        DmiStrings::default()
    }

    #[test]
    fn documented_strings() {
        let mut d = dmi();
        d.system_manufacturer = Some("Amazon EC2".into());
        assert_eq!(
            recognise_cloud(&d).map(|m| m.provider),
            Some(CloudProvider::AmazonEc2)
        );
        let mut d = dmi();
        d.system_uuid = Some("EC2F58AF-2DAD-C57E-88C0-A81CB6084290".into());
        d.serial_number = Some("ec2f58af-2dad-c57e-88c0-a81cb6084290".into());
        assert_eq!(
            recognise_cloud(&d).map(|m| m.provider),
            Some(CloudProvider::AmazonEc2)
        );
        let mut d = dmi();
        d.bios_version = Some("4.2.amazon".into());
        assert_eq!(
            recognise_cloud(&d).map(|m| m.provider),
            Some(CloudProvider::AmazonEc2)
        );
        let mut d = dmi();
        d.chassis_asset_tag = Some("7783-7084-3265-9085-8269-3286-77".into());
        d.system_manufacturer = Some("Microsoft Corporation".into());
        assert_eq!(
            recognise_cloud(&d).map(|m| m.provider),
            Some(CloudProvider::MicrosoftAzure)
        );
        let mut d = dmi();
        d.product_name = Some("Google Compute Engine".into());
        assert_eq!(
            recognise_cloud(&d).map(|m| m.provider),
            Some(CloudProvider::GoogleComputeEngine)
        );
        let mut d = dmi();
        d.serial_number = Some("GoogleCloud-1234ABCD".into());
        assert_eq!(
            recognise_cloud(&d).map(|m| m.provider),
            Some(CloudProvider::GoogleComputeEngine)
        );
        let mut d = dmi();
        d.chassis_asset_tag = Some("OracleCloud.com".into());
        assert_eq!(
            recognise_cloud(&d).map(|m| m.provider),
            Some(CloudProvider::OracleCloud)
        );
        let mut d = dmi();
        d.product_name = Some("Alibaba Cloud ECS".into());
        assert_eq!(
            recognise_cloud(&d).map(|m| m.provider),
            Some(CloudProvider::AlibabaCloud)
        );
        let mut d = dmi();
        d.chassis_asset_tag = Some("HUAWEICLOUD".into());
        let m = recognise_cloud(&d).map(|m| m.provider);
        assert_eq!(m, Some(CloudProvider::HuaweiCloud));
        assert!(!CloudProvider::HuaweiCloud.byosl_eligible());
    }

    #[test]
    fn on_premises_strings_are_not_clouds() {
        // From shared/corpus/dmidecode: VMware, Dell and HP machines.
        for (m, p) in [
            ("VMware, Inc.", "VMware Virtual Platform"),
            ("Dell Inc.", "PowerEdge R640"),
            ("HP", "ProLiant DL360p Gen8"),
            ("Microsoft Corporation", "Virtual Machine"),
        ] {
            let d = DmiStrings {
                system_manufacturer: Some(m.into()),
                product_name: Some(p.into()),
                ..Default::default()
            };
            assert_eq!(recognise_cloud(&d), None, "{m} {p}");
        }
    }
}
