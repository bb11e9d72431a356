//! # openlmt-licensing
//!
//! The licence arithmetic of openlmt, with no I/O: everything here is a pure function over plain
//! data, testable on worked examples alone. Rules and their sources are described in
//! `docs/metrics.md`; each rule in the code cites a section of
//! `shared/reference/ilmt/counting-rules.md` or a file of `shared/reference/pvu/`.
//!
//! * [`pvu_table`]: the PVU table (bundled copy, operator CSV import, round-trip);
//! * [`processor`]: vendor / brand family / model number from processor strings;
//! * [`mod@rate`]: the PVU rate of a server and the reason for it;
//! * [`cloud`]: public-cloud recognition from DMI strings;
//! * [`uuid`]: SMBIOS UUIDs in either byte order;
//! * [`aggregate`]: servers, per-server full and sub-capacity, daily values and peaks for PVU,
//!   RVU MAPC and VPC, with explanations.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aggregate;
pub mod cloud;
mod csvtext;
pub mod processor;
pub mod pvu_table;
pub mod rate;
pub mod uuid;

pub use aggregate::{
    aggregate_days, compute_snapshot, evaluate, peak, product_peak, resolve, rvu_from_cores,
    Charge, Computer, DayUsage, Member, Metric, MetricId, Peak, Placement, ProductDay, Quantity,
    ResolvedServer, ServerDay, ServerKey, ServerKind, Snapshot, SnapshotUsage, Topology,
    VmPlacement,
};
pub use cloud::{recognise_cloud, CloudMatch, CloudProvider, DmiStrings};
pub use processor::{identify, CpuVendor, ProcessorId};
pub use pvu_table::{PvuTable, TableError, BUNDLED_VERSION};
pub use rate::{rate, DefaultReason, Rate, RateBasis, ServerFacts, SocketBasis};
pub use uuid::SmbiosUuid;
