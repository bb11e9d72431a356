//! Processor identification: from the vendor and brand strings that a scan reports
//! (`/proc/cpuinfo` `vendor_id` / `model name`, `lscpu` `Vendor ID` / `Model name`, dmidecode
//! type 4 `Manufacturer` / `Version`), derive what a PVU table row is keyed on: vendor, brand
//! family, product line and processor model number.
//!
//! IBM keys the PVU rate on "Processor Vendor, Brand, Type and Model Number", and for Intel "the
//! processor model number is used to identify the specific processor technology"
//! (`shared/reference/pvu/README.md`, "How x86 rows are selected"; counting-rules.md §3 item 3).
//!
//! The vendor spellings accepted are those that `openlmt-scanpkg`'s `normalize_vendor` produces
//! (`GenuineIntel`, `AuthenticAMD`, `IBM`, ARM implementer names) plus their plain forms, so the
//! output of `scanpkg::capacity::derive_capacity` can be passed in unchanged.
//!
//! Intel model numbers come in two namings, and the difference matters for the table:
//! * **plain** (before the 2012 E3/E5/E7 product lines): four digits, alone (`Xeon 5160`) or
//!   after one letter `X`, `E`, `L` or `W` (`X5650`, `E5540`, `L5640`, `W3520`, `E7520`). The
//!   letter is a power class, not a product line, and is stripped: `E5540` is model 5540.
//! * **product line** (`E5-2697 v2`, `E3-1230`, `W-2145`, `Gold 6130`, `Platinum 8380`): the
//!   line is kept beside the number, and a plain numeric range in a table row never matches such
//!   a processor (counting-rules.md §3.1: the historical ranges "must not match modern names such
//!   as Xeon Gold 5218 or E5-2650").
//!
//! Anything else (a number with a letter suffix such as Xeon 6's `6980P`, an unnamed
//! `Intel(R) Xeon(R) Processor` as some hypervisors expose) keeps what can be read and has no
//! plain number, so only a table row that names its product line, or none, can match it.

use serde::{Deserialize, Serialize};

/// Processor vendor as far as PVU rows care.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum CpuVendor {
    /// Intel (`GenuineIntel`).
    Intel,
    /// AMD (`AuthenticAMD`).
    Amd,
    /// IBM POWER / PowerPC.
    IbmPower,
    /// An ARM design (any implementer).
    Arm,
    /// Another vendor, as reported.
    Other(String),
    /// No vendor could be read.
    Unknown,
}

impl CpuVendor {
    /// The vendor word used in PVU table rows (`Intel`, `AMD`, `IBM`, `ARM`).
    pub fn table_name(&self) -> &str {
        match self {
            CpuVendor::Intel => "Intel",
            CpuVendor::Amd => "AMD",
            CpuVendor::IbmPower => "IBM",
            CpuVendor::Arm => "ARM",
            CpuVendor::Other(s) => s,
            CpuVendor::Unknown => "unknown",
        }
    }
}

/// What could be read from a processor's vendor and brand strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorId {
    /// Vendor.
    pub vendor: CpuVendor,
    /// Brand family: `Xeon`, `Core`, `Pentium`, `Celeron`, `Atom`, `EPYC`, `Opteron`, `Athlon`,
    /// `Ryzen`, `POWER7` … `POWER11`; `None` when the brand names none.
    pub family: Option<String>,
    /// Product line or metal tier: `E3`, `E5`, `E7`, `W`, `D`, `Bronze`, `Silver`, `Gold`,
    /// `Platinum`, `i3`/`i5`/`i7`/`i9`; `None` for the plain naming.
    pub line: Option<String>,
    /// Processor model number (`5650`, `2697`, `6130`, `7763`), when the brand shows one.
    pub model_number: Option<u32>,
    /// The model number when it is in the plain naming (no product line, no suffix), which is
    /// the only kind that an unprefixed numeric range of a PVU table row matches.
    pub plain_model_number: Option<u32>,
    /// The power-class letter of the plain naming (`X`, `E`, `L`, `W`), stripped from the number.
    pub plain_prefix: Option<char>,
    /// Generation suffix `v2`, `v3`, `v4` of the E3/E5/E7 lines.
    pub version: Option<u32>,
    /// Cores per chip named by the brand (`Dual-Core` → 2, `Quad-Core` → 4, `64-Core` → 64).
    pub cores_per_chip_hint: Option<u32>,
    /// The brand string as given (whitespace squashed).
    pub brand: Option<String>,
}

impl ProcessorId {
    /// Short human description: `Intel Xeon E5-2697 v2`, `Intel Xeon 5540 (E5540)`, `IBM POWER7`.
    pub fn describe(&self) -> String {
        let mut s = self.vendor.table_name().to_string();
        if let Some(f) = &self.family {
            s.push(' ');
            s.push_str(f);
        }
        match (&self.line, self.model_number) {
            (Some(l), Some(n)) if matches!(l.as_str(), "E3" | "E5" | "E7" | "W" | "D") => {
                s.push_str(&format!(" {l}-{n}"))
            }
            (Some(l), Some(n)) => s.push_str(&format!(" {l} {n}")),
            (Some(l), None) => s.push_str(&format!(" {l}")),
            (None, Some(n)) => {
                s.push_str(&format!(" {n}"));
                if let Some(p) = self.plain_prefix {
                    s.push_str(&format!(" ({p}{n})"));
                }
            }
            (None, None) => {}
        }
        if let Some(v) = self.version {
            s.push_str(&format!(" v{v}"));
        }
        if self.family.is_none() && self.model_number.is_none() {
            if let Some(b) = &self.brand {
                s.push_str(&format!(" ({b})"));
            }
        }
        s
    }

    /// Whether enough is known to look a table row up: a vendor and a family.
    pub fn is_identified(&self) -> bool {
        !matches!(self.vendor, CpuVendor::Unknown) && self.family.is_some()
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn vendor_from(vendor: Option<&str>, brand_lower: &str) -> CpuVendor {
    let v = vendor
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let power_brand = power_family(brand_lower).is_some();
    if v == "genuineintel" || v == "intel" || v.starts_with("intel") {
        CpuVendor::Intel
    } else if v == "authenticamd" || v == "amd" || v.starts_with("advanced micro devices") {
        CpuVendor::Amd
    } else if v.starts_with("ibm") || power_brand {
        CpuVendor::IbmPower
    } else if v == "arm" || v.starts_with("arm ") || brand_lower.starts_with("armv") {
        CpuVendor::Arm
    } else if !v.is_empty() && v != "unknown" && v != "not specified" {
        // Other ARM implementers (Broadcom, Qualcomm, Ampere, Apple …) keep their name.
        CpuVendor::Other(vendor.map(|s| s.trim().to_string()).unwrap_or_default())
    } else if brand_lower.contains("intel") {
        CpuVendor::Intel
    } else if brand_lower.contains("amd") {
        CpuVendor::Amd
    } else {
        CpuVendor::Unknown
    }
}

/// `POWER7 (architected)`, `POWER8E (raw)`, `POWER 11`, `power9` → `POWER7`, `POWER8`,
/// `POWER11`, `POWER9`.
fn power_family(brand_lower: &str) -> Option<String> {
    let b = brand_lower.trim_start();
    let rest = b.strip_prefix("power")?;
    let rest = rest.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return None;
    }
    Some(format!("POWER{digits}"))
}

fn cores_hint(word_lower: &str) -> Option<u32> {
    let w = word_lower.strip_suffix("-core")?;
    match w {
        "single" => Some(1),
        "dual" => Some(2),
        "triple" => Some(3),
        "quad" => Some(4),
        "six" | "hexa" => Some(6),
        "eight" | "octa" => Some(8),
        "twelve" => Some(12),
        "sixteen" => Some(16),
        n => n.parse().ok(),
    }
}

fn leading_digits(s: &str) -> Option<(u32, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}

/// Identify a processor from its vendor and brand strings (either may be absent).
///
/// Never fails: what cannot be read stays `None`, and [`ProcessorId::is_identified`] says
/// whether a table lookup is possible.
pub fn identify(vendor: Option<&str>, brand: Option<&str>) -> ProcessorId {
    let brand_sq = brand.map(squash).filter(|b| !b.is_empty());
    let brand_str = brand_sq.clone().unwrap_or_default();
    let lower_full = brand_str.to_ascii_lowercase();
    let vendor_id = vendor_from(vendor, &lower_full);
    let mut id = ProcessorId {
        vendor: vendor_id,
        family: None,
        line: None,
        model_number: None,
        plain_model_number: None,
        plain_prefix: None,
        version: None,
        cores_per_chip_hint: None,
        brand: brand_sq,
    };
    if let Some(p) = power_family(&lower_full) {
        id.family = Some(p);
        id.vendor = CpuVendor::IbmPower;
        return id;
    }
    // Drop the frequency tail and trademark marks.
    let head = brand_str.split('@').next().unwrap_or("");
    let cleaned = head
        .replace("(R)", " ")
        .replace("(r)", " ")
        .replace("(TM)", " ")
        .replace("(tm)", " ")
        .replace(['®', '™'], " ");
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    for w in &words {
        if let Some(c) = cores_hint(&w.to_ascii_lowercase()) {
            id.cores_per_chip_hint = Some(c);
        }
    }
    let significant: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| {
            let l = w.to_ascii_lowercase();
            !(l == "cpu"
                || l == "processor"
                || l == "intel"
                || l == "amd"
                || l.ends_with("-core")
                || l.ends_with("ghz")
                || l.ends_with("mhz"))
        })
        .collect();
    let families: &[(&str, &str)] = &[
        ("xeon", "Xeon"),
        ("core", "Core"),
        ("pentium", "Pentium"),
        ("celeron", "Celeron"),
        ("atom", "Atom"),
        ("epyc", "EPYC"),
        ("opteron", "Opteron"),
        ("athlon", "Athlon"),
        ("ryzen", "Ryzen"),
        ("phenom", "Phenom"),
        ("turion", "Turion"),
    ];
    let mut fam_at = None;
    for (i, w) in significant.iter().enumerate() {
        let l = w.to_ascii_lowercase();
        if let Some((_, name)) = families.iter().find(|(k, _)| l == *k) {
            id.family = Some((*name).to_string());
            fam_at = Some(i);
            break;
        }
    }
    if id.family.is_none() && matches!(id.vendor, CpuVendor::Arm) {
        return id;
    }
    let Some(at) = fam_at else {
        return id;
    };
    // A brand without a vendor word (`Xeon(R) Gold 6130`): the family names the vendor.
    if id.vendor == CpuVendor::Unknown {
        id.vendor = match id.family.as_deref() {
            Some("EPYC" | "Opteron" | "Athlon" | "Ryzen" | "Phenom" | "Turion") => CpuVendor::Amd,
            _ => CpuVendor::Intel,
        };
    }
    let rest = &significant[at + 1..];
    let family = id.family.clone().unwrap_or_default();
    if family == "Xeon" {
        parse_xeon(rest, &mut id);
    } else if family == "Core" {
        if let Some(first) = rest.first() {
            let l = first.to_ascii_lowercase();
            if matches!(l.as_str(), "i3" | "i5" | "i7" | "i9") {
                id.line = Some(l);
            }
        }
    } else if let Some(first) = rest.first() {
        // AMD and the other families: the first number that follows is the model number.
        if let Some((n, tail)) = leading_digits(first) {
            id.model_number = Some(n);
            if tail.is_empty() && matches!(family.as_str(), "Opteron" | "Athlon") {
                id.plain_model_number = Some(n);
            }
        }
    }
    id
}

fn parse_xeon(rest: &[&str], id: &mut ProcessorId) {
    let mut i = 0;
    while i < rest.len() {
        let w = rest[i];
        let l = w.to_ascii_lowercase();
        if matches!(
            l.as_str(),
            "bronze" | "silver" | "gold" | "platinum" | "max"
        ) {
            let mut tier = l.clone();
            tier[..1].make_ascii_uppercase();
            id.line = Some(tier);
            if let Some(next) = rest.get(i + 1) {
                if let Some((n, _)) = leading_digits(next) {
                    id.model_number = Some(n);
                }
            }
            return;
        }
        // E3-1230, E5-2697, E7-8880, W-2145, D-1541 (product lines).
        if let Some((line, num)) = w.split_once('-') {
            let lu = line.to_ascii_uppercase();
            if matches!(lu.as_str(), "E3" | "E5" | "E7" | "W" | "D") {
                if let Some((n, _)) = leading_digits(num) {
                    id.line = Some(lu);
                    id.model_number = Some(n);
                    for v in &rest[i + 1..] {
                        let vl = v.to_ascii_lowercase();
                        if let Some(d) = vl.strip_prefix('v') {
                            if let Ok(ver) = d.parse() {
                                id.version = Some(ver);
                            }
                        }
                    }
                    return;
                }
            }
        }
        // Plain naming: X5650, E5540, L5640, W3520, E7520 or a bare 5160.
        let mut chars = w.chars();
        if let Some(first) = chars.next() {
            let tail = chars.as_str();
            let up = first.to_ascii_uppercase();
            if matches!(up, 'X' | 'E' | 'L' | 'W')
                && tail.len() == 4
                && tail.chars().all(|c| c.is_ascii_digit())
            {
                if let Ok(n) = tail.parse() {
                    id.model_number = Some(n);
                    id.plain_model_number = Some(n);
                    id.plain_prefix = Some(up);
                    return;
                }
            }
        }
        if w.len() == 4 && w.chars().all(|c| c.is_ascii_digit()) {
            if let Ok(n) = w.parse() {
                id.model_number = Some(n);
                id.plain_model_number = Some(n);
                return;
            }
        }
        if let Some((n, _)) = leading_digits(w) {
            // A number with a suffix (Xeon 6 `6980P`): keep the number, no plain match.
            id.model_number = Some(n);
            return;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_naming_strips_the_letter() {
        let p = identify(
            Some("GenuineIntel"),
            Some("Intel(R) Xeon(R) CPU X5650 @ 2.67GHz"),
        );
        assert_eq!(p.family.as_deref(), Some("Xeon"));
        assert_eq!(p.plain_model_number, Some(5650));
        assert_eq!(p.plain_prefix, Some('X'));
        assert_eq!(p.line, None);
        let p = identify(None, Some("Intel(R) Xeon(R) CPU E5540 @ 2.53GHz"));
        assert_eq!(p.vendor, CpuVendor::Intel);
        assert_eq!(p.plain_model_number, Some(5540));
    }

    #[test]
    fn product_lines_keep_the_line() {
        let p = identify(
            Some("GenuineIntel"),
            Some("Intel(R) Xeon(R) CPU E5-2697 v2 @ 2.70GHz"),
        );
        assert_eq!(p.line.as_deref(), Some("E5"));
        assert_eq!(p.model_number, Some(2697));
        assert_eq!(p.version, Some(2));
        assert_eq!(p.plain_model_number, None);
        assert_eq!(p.describe(), "Intel Xeon E5-2697 v2");
        let p = identify(
            Some("GenuineIntel"),
            Some("Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"),
        );
        assert_eq!(p.line.as_deref(), Some("Gold"));
        assert_eq!(p.model_number, Some(6130));
        assert_eq!(p.plain_model_number, None);
        // Without the vendor word or vendor string.
        let p = identify(None, Some("Xeon(R) CPU E5-2697 v2"));
        assert_eq!(p.vendor, CpuVendor::Intel);
        assert_eq!(
            (p.line.as_deref(), p.model_number, p.version),
            (Some("E5"), Some(2697), Some(2))
        );
        let p = identify(None, Some("Xeon(R) Gold 6130"));
        assert_eq!(
            (p.line.as_deref(), p.model_number),
            (Some("Gold"), Some(6130))
        );
        assert!(p.is_identified());
    }

    #[test]
    fn power_and_amd() {
        let p = identify(Some("IBM"), Some("POWER8E (raw), altivec supported"));
        assert_eq!(p.vendor, CpuVendor::IbmPower);
        assert_eq!(p.family.as_deref(), Some("POWER8"));
        let p = identify(
            Some("AuthenticAMD"),
            Some("Dual-Core AMD Opteron(tm) Processor 2218"),
        );
        assert_eq!(p.family.as_deref(), Some("Opteron"));
        assert_eq!(p.model_number, Some(2218));
        assert_eq!(p.cores_per_chip_hint, Some(2));
        let p = identify(
            Some("AuthenticAMD"),
            Some("AMD EPYC 7763 64-Core Processor"),
        );
        assert_eq!(p.family.as_deref(), Some("EPYC"));
        assert_eq!(p.model_number, Some(7763));
        assert_eq!(p.plain_model_number, None);
        assert_eq!(p.cores_per_chip_hint, Some(64));
    }
}
