//! The storage interface: [`Storage`], the trait every database engine
//! implements, and [`Store`], what the other crates hold (a cheap handle to
//! the engine chosen at start-up).
//!
//! Why a trait object and `async_trait`: the engine is chosen at run time
//! (`--database-url`), so callers hold `dyn Storage`; Rust's native `async
//! fn` in traits is not object-safe (its futures have no nameable type), and
//! `async_trait` is the well-kept way to box them (one allocation per call,
//! nothing next to a database round trip). Engine internals (connections,
//! transactions, sqlx or rusqlite types) never appear in these signatures:
//! lists are streamed to object-safe sinks ([`RowSink`], [`RefRowSink`]),
//! the audit snapshot's reads go through [`AuditRead`], and the publish's
//! test seam is a boxed future.
//!
//! [`Store`] is a newtype rather than a bare `Arc<dyn Storage>` so that the
//! generic conveniences callers use (`query_list::<S>`, `stream_list::<S>`,
//! `publish_import_then` with any future, `server_instances` with any
//! closure) keep their signatures: they dispatch into the object-safe
//! methods, and every other method is reached through `Deref`.

use crate::{
    AuditCondition, AuditRow, AuditServerInstance, CatalogLayerRow, ClassifyRequest,
    ComputerFactSet, ComputerIdentity, ComputerRow, CurrentInstance, DeleteOutcome,
    DiscoveryTarget, ImportLogLine, ImportRow, InstanceChange, InstanceRef, InventoryCatalogInfo,
    LeftoverCounts, Leftovers, LicenseInputs, LicenseSnapshotWrite, NewInstance,
    NewScanPackageRecord, Principal, PublishOptions, Published, PublishedScanPackage,
    PvuOverrideRow, PvuTableRow, RawInstalledPackage, RawSwidTag, RefRowSink, Result, RowOutcome,
    RowSink, ScanPackageState, ScanPackageStateChange, ScanPackageWrite, ServerUsageRow,
    SessionInfo, SnapshotSummary, StepCounters, StepRow, StoreError, StoredScanPackage, StreamEnd,
    TokenInfo, TokenOwner, UsageCalculator, UsageRow, UserInfo, VmObservation, WriteTimes,
};
use chrono::{DateTime, NaiveDate, Utc};
use openlmt_domain::query::{Entity, Query};
use openlmt_domain::{ImportStatus, ImportType, PermissionSet, Trigger};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A future boxed for the interface that need not be `Send` (see
/// [`Storage::publish_import_then`]).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Every operation of the store, one implementation per database engine
/// ([`crate::SqliteStore`], and [`crate::PgStore`], which does not have
/// every method yet: see its module doc). Each method's contract is the one documented on
/// the SQLite implementation's method of the same name; the conformance
/// suite (`tests/conformance.rs`) holds every engine to it.
#[async_trait::async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// The engine's name, for logs and `/healthz` (`sqlite`, `postgres`).
    fn engine(&self) -> &'static str;
    /// A cheap liveness check.
    async fn ping(&self) -> Result<()>;
    /// The engine the import runner works through, opened from the
    /// runner's thread, or `None` to share this one. SQLite answers a second
    /// pool whose connection threads inherit the runner's low CPU priority
    /// (see `SqliteStore::import_twin`); PostgreSQL a second pool whose
    /// acquire timeout is the import's, longer than the API's (see
    /// `PgStore::import_twin`).
    async fn import_engine(&self) -> Result<Option<Arc<dyn Storage>>> {
        Ok(None)
    }
    /// When the database lives on a local file system that is full (or
    /// nearly), a sentence that says so and names it, to put beside a
    /// failed write's error: SQLite reports a full disk as "database or
    /// disk is full" or, when its WAL index cannot grow, as a bare "disk
    /// I/O error". `None` when there is space, or for a database server.
    fn space_problem(&self) -> Option<String> {
        None
    }

    // ---- several servers on one database (cluster.rs) ----
    /// Whether several servers may share this database (PostgreSQL): the
    /// engine then runs leases, heartbeats and the status poll.
    fn shared(&self) -> bool {
        false
    }
    /// Who this server is; set once at start-up, before any import.
    fn set_node(&self, node: crate::NodeConfig);
    /// Renews this node's lease on its active import `id`, and reads any
    /// cancel asked for on another node.
    async fn renew_lease(&self, id: i64) -> Result<crate::Lease>;
    /// Ends, as failed ("interrupted: node N stopped during the import"),
    /// every active import whose lease has passed; returns (id, node).
    async fn expire_leases(&self) -> Result<Vec<(i64, Option<String>)>>;
    /// Asks the node running import `id` to cancel it; `false` when it is
    /// not active.
    async fn request_cancel(&self, id: i64, reason: &str) -> Result<bool>;
    /// Ticks at every change of an import announced by the database
    /// (PostgreSQL's `LISTEN`), so that a node need not wait for its next
    /// poll; `None` where there is no such announcement (SQLite).
    fn watch_imports(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
    /// The light view each node polls (see `ClusterView`).
    async fn cluster_view(&self) -> Result<crate::ClusterView>;
    /// Sets meta `key` to `new` if it holds `old` (`None`: if it is
    /// absent); whether it did. The schedule's slot is claimed with it, so
    /// that one node of several fires it.
    async fn meta_replace(&self, key: &str, old: Option<&str>, new: &str) -> Result<bool>;

    // ---- users ----
    async fn user_count(&self) -> Result<i64>;
    async fn create_user(
        &self,
        name: &str,
        password: &str,
        permissions: PermissionSet,
    ) -> Result<UserInfo>;
    async fn user(&self, name: &str) -> Result<Option<UserInfo>>;
    async fn list_users(&self) -> Result<Vec<UserInfo>>;
    /// Removes a user and, with it, every token of that user.
    async fn remove_user(&self, name: &str) -> Result<bool>;
    /// Changes a password and ends the user's panel sessions. API tokens
    /// stay valid (revoke them apart with `openlmt token revoke`).
    async fn set_password(&self, name: &str, password: &str) -> Result<bool>;
    async fn set_permissions(&self, name: &str, permissions: PermissionSet) -> Result<bool>;
    /// Checks a user name and password. Costs one argon2 verification
    /// whether or not the user exists.
    async fn check_password(&self, name: &str, password: &str) -> Result<Option<Principal>>;
    /// Issues a new API token for a user and returns it; only its hash is
    /// kept. A user keeps at most [`TOKENS_PER_USER`] tokens.
    async fn issue_token(&self, user_id: i64) -> Result<String>;
    /// Resolves a token to its user, comparing the secret's hash in
    /// constant time. `None` for an unknown, revoked or malformed token.
    async fn resolve_token(&self, token: &str) -> Result<Option<Principal>>;
    /// Like [`Storage::resolve_token`], with the token's issue time. Whether
    /// a token is too old is the caller's rule (the server's
    /// `token_max_age`), not the store's.
    async fn resolve_token_owner(&self, token: &str) -> Result<Option<TokenOwner>>;
    async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>>;
    /// Revokes one token by its id (the first 16 characters of the token)
    /// or every token of a user. Returns how many were revoked.
    async fn revoke_tokens(&self, token_id: Option<&str>, user: Option<&str>) -> Result<u64>;

    // ---- sessions ----
    /// Opens a session for a user and returns its id (shown once: only its
    /// hash is kept). Also removes expired sessions.
    async fn create_session(&self, user_id: i64) -> Result<String>;
    /// The user of a live session, with the permissions it has now. `None`
    /// for an unknown, malformed or expired session (an expired one is
    /// deleted). Marks the session as used.
    async fn resolve_session(&self, id: &str) -> Result<Option<Principal>>;
    /// Like [`Store::resolve_session`], with the session's times, so that a
    /// cache can enforce [`SESSION_IDLE`] and [`SESSION_MAX_AGE`] itself.
    async fn resolve_session_info(&self, id: &str) -> Result<Option<SessionInfo>>;
    /// Records that a session was used at `at_ms` (never moves it back).
    async fn touch_session(&self, id: &str, at_ms: i64) -> Result<()>;
    /// Ends a session (logout). Returns whether it existed.
    async fn delete_session(&self, id: &str) -> Result<bool>;

    // ---- meta ----
    async fn meta_get(&self, key: &str) -> Result<Option<String>>;
    async fn meta_set(&self, key: &str, value: &str) -> Result<()>;
    /// A counter bumped by every change to users or tokens, so that a server
    /// caching credentials notices changes made by another process (the CLI).
    async fn auth_epoch(&self) -> Result<i64>;

    // ---- imports ----
    /// Registers a pending import. `Ok(None)` when another import is
    /// already pending or running (in this process or any other).
    async fn register_import(
        &self,
        import_type: ImportType,
        trigger: Trigger,
        requested_by: Option<&str>,
    ) -> Result<Option<ImportRow>>;
    async fn import(&self, id: i64) -> Result<Option<ImportRow>>;
    async fn active_import(&self) -> Result<Option<ImportRow>>;
    /// The most recently finished import, and the most recent successful one.
    async fn last_finished(&self) -> Result<(Option<ImportRow>, Option<ImportRow>)>;
    /// Whether any import was ever registered here (history retention may
    /// have deleted its row since, so this is remembered apart).
    async fn any_import_ever(&self) -> Result<bool>;
    /// Moves a pending import to running; false if it is no longer pending
    /// (e.g. cancelled meanwhile).
    async fn mark_running(&self, id: i64) -> Result<bool>;
    async fn set_progress(&self, id: i64, progress: u8) -> Result<()>;
    async fn start_step(&self, id: i64, position: i64, name: &str) -> Result<()>;
    /// Saves a step's counters; `finished` also stamps its end.
    async fn save_step(
        &self,
        id: i64,
        position: i64,
        c: StepCounters,
        finished: bool,
    ) -> Result<()>;
    async fn import_steps(&self, id: i64) -> Result<Vec<StepRow>>;
    /// Records what an import saw, in one transaction per batch.
    async fn record_scan_packages(&self, id: i64, batch: &[NewScanPackageRecord]) -> Result<()>;
    /// Changes the state of packages an import recorded (e.g. rejected
    /// while reading), in one transaction.
    async fn set_scan_package_states(
        &self,
        id: i64,
        changes: &[ScanPackageStateChange],
    ) -> Result<()>;
    /// Packages one import recorded, optionally only those in one state.
    async fn import_scan_packages(
        &self,
        id: i64,
        state: Option<ScanPackageState>,
    ) -> Result<Vec<StoredScanPackage>>;
    /// The published packages of a data source: file name → (size, SHA-256).
    async fn published_scan_packages(
        &self,
        data_source: &str,
    ) -> Result<HashMap<String, PublishedScanPackage>>;
    /// Publishes a running import in one transaction: its new packages
    /// become part of the registry and it becomes `successful`. Returns
    /// false (and changes nothing) when the import is no longer active.
    async fn publish_import(&self, id: i64, opts: PublishOptions) -> Result<bool>;
    /// Ends an active import as failed or cancelled, keeping its progress.
    async fn end_import(&self, id: i64, status: ImportStatus, error: Option<&str>) -> Result<()>;
    /// Marks every import left active by a stopped server as failed with
    /// [`INTERRUPTED`]. Only call it while no other server uses the
    /// database. Returns the ids it marked.
    async fn recover_interrupted(&self) -> Result<Vec<i64>>;
    /// A page of the history, newest first, with the total count.
    async fn list_imports(&self, limit: i64, offset: i64) -> Result<(i64, Vec<ImportRow>)>;
    /// Deletes finished imports beyond the newest `keep` and returns their ids.
    /// Their log lines go with them.
    async fn prune_imports(&self, keep: i64) -> Result<Vec<i64>>;
    /// Stores import log lines (of any imports) in one transaction, in the
    /// given order; a line of an import that does not exist is dropped
    /// (not an error). Returns how many lines were stored.
    async fn append_import_log(&self, lines: &[ImportLogLine]) -> Result<u64>;
    /// An import's log lines, in the order they were stored; empty for an
    /// import without lines in the database.
    async fn import_log(&self, import_id: i64) -> Result<Vec<ImportLogLine>>;
    /// Deletes what finished imports left behind: the facts superseded by
    /// every publish whose clean-up did not run or did not finish (a crash
    /// right after the publish, an error), the facts and staged values of
    /// imports that ended without publishing, and, while no import is
    /// active, the computer rows no publish ever made visible. The active
    /// import's rows are never touched. Nothing visible changes; it is
    /// idempotent, and safe to call at any time.
    async fn clean_leftovers(&self) -> Result<Leftovers>;
    /// How many fact rows (package and SWID) an import wrote and still has,
    /// for checks and tests: it reads both fact tables whole (the index
    /// leads with the computer), so the engine never calls it.
    async fn import_fact_count(&self, import_id: i64) -> Result<u64>;
    /// Counts what no one sees and no active import owns (what
    /// [`Store::clean_leftovers`] exists to delete), for checks and tests.
    /// Reads every fact row: not for a hot path.
    async fn leftover_counts(&self) -> Result<LeftoverCounts>;

    // ---- inventory ----
    /// Ids of many endpoints at once (one transaction), creating invisible
    /// computer rows for new ones. Keys are (data source, endpoint id).
    async fn computer_ids(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), i64>>;
    /// Scan time (Unix ms) of the facts published for each endpoint of a
    /// data source.
    async fn published_scan_times(&self, data_source: &str) -> Result<HashMap<String, i64>>;
    /// The digest of each computer's published facts (`ScanPackage::facts_digest`
    /// of the package they were read from), for those of `computer_ids` that
    /// have one. A package with the same digest need not be parsed for its
    /// facts, nor its facts written: its computer keeps the published ones
    /// (`StagedComputer::facts_kept`).
    async fn published_facts_digests(&self, computer_ids: &[i64]) -> Result<HashMap<i64, String>>;
    /// Writes the facts of several packages in one transaction, and says
    /// how long each kind of row took.
    ///
    /// This is the import's hot path (millions of rows): the rows go through
    /// prepared statements of the same SQLite connection, borrowed from sqlx
    /// with [`sqlx::sqlite::SqliteConnection::lock_handle`] for the length of
    /// the batch, inside the transaction sqlx began. Binding through sqlx
    /// instead cost more CPU than SQLite's own work (every value copied into
    /// an owned argument list and sent to sqlx's worker thread).
    ///
    /// The batch commits with `synchronous = NORMAL` (no fsync of the WAL
    /// per batch): staged facts need no durability of their own, since
    /// nothing reads them before the publish, an import that does not reach
    /// its publish is failed and its staged rows discarded, and the publish
    /// commits with `synchronous = FULL`, whose fsync of the WAL also makes
    /// every earlier frame durable. The connection goes back to the pool
    /// with `FULL`, or is closed if that cannot be restored.
    async fn write_scan_packages(
        &self,
        import_id: i64,
        batch: &[ScanPackageWrite],
    ) -> Result<WriteTimes>;
    /// Copies what the write-ahead log holds into the database file, as far
    /// as it can without waiting for or blocking anyone
    /// (`PRAGMA wal_checkpoint(PASSIVE)`). The import calls it from the
    /// server's runtime while its batches commit without checkpointing, so
    /// that copying and flushing pages overlaps with writing new ones.
    async fn checkpoint_passive(&self) -> Result<()>;
    /// Deletes what an unpublished (failed, cancelled, interrupted) import
    /// wrote; returns the fact rows deleted. Nothing visible changes.
    async fn discard_import_facts(&self, import_id: i64) -> Result<u64>;
    /// After a publish: deletes the facts that the published import
    /// superseded (recorded by the publish), a few hundred computers per
    /// transaction, by exact (computer, import) index matches.
    async fn delete_superseded_facts(&self, import_id: i64) -> Result<u64>;
    /// Published VM-manager observations made in `[from_ms, to_ms)` (Unix
    /// ms), in time order (then reporting computer, then id), each with its
    /// guests in the order the scan listed them. A host seen with no guest
    /// is an observation with an empty `guests`.
    async fn vm_observations_between(&self, from_ms: i64, to_ms: i64)
        -> Result<Vec<VmObservation>>;
    /// Every published computer's hardware identity and raw capacity
    /// (decommissioned ones included, flagged), by id.
    async fn computer_identities(&self) -> Result<Vec<ComputerIdentity>>;

    // ---- inventory_query ----
    /// The computers of the inventory matching `q`: their total, and the
    /// page `q` asks for.
    async fn query_computers(&self, q: &Query) -> Result<(i64, Vec<ComputerRow>)>;
    /// The raw package facts of the visible computers matching `q`.
    async fn query_installed_packages(&self, q: &Query) -> Result<(i64, Vec<RawInstalledPackage>)>;
    /// The raw SWID tags of the visible computers matching `q`.
    async fn query_swid_facts(&self, q: &Query) -> Result<(i64, Vec<RawSwidTag>)>;
    /// Marks the visible computer with `endpoint_id` (in `data_source`, if
    /// given) deleted: it stays in the database and in the lists, with
    /// `is_deleted` set. Marking a deleted computer again keeps its first
    /// `deleted_at`.
    async fn decommission_computer(
        &self,
        endpoint_id: &str,
        data_source: Option<&str>,
    ) -> Result<DeleteOutcome>;

    // ---- software ----
    /// The operator's catalog layer, if one was set.
    async fn operator_catalog(&self) -> Result<Option<CatalogLayerRow>>;
    /// Replaces the operator's catalog layer (the caller validated it
    /// whole). Takes effect at the next complete import.
    async fn set_operator_catalog(
        &self,
        catalog_version: &str,
        document: &str,
        set_by: &str,
    ) -> Result<CatalogLayerRow>;
    /// The catalog the software inventory was last discovered with.
    async fn inventory_catalog(&self) -> Result<Option<InventoryCatalogInfo>>;
    /// The computers a complete import must (re-)discover: those it staged
    /// and every published one whose facts changed since their last
    /// discovery (a raw-data-only import published new facts without
    /// discovering them), or every one when `all` (the catalog changed).
    /// Sorted by computer id.
    async fn discovery_targets(&self, import_id: i64, all: bool) -> Result<Vec<DiscoveryTarget>>;
    /// The facts of several computers (each at its facts import), read in
    /// one snapshot, in the order of `targets`.
    async fn computer_fact_sets(&self, targets: &[DiscoveryTarget])
        -> Result<Vec<ComputerFactSet>>;
    /// The stored instances of these computers, present or not, by computer.
    async fn current_instances(
        &self,
        computer_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<CurrentInstance>>>;
    /// Drops the instances' product index: while a discovery inserts
    /// millions of new instances (a first import, a changed catalog), each
    /// insert would touch a random page of it; building it once afterwards
    /// ([`Store::ensure_instance_indexes`]) costs a fraction of that. Only
    /// read speed depends on it, never a result.
    async fn drop_instance_product_index(&self) -> Result<()>;
    /// Creates the instances' product index if it is missing (after a bulk
    /// discovery, or at start-up when a crash came between its drop and its
    /// creation).
    async fn ensure_instance_indexes(&self) -> Result<()>;
    /// Marks the import's discovery as unpublished before it inserts any
    /// instance: its new rows stay invisible until its publish (or are
    /// deleted by the clean-up if it never publishes).
    async fn begin_discovery(&self, import_id: i64) -> Result<()>;
    /// Writes what discovery found on `targets`: the instances found for
    /// the first time (inserted, invisible until the publish, see
    /// [`Store::begin_discovery`]) and the changes to stored instances
    /// (staged for the publish).
    async fn stage_discovery(
        &self,
        import_id: i64,
        targets: &[DiscoveryTarget],
        new: &[NewInstance],
        changes: &[InstanceChange],
    ) -> Result<()>;
    /// Deletes what the discovery of imports that are not active left (a
    /// failed, cancelled or crashed import): their staged changes and the
    /// instances they inserted, by id range. Returns the rows deleted.
    async fn discard_unpublished_discovery(&self) -> Result<u64>;
    /// Rows that unpublished discoveries of imports no longer active left
    /// (zero once cleaned), for checks and tests.
    async fn unpublished_discovery_rows(&self) -> Result<u64>;

    // ---- classification ----
    /// Applies classification rows in order, in one transaction (rolled
    /// back when `simulate`). A row that is invalid changes nothing; the
    /// others still apply. `rows` pairs each target with its request; a
    /// row the caller could not even read comes as `Err(reason)`.
    async fn classify(
        &self,
        user: &str,
        rows: &[std::result::Result<(InstanceRef, ClassifyRequest), String>],
        simulate: bool,
    ) -> Result<Vec<RowOutcome>>;

    // ---- license ----
    /// Gives the store the licence arithmetic. Until it has one, publishes
    /// store snapshots but compute no values (only the storage crate's own
    /// tests run so).
    fn set_usage_calculator(&self, calc: Arc<dyn UsageCalculator>);
    /// The computers and VM-manager observations a complete import's
    /// licence step resolves the hierarchy from, as they will be once the
    /// import publishes: published computers not deleted (nor about to be:
    /// last seen before `stale_before_ms`), with this import's staged
    /// values; observations published or written by this import, made at or
    /// after `since_ms`.
    async fn license_inputs(
        &self,
        import_id: i64,
        since_ms: i64,
        stale_before_ms: Option<i64>,
    ) -> Result<LicenseInputs>;
    /// The operator's PVU table, when one is set.
    async fn operator_pvu_table(&self) -> Result<Option<PvuTableRow>>;
    /// Replaces the operator's PVU table (the caller validated it whole).
    async fn set_operator_pvu_table(&self, version: &str, document: &str, by: &str) -> Result<()>;
    /// Removes the operator's PVU table (the bundled one applies again);
    /// whether there was one.
    async fn clear_operator_pvu_table(&self) -> Result<bool>;
    /// Every rate override.
    async fn pvu_overrides(&self) -> Result<Vec<PvuOverrideRow>>;
    /// Sets the rate of the server a computer is; `false` when no visible
    /// computer has that id.
    async fn set_pvu_override(
        &self,
        computer_id: i64,
        pvu_per_core: i64,
        comment: &str,
        by: &str,
    ) -> Result<bool>;
    /// Whether a published computer has this id.
    async fn computer_visible(&self, computer_id: i64) -> Result<bool>;
    /// Removes a server's override; whether there was one.
    async fn delete_pvu_override(&self, computer_id: i64) -> Result<bool>;
    /// The latest published snapshot's summary, if any.
    async fn latest_license_summary(&self) -> Result<Option<SnapshotSummary>>;
    /// Writes an import's snapshot, invisible until its publish.
    async fn write_license_snapshot(
        &self,
        import_id: i64,
        snap: &LicenseSnapshotWrite,
    ) -> Result<()>;
    /// Deletes the snapshots of imports that are not active and never
    /// published (a failed, cancelled or crashed import). Returns the rows
    /// deleted.
    async fn discard_unpublished_license_snapshots(&self) -> Result<u64>;
    /// The peak of every product and metric over the days `from..=to`
    /// (the earliest day on a tie), ordered as ILMT orders them: by
    /// metric, then product number.
    async fn license_usage(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>>;
    /// Every product's value on every server on `day`, with the server as
    /// the snapshot that gave the value saw it.
    async fn license_usage_per_server(&self, day: NaiveDate) -> Result<Vec<ServerUsageRow>>;
    /// The per-server values of one product and metric on `day`, with their
    /// explanations (the "explain a number" API).
    async fn license_explain(
        &self,
        day: NaiveDate,
        product_id: &str,
        metric: &str,
    ) -> Result<Vec<ServerUsageRow>>;
    /// The daily values of products between two days, in day order (the
    /// chart and the audit snapshot).
    async fn license_product_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, i64)>>;
    // ---- imports: the publish's test seam ----
    /// Publishes an import like `publish_import`, awaiting `before_commit`
    /// inside the transaction, after its last statement and before its
    /// commit (the engine's test seams pause or panic there).
    ///
    /// Not `Send` (written out rather than by `async_trait`): the engine's
    /// steps hold their state by reference, and the seam borrows it.
    fn publish_import_then<'a>(
        &'a self,
        id: i64,
        opts: PublishOptions,
        before_commit: LocalBoxFuture<'a, ()>,
    ) -> LocalBoxFuture<'a, Result<Option<Published>>>;

    // ---- lists ----
    /// Counts the matches of `q` and hands the total, then each row of its
    /// page, to the sink as the database yields them, from one snapshot;
    /// stops when the sink says so. Callers use [`Store::stream_list`].
    async fn stream_any_list(&self, q: &Query, sink: ListSink<'_>) -> Result<StreamEnd>;
    /// [`Storage::stream_any_list`] for a list read in place (rows borrowed
    /// by the sink). Callers use [`Store::stream_list_ref`].
    async fn stream_any_list_ref(&self, q: &Query, sink: RefListSink<'_>) -> Result<StreamEnd>;

    // ---- audit snapshot ----
    /// Starts the reads of an audit snapshot: one read transaction.
    async fn audit_reader(&self) -> Result<AuditReader>;
}

/// A list the interface can read: its row type and domain list. Engine
/// neutral; each engine knows how to read each list (the SQLite engine's
/// SQL is its `ListSource`).
pub trait List: Send + 'static {
    /// What one result row becomes.
    type Row: Send + 'static;
    /// The domain list whose fields this list serves.
    const ENTITY: Entity;
    /// Names this list's sink for the engine ([`ListSink`]).
    fn sink(s: &mut dyn RowSink<Self::Row>) -> ListSink<'_>;
}

/// A list whose rows can be read in place, borrowed from the engine's
/// result row.
pub trait RefList: List {
    /// One result row, borrowed.
    type RowRef<'r>;
    /// Names this list's sink for the engine ([`RefListSink`]).
    fn ref_sink(s: &mut dyn RefRowSink<Self>) -> RefListSink<'_>;
}

/// A sink of one of the lists: how [`Storage::stream_any_list`] knows which
/// list to read, with the sink typed by the list's row.
pub enum ListSink<'a> {
    Computers(&'a mut dyn RowSink<ComputerRow>),
    InstalledPackages(&'a mut dyn RowSink<RawInstalledPackage>),
    SwidTags(&'a mut dyn RowSink<RawSwidTag>),
    SoftwareInstances(&'a mut dyn RowSink<crate::SoftwareInstanceRow>),
    SoftwareComponents(&'a mut dyn RowSink<crate::SoftwareComponentRow>),
    BundlingOptions(&'a mut dyn RowSink<crate::BundlingOptionRow>),
    ClassificationAudit(&'a mut dyn RowSink<AuditRow>),
    LicenseServerUsage(&'a mut dyn RowSink<ServerUsageRow>),
}

/// A sink of one of the lists read in place (see [`ListSink`]).
pub enum RefListSink<'a> {
    SoftwareInstances(&'a mut dyn RefRowSink<crate::SoftwareInstanceList>),
}

macro_rules! list {
    ($list:ty, $row:ty, $entity:ident, $variant:ident) => {
        impl List for $list {
            type Row = $row;
            const ENTITY: Entity = Entity::$entity;
            fn sink(s: &mut dyn RowSink<$row>) -> ListSink<'_> {
                ListSink::$variant(s)
            }
        }
    };
}
list!(crate::ComputerList, ComputerRow, Computers, Computers);
list!(
    crate::InstalledPackageList,
    RawInstalledPackage,
    InstalledPackages,
    InstalledPackages
);
list!(crate::SwidTagList, RawSwidTag, SwidTags, SwidTags);
list!(
    crate::SoftwareInstanceList,
    crate::SoftwareInstanceRow,
    SoftwareInstances,
    SoftwareInstances
);
list!(
    crate::SoftwareComponentList,
    crate::SoftwareComponentRow,
    SoftwareComponents,
    SoftwareComponents
);
list!(
    crate::BundlingOptionList,
    crate::BundlingOptionRow,
    BundlingOptions,
    BundlingOptions
);
list!(
    crate::ClassificationAuditList,
    AuditRow,
    ClassificationAudit,
    ClassificationAudit
);
list!(
    crate::LicenseServerUsageList,
    ServerUsageRow,
    LicenseServerUsage,
    LicenseServerUsage
);

impl RefList for crate::SoftwareInstanceList {
    type RowRef<'r> = crate::SoftwareInstanceRef<'r>;
    fn ref_sink(s: &mut dyn RefRowSink<Self>) -> RefListSink<'_> {
        RefListSink::SoftwareInstances(s)
    }
}

/// The reads of one audit snapshot in one read transaction (one consistent
/// state of the data; dropping the reader ends it). The large parts are
/// handed to a callback row by row. Callers use [`AuditReader`].
#[async_trait::async_trait]
pub trait AuditRead: Send {
    /// `license_usage`, in this reader's snapshot.
    async fn license_usage(&mut self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>>;
    /// `license_product_days`, in this reader's snapshot.
    async fn license_product_days(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, i64)>>;
    /// `inventory_catalog`, in this reader's snapshot.
    async fn inventory_catalog(&mut self) -> Result<Option<InventoryCatalogInfo>>;
    /// The last successful import, in this reader's snapshot.
    async fn last_successful_import(&mut self) -> Result<Option<ImportRow>>;
    /// The server rows of a product's day with their computers and
    /// instances, each handed to `each`; returns how many.
    async fn server_instances(
        &mut self,
        day: NaiveDate,
        product_id: &str,
        metric: &str,
        full_metric: &str,
        each: &mut (dyn FnMut(AuditServerInstance) -> std::io::Result<()> + Send),
    ) -> Result<u64>;
    /// The classification audit trail of a period, each row handed to
    /// `each`; returns how many.
    async fn audit_trail_between(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        each: &mut (dyn FnMut(AuditRow) -> std::io::Result<()> + Send),
    ) -> Result<u64>;
    /// The condition of the data in a period.
    async fn condition(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        stale_before: Option<DateTime<Utc>>,
    ) -> Result<AuditCondition>;
}

/// An engine's [`AuditRead`], with the callbacks taken as any closure.
pub struct AuditReader(Box<dyn AuditRead>);

impl AuditReader {
    pub fn new(engine: Box<dyn AuditRead>) -> AuditReader {
        AuditReader(engine)
    }

    pub async fn license_usage(&mut self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>> {
        self.0.license_usage(from, to).await
    }

    pub async fn license_product_days(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, i64)>> {
        self.0.license_product_days(from, to).await
    }

    pub async fn inventory_catalog(&mut self) -> Result<Option<InventoryCatalogInfo>> {
        self.0.inventory_catalog().await
    }

    pub async fn last_successful_import(&mut self) -> Result<Option<ImportRow>> {
        self.0.last_successful_import().await
    }

    pub async fn server_instances(
        &mut self,
        day: NaiveDate,
        product_id: &str,
        metric: &str,
        full_metric: &str,
        mut each: impl FnMut(AuditServerInstance) -> std::io::Result<()> + Send,
    ) -> Result<u64> {
        self.0
            .server_instances(day, product_id, metric, full_metric, &mut each)
            .await
    }

    pub async fn audit_trail_between(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        mut each: impl FnMut(AuditRow) -> std::io::Result<()> + Send,
    ) -> Result<u64> {
        self.0.audit_trail_between(from, to, &mut each).await
    }

    pub async fn condition(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        stale_before: Option<DateTime<Utc>>,
    ) -> Result<AuditCondition> {
        self.0.condition(from, to, stale_before).await
    }
}

/// Where the database is: the engine and its address, parsed from
/// `--database-url` (`sqlite:PATH`, `postgres://…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite database file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL server (the URL as given, which may hold a password:
    /// never log it whole).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses a database URL: `sqlite:PATH` (also `sqlite://PATH`) or
    /// `postgres://…`/`postgresql://…`. Anything else is refused with a
    /// message for the operator.
    pub fn parse(url: &str) -> Result<DatabaseUrl> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(StoreError::Invalid(
                    "the database URL sqlite: needs a file path (sqlite:/var/lib/openlmt/openlmt.db)"
                        .into(),
                ));
            }
            return Ok(DatabaseUrl::Sqlite(path.into()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        Err(StoreError::Invalid(
            "the database URL must start with sqlite: or postgres:// (or postgresql://)".into(),
        ))
    }

    /// The URL to show an operator: a PostgreSQL URL without its password
    /// (`postgres://user@host:5432/db`), an SQLite one as `sqlite:PATH`.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite:{}", path.display()),
            DatabaseUrl::Postgres(url) => redact_password(url),
        }
    }
}

/// `scheme://user:secret@host/db?…` without `:secret` and without the
/// query (which may hold a `password=` parameter), parsed as a URL; a URL
/// that does not parse is shown as its scheme alone, since where its
/// password ends cannot be told (an unencoded `/`, `?`, `#` or `@` in it).
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => {
            let scheme = url.split("://").next().unwrap_or_default();
            format!("{scheme}://(a URL that does not parse; not shown)")
        }
    }
}

/// The store: the engine chosen at start-up behind [`Storage`]. Cheap to
/// clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct Store(Arc<dyn Storage>);

impl std::ops::Deref for Store {
    type Target = dyn Storage;
    fn deref(&self) -> &(dyn Storage + 'static) {
        &*self.0
    }
}

impl Store {
    /// A store over an engine.
    pub fn new(engine: Arc<dyn Storage>) -> Store {
        Store(engine)
    }

    /// The engine, for code written against the interface (`&dyn Storage`).
    pub fn engine_ref(&self) -> &dyn Storage {
        &*self.0
    }

    /// Opens (creating if needed) the SQLite database at `path` and brings
    /// its schema up to date.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store> {
        Ok(Store(Arc::new(
            crate::SqliteStore::open_sqlite(path).await?,
        )))
    }

    /// Opens the database a [`DatabaseUrl`] names and brings its schema up
    /// to date: an SQLite file (made if missing) or a PostgreSQL database
    /// (which must exist; its tables are made by the migrations).
    pub async fn open(url: &DatabaseUrl) -> Result<Store> {
        match url {
            DatabaseUrl::Sqlite(path) => Store::open_sqlite(path).await,
            DatabaseUrl::Postgres(url) => Ok(Store(Arc::new(crate::PgStore::open(url).await?))),
        }
    }

    /// The store for the import runner (see [`Storage::import_engine`]):
    /// called from the runner's thread.
    pub async fn for_import(&self) -> Result<Store> {
        Ok(match self.0.import_engine().await? {
            Some(engine) => Store(engine),
            None => self.clone(),
        })
    }

    /// Counts the matches of `q` and reads its page, from one snapshot.
    pub async fn query_list<S: List>(&self, q: &Query) -> Result<(i64, Vec<S::Row>)> {
        let mut sink = VecSink {
            total: 0,
            rows: Vec::new(),
        };
        self.stream_list::<S>(q, &mut sink).await?;
        Ok((sink.total, sink.rows))
    }

    /// Counts the matches of `q` and hands the total, then each row of its
    /// page, to `sink` as the database yields them, from one snapshot;
    /// stops, ending the read, when the sink returns `false`.
    pub async fn stream_list<S: List>(
        &self,
        q: &Query,
        sink: &mut impl RowSink<S::Row>,
    ) -> Result<StreamEnd> {
        self.0.stream_any_list(q, S::sink(sink)).await
    }

    /// [`Store::stream_list`] for a list read in place: each row handed to
    /// the sink borrowed from the engine's result row.
    pub async fn stream_list_ref<S: RefList>(
        &self,
        q: &Query,
        sink: &mut impl RefRowSink<S>,
    ) -> Result<StreamEnd> {
        self.0.stream_any_list_ref(q, S::ref_sink(sink)).await
    }

    /// Publishes an import, awaiting `before_commit` inside the
    /// transaction before its commit (see [`Storage::publish_import_then`]).
    pub async fn publish_import_then(
        &self,
        id: i64,
        opts: PublishOptions,
        before_commit: impl Future<Output = ()>,
    ) -> Result<Option<Published>> {
        self.0
            .publish_import_then(id, opts, Box::pin(before_commit))
            .await
    }
}

/// Collects a page (see [`Store::query_list`]).
struct VecSink<T> {
    total: i64,
    rows: Vec<T>,
}

#[async_trait::async_trait]
impl<T: Send> RowSink<T> for VecSink<T> {
    async fn total(&mut self, total: i64) -> bool {
        self.total = total;
        true
    }
    async fn row(&mut self, row: T) -> bool {
        self.rows.push(row);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_shown_without_its_password() {
        let shown = |u: &str| DatabaseUrl::parse(u).unwrap().redacted();
        assert_eq!(
            shown("postgres://openlmt:s3cret@db.example:5432/openlmt?password=x"),
            "postgres://openlmt@db.example:5432/openlmt"
        );
        assert_eq!(
            shown("postgresql://postgres@127.0.0.1/test"),
            "postgresql://postgres@127.0.0.1/test"
        );
        assert_eq!(shown("postgres://h"), "postgres://h");
        assert_eq!(shown("sqlite:/var/lib/o.db"), "sqlite:/var/lib/o.db");
        // Unencoded characters that end a URL's parts, in the password:
        // nothing of it may show.
        for secret in ["pa?ss", "pa/ss", "pa#ss", "p@ss", "pa ss[x"] {
            let shown = shown(&format!("postgres://u:{secret}@h:5432/db"));
            assert!(!shown.contains("ss"), "{secret}: {shown}");
            assert!(shown.starts_with("postgres://"), "{shown}");
        }
    }
}
