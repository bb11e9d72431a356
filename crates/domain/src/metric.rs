//! The licence metrics values are reported in: ILMT's code names and
//! numeric ids (`metric_id` 3, 4, 7, 8 from live ILMT responses quoted in
//! ServiceNow KB1633842; see `counting-rules.md` §1). IBM's id of
//! `VIRTUAL_PROCESSOR_CORE` is not known: openlmt uses 10001 and documents it
//! as its own (docs/metrics.md).

/// The unit a product release is licensed in (the catalog's `metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LicenseUnit {
    Pvu,
    RvuMapc,
    Vpc,
}

impl LicenseUnit {
    /// The catalog's name of the unit.
    pub fn parse(s: &str) -> Option<LicenseUnit> {
        match s {
            "PVU" => Some(LicenseUnit::Pvu),
            "RVU_MAPC" => Some(LicenseUnit::RvuMapc),
            "VPC" => Some(LicenseUnit::Vpc),
            _ => None,
        }
    }
}

/// One reported metric: a unit at full or sub-capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportedMetric {
    /// ILMT's `metric_code_name`.
    pub code: &'static str,
    /// ILMT's `metric_id`.
    pub id: i64,
    /// A readable name (`metric_name`).
    pub name: &'static str,
    pub unit: LicenseUnit,
    /// Full capacity (`true`) or sub-capacity.
    pub full: bool,
}

/// Every reported metric, in the order ILMT lists them.
pub const REPORTED_METRICS: [ReportedMetric; 5] = [
    ReportedMetric {
        code: "PVU_FULL_CAP",
        id: 3,
        name: "Processor Value Unit (PVU), full capacity",
        unit: LicenseUnit::Pvu,
        full: true,
    },
    ReportedMetric {
        code: "PVU_SUB_CAP",
        id: 4,
        name: "Processor Value Unit (PVU), sub-capacity",
        unit: LicenseUnit::Pvu,
        full: false,
    },
    ReportedMetric {
        code: "RVU_FULL_CAP",
        id: 7,
        name: "Resource Value Unit (RVU MAPC), full capacity",
        unit: LicenseUnit::RvuMapc,
        full: true,
    },
    ReportedMetric {
        code: "RVU_SUB_CAP",
        id: 8,
        name: "Resource Value Unit (RVU MAPC), sub-capacity",
        unit: LicenseUnit::RvuMapc,
        full: false,
    },
    ReportedMetric {
        code: "VIRTUAL_PROCESSOR_CORE",
        id: 10001,
        name: "Virtual Processor Core (VPC)",
        unit: LicenseUnit::Vpc,
        full: false,
    },
];

impl ReportedMetric {
    pub fn by_code(code: &str) -> Option<&'static ReportedMetric> {
        REPORTED_METRICS.iter().find(|m| m.code == code)
    }
    pub fn by_id(id: i64) -> Option<&'static ReportedMetric> {
        REPORTED_METRICS.iter().find(|m| m.id == id)
    }
    /// The metrics a product licensed in `unit` is reported in (VPC: only
    /// sub-capacity, as ILMT reports it, `counting-rules.md` §2.3).
    pub fn for_unit(unit: LicenseUnit) -> impl Iterator<Item = &'static ReportedMetric> {
        REPORTED_METRICS.iter().filter(move |m| m.unit == unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_codes_are_unique_and_round_trip() {
        for m in &REPORTED_METRICS {
            assert_eq!(ReportedMetric::by_code(m.code), Some(m));
            assert_eq!(ReportedMetric::by_id(m.id), Some(m));
        }
        assert_eq!(ReportedMetric::for_unit(LicenseUnit::Pvu).count(), 2);
        assert_eq!(ReportedMetric::for_unit(LicenseUnit::Vpc).count(), 1);
        assert_eq!(LicenseUnit::parse("RVU_MAPC"), Some(LicenseUnit::RvuMapc));
        assert_eq!(LicenseUnit::parse("pvu"), None);
    }
}
