//! The PostgreSQL engine's implementation of the storage interface: every
//! method delegates to [`PgStore`]'s own method of the same name (the SQL is
//! in the modules beside this one).

use super::audit_snapshot::PgAuditReader;
use super::PgStore;
use crate::storage::{AuditRead, AuditReader, ListSink, LocalBoxFuture, RefListSink, Storage};
use crate::{
    AuditCondition, AuditRow, AuditServerInstance, CatalogLayerRow, ClassifyRequest,
    ComputerFactSet, ComputerIdentity, ComputerRow, CurrentInstance, DeleteOutcome,
    DiscoveryTarget, ImportLogLine, ImportRow, InstanceChange, InstanceRef, InventoryCatalogInfo,
    LeftoverCounts, Leftovers, LicenseInputs, LicenseSnapshotWrite, NewInstance,
    NewScanPackageRecord, Principal, PublishOptions, Published, PublishedScanPackage,
    PvuOverrideRow, PvuTableRow, RawInstalledPackage, RawSwidTag, Result, RowOutcome,
    ScanPackageState, ScanPackageStateChange, ScanPackageWrite, ServerUsageRow, SessionInfo,
    SnapshotSummary, StepCounters, StepRow, StoredScanPackage, StreamEnd, TokenInfo, TokenOwner,
    UsageCalculator, UsageRow, UserInfo, VmObservation, WriteTimes,
};
use chrono::{DateTime, NaiveDate, Utc};
use openlmt_domain::query::Query;
use openlmt_domain::{ImportStatus, ImportType, PermissionSet, Trigger};
use std::collections::HashMap;
use std::sync::Arc;

#[async_trait::async_trait]
impl Storage for PgStore {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<()> {
        PgStore::ping(self).await
    }

    async fn import_engine(&self) -> Result<Option<Arc<dyn Storage>>> {
        Ok(Some(Arc::new(self.import_twin())))
    }

    fn publish_import_then<'a>(
        &'a self,
        id: i64,
        opts: PublishOptions,
        before_commit: LocalBoxFuture<'a, ()>,
    ) -> LocalBoxFuture<'a, Result<Option<Published>>> {
        Box::pin(PgStore::publish_import_then(self, id, opts, before_commit))
    }

    async fn stream_any_list(&self, q: &Query, sink: ListSink<'_>) -> Result<StreamEnd> {
        use crate::*;
        match sink {
            ListSink::Computers(s) => self.stream_list::<ComputerList>(q, s).await,
            ListSink::InstalledPackages(s) => self.stream_list::<InstalledPackageList>(q, s).await,
            ListSink::SwidTags(s) => self.stream_list::<SwidTagList>(q, s).await,
            ListSink::SoftwareInstances(s) => self.stream_list::<SoftwareInstanceList>(q, s).await,
            ListSink::SoftwareComponents(s) => {
                self.stream_list::<SoftwareComponentList>(q, s).await
            }
            ListSink::BundlingOptions(s) => self.stream_list::<BundlingOptionList>(q, s).await,
            ListSink::ClassificationAudit(s) => {
                self.stream_list::<ClassificationAuditList>(q, s).await
            }
            ListSink::LicenseServerUsage(s) => {
                self.stream_list::<LicenseServerUsageList>(q, s).await
            }
        }
    }

    async fn stream_any_list_ref(&self, q: &Query, sink: RefListSink<'_>) -> Result<StreamEnd> {
        match sink {
            RefListSink::SoftwareInstances(s) => self.stream_instances_ref(q, s).await,
        }
    }

    async fn audit_reader(&self) -> Result<AuditReader> {
        Ok(AuditReader::new(Box::new(
            PgStore::audit_reader(self).await?,
        )))
    }

    fn set_usage_calculator(&self, calc: Arc<dyn UsageCalculator>) {
        let _ = self.calc.set(calc);
    }

    fn shared(&self) -> bool {
        true
    }

    fn watch_imports(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(PgStore::watch_imports(self))
    }

    fn set_node(&self, node: crate::NodeConfig) {
        PgStore::set_node(self, node)
    }

    async fn renew_lease(&self, id: i64) -> Result<crate::Lease> {
        PgStore::renew_lease(self, id).await
    }

    async fn expire_leases(&self) -> Result<Vec<(i64, Option<String>)>> {
        PgStore::expire_leases(self).await
    }

    async fn request_cancel(&self, id: i64, reason: &str) -> Result<bool> {
        PgStore::request_cancel(self, id, reason).await
    }

    async fn cluster_view(&self) -> Result<crate::ClusterView> {
        PgStore::cluster_view(self).await
    }

    async fn meta_replace(&self, key: &str, old: Option<&str>, new: &str) -> Result<bool> {
        PgStore::meta_replace(self, key, old, new).await
    }

    async fn user_count(&self) -> Result<i64> {
        PgStore::user_count(self).await
    }
    async fn create_user(
        &self,
        name: &str,
        password: &str,
        permissions: PermissionSet,
    ) -> Result<UserInfo> {
        PgStore::create_user(self, name, password, permissions).await
    }
    async fn user(&self, name: &str) -> Result<Option<UserInfo>> {
        PgStore::user(self, name).await
    }
    async fn list_users(&self) -> Result<Vec<UserInfo>> {
        PgStore::list_users(self).await
    }
    async fn remove_user(&self, name: &str) -> Result<bool> {
        PgStore::remove_user(self, name).await
    }
    async fn set_password(&self, name: &str, password: &str) -> Result<bool> {
        PgStore::set_password(self, name, password).await
    }
    async fn set_permissions(&self, name: &str, permissions: PermissionSet) -> Result<bool> {
        PgStore::set_permissions(self, name, permissions).await
    }
    async fn check_password(&self, name: &str, password: &str) -> Result<Option<Principal>> {
        PgStore::check_password(self, name, password).await
    }
    async fn issue_token(&self, user_id: i64) -> Result<String> {
        PgStore::issue_token(self, user_id).await
    }
    async fn resolve_token(&self, token: &str) -> Result<Option<Principal>> {
        PgStore::resolve_token(self, token).await
    }
    async fn resolve_token_owner(&self, token: &str) -> Result<Option<TokenOwner>> {
        PgStore::resolve_token_owner(self, token).await
    }
    async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        PgStore::list_tokens(self, user).await
    }
    async fn revoke_tokens(&self, token_id: Option<&str>, user: Option<&str>) -> Result<u64> {
        PgStore::revoke_tokens(self, token_id, user).await
    }
    async fn create_session(&self, user_id: i64) -> Result<String> {
        PgStore::create_session(self, user_id).await
    }
    async fn resolve_session(&self, id: &str) -> Result<Option<Principal>> {
        PgStore::resolve_session(self, id).await
    }
    async fn resolve_session_info(&self, id: &str) -> Result<Option<SessionInfo>> {
        PgStore::resolve_session_info(self, id).await
    }
    async fn touch_session(&self, id: &str, at_ms: i64) -> Result<()> {
        PgStore::touch_session(self, id, at_ms).await
    }
    async fn delete_session(&self, id: &str) -> Result<bool> {
        PgStore::delete_session(self, id).await
    }
    async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        PgStore::meta_get(self, key).await
    }
    async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        PgStore::meta_set(self, key, value).await
    }
    async fn auth_epoch(&self) -> Result<i64> {
        PgStore::auth_epoch(self).await
    }
    async fn register_import(
        &self,
        import_type: ImportType,
        trigger: Trigger,
        requested_by: Option<&str>,
    ) -> Result<Option<ImportRow>> {
        PgStore::register_import(self, import_type, trigger, requested_by).await
    }
    async fn import(&self, id: i64) -> Result<Option<ImportRow>> {
        PgStore::import(self, id).await
    }
    async fn active_import(&self) -> Result<Option<ImportRow>> {
        PgStore::active_import(self).await
    }
    async fn last_finished(&self) -> Result<(Option<ImportRow>, Option<ImportRow>)> {
        PgStore::last_finished(self).await
    }
    async fn any_import_ever(&self) -> Result<bool> {
        PgStore::any_import_ever(self).await
    }
    async fn mark_running(&self, id: i64) -> Result<bool> {
        PgStore::mark_running(self, id).await
    }
    async fn set_progress(&self, id: i64, progress: u8) -> Result<()> {
        PgStore::set_progress(self, id, progress).await
    }
    async fn start_step(&self, id: i64, position: i64, name: &str) -> Result<()> {
        PgStore::start_step(self, id, position, name).await
    }
    async fn save_step(
        &self,
        id: i64,
        position: i64,
        c: StepCounters,
        finished: bool,
    ) -> Result<()> {
        PgStore::save_step(self, id, position, c, finished).await
    }
    async fn import_steps(&self, id: i64) -> Result<Vec<StepRow>> {
        PgStore::import_steps(self, id).await
    }
    async fn record_scan_packages(&self, id: i64, batch: &[NewScanPackageRecord]) -> Result<()> {
        PgStore::record_scan_packages(self, id, batch).await
    }
    async fn set_scan_package_states(
        &self,
        id: i64,
        changes: &[ScanPackageStateChange],
    ) -> Result<()> {
        PgStore::set_scan_package_states(self, id, changes).await
    }
    async fn import_scan_packages(
        &self,
        id: i64,
        state: Option<ScanPackageState>,
    ) -> Result<Vec<StoredScanPackage>> {
        PgStore::import_scan_packages(self, id, state).await
    }
    async fn published_scan_packages(
        &self,
        data_source: &str,
    ) -> Result<HashMap<String, PublishedScanPackage>> {
        PgStore::published_scan_packages(self, data_source).await
    }
    async fn publish_import(&self, id: i64, opts: PublishOptions) -> Result<bool> {
        PgStore::publish_import(self, id, opts).await
    }
    async fn end_import(&self, id: i64, status: ImportStatus, error: Option<&str>) -> Result<()> {
        PgStore::end_import(self, id, status, error).await
    }
    async fn recover_interrupted(&self) -> Result<Vec<i64>> {
        PgStore::recover_interrupted(self).await
    }
    async fn list_imports(&self, limit: i64, offset: i64) -> Result<(i64, Vec<ImportRow>)> {
        PgStore::list_imports(self, limit, offset).await
    }
    async fn prune_imports(&self, keep: i64) -> Result<Vec<i64>> {
        PgStore::prune_imports(self, keep).await
    }
    async fn append_import_log(&self, lines: &[ImportLogLine]) -> Result<u64> {
        PgStore::append_import_log(self, lines).await
    }
    async fn import_log(&self, import_id: i64) -> Result<Vec<ImportLogLine>> {
        PgStore::import_log(self, import_id).await
    }
    async fn clean_leftovers(&self) -> Result<Leftovers> {
        PgStore::clean_leftovers(self).await
    }
    async fn import_fact_count(&self, import_id: i64) -> Result<u64> {
        PgStore::import_fact_count(self, import_id).await
    }
    async fn leftover_counts(&self) -> Result<LeftoverCounts> {
        PgStore::leftover_counts(self).await
    }
    async fn computer_ids(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), i64>> {
        PgStore::computer_ids(self, keys).await
    }
    async fn published_scan_times(&self, data_source: &str) -> Result<HashMap<String, i64>> {
        PgStore::published_scan_times(self, data_source).await
    }
    async fn write_scan_packages(
        &self,
        import_id: i64,
        batch: &[ScanPackageWrite],
    ) -> Result<WriteTimes> {
        PgStore::write_scan_packages(self, import_id, batch).await
    }
    async fn checkpoint_passive(&self) -> Result<()> {
        PgStore::checkpoint_passive(self).await
    }
    async fn discard_import_facts(&self, import_id: i64) -> Result<u64> {
        PgStore::discard_import_facts(self, import_id).await
    }
    async fn published_facts_digests(&self, computer_ids: &[i64]) -> Result<HashMap<i64, String>> {
        PgStore::published_facts_digests(self, computer_ids).await
    }
    async fn delete_superseded_facts(&self, import_id: i64) -> Result<u64> {
        PgStore::delete_superseded_facts(self, import_id).await
    }
    async fn vm_observations_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<VmObservation>> {
        PgStore::vm_observations_between(self, from_ms, to_ms).await
    }
    async fn computer_identities(&self) -> Result<Vec<ComputerIdentity>> {
        PgStore::computer_identities(self).await
    }
    async fn query_computers(&self, q: &Query) -> Result<(i64, Vec<ComputerRow>)> {
        PgStore::query_computers(self, q).await
    }
    async fn query_installed_packages(&self, q: &Query) -> Result<(i64, Vec<RawInstalledPackage>)> {
        PgStore::query_installed_packages(self, q).await
    }
    async fn query_swid_facts(&self, q: &Query) -> Result<(i64, Vec<RawSwidTag>)> {
        PgStore::query_swid_facts(self, q).await
    }
    async fn decommission_computer(
        &self,
        endpoint_id: &str,
        data_source: Option<&str>,
    ) -> Result<DeleteOutcome> {
        PgStore::decommission_computer(self, endpoint_id, data_source).await
    }
    async fn operator_catalog(&self) -> Result<Option<CatalogLayerRow>> {
        PgStore::operator_catalog(self).await
    }
    async fn set_operator_catalog(
        &self,
        catalog_version: &str,
        document: &str,
        set_by: &str,
    ) -> Result<CatalogLayerRow> {
        PgStore::set_operator_catalog(self, catalog_version, document, set_by).await
    }
    async fn inventory_catalog(&self) -> Result<Option<InventoryCatalogInfo>> {
        PgStore::inventory_catalog(self).await
    }
    async fn discovery_targets(&self, import_id: i64, all: bool) -> Result<Vec<DiscoveryTarget>> {
        PgStore::discovery_targets(self, import_id, all).await
    }
    async fn computer_fact_sets(
        &self,
        targets: &[DiscoveryTarget],
    ) -> Result<Vec<ComputerFactSet>> {
        PgStore::computer_fact_sets(self, targets).await
    }
    async fn current_instances(
        &self,
        computer_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<CurrentInstance>>> {
        PgStore::current_instances(self, computer_ids).await
    }
    async fn drop_instance_product_index(&self) -> Result<()> {
        PgStore::drop_instance_product_index(self).await
    }
    async fn ensure_instance_indexes(&self) -> Result<()> {
        PgStore::ensure_instance_indexes(self).await
    }
    async fn begin_discovery(&self, import_id: i64) -> Result<()> {
        PgStore::begin_discovery(self, import_id).await
    }
    async fn stage_discovery(
        &self,
        import_id: i64,
        targets: &[DiscoveryTarget],
        new: &[NewInstance],
        changes: &[InstanceChange],
    ) -> Result<()> {
        PgStore::stage_discovery(self, import_id, targets, new, changes).await
    }
    async fn discard_unpublished_discovery(&self) -> Result<u64> {
        PgStore::discard_unpublished_discovery(self).await
    }
    async fn unpublished_discovery_rows(&self) -> Result<u64> {
        PgStore::unpublished_discovery_rows(self).await
    }
    async fn classify(
        &self,
        user: &str,
        rows: &[std::result::Result<(InstanceRef, ClassifyRequest), String>],
        simulate: bool,
    ) -> Result<Vec<RowOutcome>> {
        PgStore::classify(self, user, rows, simulate).await
    }
    async fn license_inputs(
        &self,
        import_id: i64,
        since_ms: i64,
        stale_before_ms: Option<i64>,
    ) -> Result<LicenseInputs> {
        PgStore::license_inputs(self, import_id, since_ms, stale_before_ms).await
    }
    async fn operator_pvu_table(&self) -> Result<Option<PvuTableRow>> {
        PgStore::operator_pvu_table(self).await
    }
    async fn set_operator_pvu_table(&self, version: &str, document: &str, by: &str) -> Result<()> {
        PgStore::set_operator_pvu_table(self, version, document, by).await
    }
    async fn clear_operator_pvu_table(&self) -> Result<bool> {
        PgStore::clear_operator_pvu_table(self).await
    }
    async fn pvu_overrides(&self) -> Result<Vec<PvuOverrideRow>> {
        PgStore::pvu_overrides(self).await
    }
    async fn set_pvu_override(
        &self,
        computer_id: i64,
        pvu_per_core: i64,
        comment: &str,
        by: &str,
    ) -> Result<bool> {
        PgStore::set_pvu_override(self, computer_id, pvu_per_core, comment, by).await
    }
    async fn computer_visible(&self, computer_id: i64) -> Result<bool> {
        PgStore::computer_visible(self, computer_id).await
    }
    async fn delete_pvu_override(&self, computer_id: i64) -> Result<bool> {
        PgStore::delete_pvu_override(self, computer_id).await
    }
    async fn latest_license_summary(&self) -> Result<Option<SnapshotSummary>> {
        PgStore::latest_license_summary(self).await
    }
    async fn write_license_snapshot(
        &self,
        import_id: i64,
        snap: &LicenseSnapshotWrite,
    ) -> Result<()> {
        PgStore::write_license_snapshot(self, import_id, snap).await
    }
    async fn discard_unpublished_license_snapshots(&self) -> Result<u64> {
        PgStore::discard_unpublished_license_snapshots(self).await
    }
    async fn license_usage(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>> {
        PgStore::license_usage(self, from, to).await
    }
    async fn license_usage_per_server(&self, day: NaiveDate) -> Result<Vec<ServerUsageRow>> {
        PgStore::license_usage_per_server(self, day).await
    }
    async fn license_explain(
        &self,
        day: NaiveDate,
        product_id: &str,
        metric: &str,
    ) -> Result<Vec<ServerUsageRow>> {
        PgStore::license_explain(self, day, product_id, metric).await
    }
    async fn license_product_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, i64)>> {
        PgStore::license_product_days(self, from, to).await
    }
}

#[async_trait::async_trait]
impl AuditRead for PgAuditReader {
    async fn license_usage(&mut self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>> {
        PgAuditReader::license_usage(self, from, to).await
    }

    async fn license_product_days(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, i64)>> {
        PgAuditReader::license_product_days(self, from, to).await
    }

    async fn inventory_catalog(&mut self) -> Result<Option<InventoryCatalogInfo>> {
        PgAuditReader::inventory_catalog(self).await
    }

    async fn last_successful_import(&mut self) -> Result<Option<ImportRow>> {
        PgAuditReader::last_successful_import(self).await
    }

    async fn server_instances(
        &mut self,
        day: NaiveDate,
        product_id: &str,
        metric: &str,
        full_metric: &str,
        each: &mut (dyn FnMut(AuditServerInstance) -> std::io::Result<()> + Send),
    ) -> Result<u64> {
        PgAuditReader::server_instances(self, day, product_id, metric, full_metric, each).await
    }

    async fn audit_trail_between(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        each: &mut (dyn FnMut(AuditRow) -> std::io::Result<()> + Send),
    ) -> Result<u64> {
        PgAuditReader::audit_trail_between(self, from, to, each).await
    }

    async fn condition(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        stale_before: Option<DateTime<Utc>>,
    ) -> Result<AuditCondition> {
        PgAuditReader::condition(self, from, to, stale_before).await
    }
}
