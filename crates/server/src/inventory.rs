//! The inventory lists (ILMT v2 conventions, see [`crate::list`]): the
//! computers, the raw package facts and the raw SWID tags, each as
//! `{"total":N,"rows":[…]}`; their rows as JSON; and the decommissioning of
//! a computer.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::list::{self, clip, json_response};
use crate::params::{ListParams, Params};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use openlmt_domain::query::Entity;
use openlmt_domain::time::format_utc;
use openlmt_domain::Permission;
use openlmt_storage::{
    ComputerList, ComputerRow, DeleteOutcome, InstalledPackageList, RawInstalledPackage,
    RawSwidTag, SwidTagList,
};
use serde_json::{json, Map, Value as JsonValue};

fn time(t: Option<DateTime<Utc>>) -> JsonValue {
    t.map_or(JsonValue::Null, |t| JsonValue::String(format_utc(t)))
}

/// A computer as the API shows it; keys in the order of
/// [`Entity::Computers`]'s fields (the dotted ones flat; see
/// [`list::project`]).
pub fn computer_json(r: &ComputerRow) -> Map<String, JsonValue> {
    let id = &r.identity;
    // The server is the computer itself only when it is physical.
    let server = |v: &Option<String>| {
        if r.is_virtual == Some(false) {
            v.clone()
        } else {
            None
        }
    };
    let mut m = into_map(json!({
        "id": r.id,
        // Stable: a computer's id never changes (docs/api.md §7.4).
        "bigfix_id": r.id,
        "endpoint_id": r.endpoint_id,
        "name": r.name,
        "dns_name": r.dns_name,
        "ip_address": r.ip_addresses,
        "os": r.os,
        "first_seen": time(r.first_seen),
        "last_seen": time(r.last_seen),
        "is_deleted": r.is_deleted,
        "processor_vendor": r.processor_vendor,
        "processor_brand": r.processor_brand,
        "processor_model": r.processor_model,
        "sockets": r.sockets,
        "cores": r.cores,
        "threads": r.threads,
        "is_virtual": r.is_virtual,
        "hypervisor": r.hypervisor,
        "data_source": r.data_source,
        "deleted_at": time(r.deleted_at),
        "is_managed_by_vm_manager": r.placement.as_ref().is_some_and(|p| p.by_vm_manager),
    }));
    // The rest one by one (json! would recurse too deeply with them all).
    // The server fields come from the latest licence hierarchy when it
    // placed the computer (its host, or itself); before one, the computer
    // is its own server only when it is physical.
    let pl = r.placement.as_ref();
    let computer_type = match pl.map(|p| p.kind.as_str()) {
        Some("cloud") => Some(2),
        _ => r.is_virtual.map(i64::from),
    };
    let rest = [
        ("system_uuid", json!(id.system_uuid)),
        ("system_manufacturer", json!(id.system_manufacturer)),
        ("system_product", json!(id.system_product)),
        ("system_serial", json!(id.system_serial)),
        ("bios_vendor", json!(id.bios_vendor)),
        ("bios_version", json!(id.bios_version)),
        ("chassis_asset_tag", json!(id.chassis_asset_tag)),
        ("socket_slots", json!(id.socket_slots)),
        ("computer_hardware.computer_type", json!(computer_type)),
        (
            "computer_hardware.processor_brand_string",
            json!(r.processor_brand),
        ),
        (
            "computer_hardware.processor_vendor",
            json!(r.processor_vendor),
        ),
        ("computer_hardware.partition_cores", json!(r.cores)),
        (
            "computer_hardware.server_cores",
            json!(match pl {
                Some(p) => p.server_cores,
                None if r.is_virtual == Some(false) => r.cores,
                None => None,
            }),
        ),
        ("computer_hardware.system_model", json!(id.system_product)),
        (
            "computer_hardware.server_vendor",
            json!(pl.map_or_else(|| server(&id.system_manufacturer), |p| p.vendor.clone())),
        ),
        (
            "computer_hardware.server_model",
            json!(pl.map_or_else(|| server(&id.system_product), |p| p.model.clone())),
        ),
        (
            "computer_hardware.server_serial_number",
            json!(pl.map_or_else(|| server(&id.system_serial), |p| p.serial.clone())),
        ),
        (
            "computer_hardware.server_id",
            json!(pl.map(|p| p.server_id)),
        ),
        (
            "computer_hardware.server_name",
            json!(pl.map(|p| &p.server_name)),
        ),
        (
            "computer_hardware.server_type",
            json!(pl.map(|p| match p.kind.as_str() {
                "physical" => 0,
                "default" => 1,
                _ => 2,
            })),
        ),
        (
            "computer_hardware.pvu_per_core",
            json!(pl.map(|p| p.pvu_per_core)),
        ),
        (
            "computer_hardware.default_pvu_value",
            json!(pl.and_then(|p| p.default_pvu)),
        ),
        (
            "computer_hardware.custom_pvu_per_core",
            json!(pl.and_then(|p| p.custom_pvu)),
        ),
        (
            "is_managed_by_vm_manager",
            json!(pl.is_some_and(|p| p.by_vm_manager)),
        ),
        // Extra columns (list::COMPUTER_EXTRA_COLUMNS), shown only when asked.
        // ILMT's name for the decommission time.
        ("deletion_date", json!(time(r.deleted_at))),
    ];
    for (k, val) in rest {
        m.insert(k.to_string(), val);
    }
    m
}

pub fn installed_package_json(r: &RawInstalledPackage) -> Map<String, JsonValue> {
    into_map(json!({
        "computer_id": r.computer_id,
        "name": r.name,
        "version": r.version,
        "architecture": r.architecture,
        "vendor": r.vendor,
        "source": r.source,
    }))
}

pub fn swid_tag_json(r: &RawSwidTag) -> Map<String, JsonValue> {
    into_map(json!({
        "computer_id": r.computer_id,
        "tag_id": r.tag_id,
        "name": r.name,
        "version": r.version,
        "regid": r.regid,
        "vendor": r.vendor,
        "schema": r.schema,
        "persistent_id": r.persistent_id,
        "directory": r.directory,
    }))
}

fn into_map(v: JsonValue) -> Map<String, JsonValue> {
    match v {
        JsonValue::Object(m) => m,
        _ => Map::new(),
    }
}

/// `GET /api/sam/v2/computers`
pub async fn list_computers(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewEndpoints, "list the computers")?;
    let req = list::list_request(Entity::Computers, &params, Utc::now())?;
    list::respond::<ComputerList>(app.engine.store(), req, computer_json).await
}

/// `GET /api/sam/raw_package_facts`
pub async fn raw_installed_packages(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewRawData, "read the raw package facts")?;
    let req = list::list_request(Entity::InstalledPackages, &params, Utc::now())?;
    list::respond::<InstalledPackageList>(app.engine.store(), req, installed_package_json).await
}

/// `GET /api/sam/raw_swid_tags`
pub async fn raw_swid_tags(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewRawData, "read the raw SWID tags")?;
    let req = list::list_request(Entity::SwidTags, &params, Utc::now())?;
    list::respond::<SwidTagList>(app.engine.store(), req, swid_tag_json).await
}

/// `DELETE /api/sam/v2/computers?disconnected_endpoint_id=ID[&data_source=N]`:
/// marks the computer deleted (decommissioned); it is not erased.
pub async fn delete_computer(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageImports, "decommission a computer")?;
    let params = Params::parse(query.as_deref());
    let nonempty = |name: &str| params.get(name).map(str::trim).filter(|s| !s.is_empty());
    let endpoint = nonempty("disconnected_endpoint_id").ok_or_else(|| {
        ApiError::bad_request(
            "`disconnected_endpoint_id` is required: the endpoint id of the computer to mark deleted",
        )
    })?;
    let data_source = nonempty("data_source").or_else(|| nonempty("datasource_name"));
    match app
        .engine
        .store()
        .decommission_computer(endpoint, data_source)
        .await?
    {
        DeleteOutcome::Deleted(row) => {
            tracing::info!(user = %caller.0.name, computer = row.id, endpoint = %row.endpoint_id,
                data_source = %row.data_source, "computer decommissioned");
            Ok(json_response(&JsonValue::Object(list::project(
                Entity::Computers,
                computer_json(&row),
                None::<&[&str]>,
            ))))
        }
        DeleteOutcome::NotFound => Err(ApiError::not_found(match data_source {
            Some(ds) => format!(
                "there is no computer with endpoint id `{}` in the data source `{}`",
                clip(endpoint),
                clip(ds)
            ),
            None => format!("there is no computer with endpoint id `{}`", clip(endpoint)),
        })),
        DeleteOutcome::Ambiguous(sources) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "computers with endpoint id `{}` are in several data sources ({}); add data_source=NAME",
                clip(endpoint),
                sources.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_list_the_fields_in_order() {
        let row = ComputerRow {
            id: 1,
            data_source: "default".into(),
            endpoint_id: "e".into(),
            name: None,
            dns_name: None,
            ip_addresses: vec!["192.0.2.1".into()],
            os: None,
            first_seen: None,
            last_seen: None,
            is_deleted: false,
            deleted_at: None,
            processor_vendor: None,
            processor_brand: None,
            processor_model: None,
            sockets: Some(1),
            cores: None,
            threads: None,
            is_virtual: Some(true),
            hypervisor: None,
            // dmidecode/rhel-6.2-vmware-2vcpus of the corpus.
            identity: openlmt_storage::HardwareIdentityRow {
                system_uuid: Some("421BBABD-5F4E-AF7E-3A56-B5AF1CE1A977".into()),
                system_manufacturer: Some("VMware, Inc.".into()),
                system_product: Some("VMware Virtual Platform".into()),
                system_serial: Some(
                    "VMware-42 1b ba bd 5f 4e af 7e-3a 56 b5 af 1c e1 a9 77".into(),
                ),
                ..Default::default()
            },
            placement: None,
        };
        let keys = |m: Map<String, JsonValue>| m.keys().cloned().collect::<Vec<_>>();
        let names = |e: Entity| {
            e.fields()
                .iter()
                .map(|f| f.name.to_string())
                .collect::<Vec<_>>()
        };
        // Every field in order, then the extra columns it fills.
        let all = keys(computer_json(&row));
        assert_eq!(all[..all.len() - 1], names(Entity::Computers)[..]);
        assert_eq!(all[all.len() - 1..], ["deletion_date"]);
        let nested = list::project(Entity::Computers, computer_json(&row), None::<&[&str]>);
        assert_eq!(
            nested["computer_hardware"].to_string(),
            r#"{"computer_type":1,"processor_brand_string":null,"processor_vendor":null,"partition_cores":null,"server_cores":null,"system_model":"VMware Virtual Platform","server_vendor":null,"server_model":null,"server_serial_number":null,"server_id":null,"server_name":null,"server_type":null,"pvu_per_core":null,"default_pvu_value":null,"custom_pvu_per_core":null}"#,
            "a virtual machine's own model; its server (the host) is not known before a licence hierarchy placed it"
        );
        assert_eq!(
            nested["system_uuid"],
            "421BBABD-5F4E-AF7E-3A56-B5AF1CE1A977"
        );
        // dmidecode/dell-r640: a physical server is its own server.
        let physical = ComputerRow {
            is_virtual: Some(false),
            identity: openlmt_storage::HardwareIdentityRow {
                system_manufacturer: Some("Dell Inc.".into()),
                system_product: Some("PowerEdge R640".into()),
                system_serial: Some("2RJF153".into()),
                ..Default::default()
            },
            ..row.clone()
        };
        let nested = list::project(Entity::Computers, computer_json(&physical), None::<&[&str]>);
        assert_eq!(
            nested["computer_hardware"].to_string(),
            r#"{"computer_type":0,"processor_brand_string":null,"processor_vendor":null,"partition_cores":null,"server_cores":null,"system_model":"PowerEdge R640","server_vendor":"Dell Inc.","server_model":"PowerEdge R640","server_serial_number":"2RJF153","server_id":null,"server_name":null,"server_type":null,"pvu_per_core":null,"default_pvu_value":null,"custom_pvu_per_core":null}"#
        );
        // A VM the licence hierarchy placed on its host by VM-manager data:
        // the server fields are the host's (the corpus HP DL180).
        let placed = ComputerRow {
            placement: Some(openlmt_storage::Placement {
                server_id: 7,
                server_name: "dl180".into(),
                kind: "physical".into(),
                server_cores: Some(8),
                partition_cores: 4,
                vendor: Some("HP".into()),
                model: Some("ProLiant DL180 G6".into()),
                serial: Some("CZJ0300BMH".into()),
                pvu_per_core: 100,
                default_pvu: Some(70),
                custom_pvu: Some(100),
                by_vm_manager: true,
            }),
            ..row.clone()
        };
        let m = computer_json(&placed);
        assert_eq!(m["computer_hardware.server_cores"], 8);
        assert_eq!(m["computer_hardware.server_serial_number"], "CZJ0300BMH");
        assert_eq!(m["computer_hardware.server_type"], 0);
        assert_eq!(m["computer_hardware.default_pvu_value"], 70);
        assert_eq!(m["computer_hardware.custom_pvu_per_core"], 100);
        assert_eq!(m["is_managed_by_vm_manager"], true);
        assert_eq!(m["computer_hardware.computer_type"], 1);
        assert_eq!(keys(nested).last().unwrap(), "computer_hardware");
        let fact = RawInstalledPackage {
            computer_id: 1,
            name: "a".into(),
            version: None,
            architecture: None,
            vendor: None,
            source: "dpkg".into(),
        };
        assert_eq!(
            keys(installed_package_json(&fact)),
            names(Entity::InstalledPackages)
        );
        let tag = RawSwidTag {
            computer_id: 1,
            tag_id: "t".into(),
            name: None,
            version: None,
            regid: None,
            vendor: None,
            schema: "2015".into(),
            persistent_id: None,
            directory: None,
        };
        assert_eq!(keys(swid_tag_json(&tag)), names(Entity::SwidTags));
        let v = list::project(
            Entity::Computers,
            computer_json(&row),
            Some(&[
                "sockets",
                "computer_hardware.partition_cores",
                "id",
                "computer_hardware.computer_type",
                "ip_address",
            ]),
        );
        assert_eq!(
            JsonValue::Object(v).to_string(),
            r#"{"sockets":1,"computer_hardware":{"partition_cores":null,"computer_type":1},"id":1,"ip_address":["192.0.2.1"]}"#
        );
    }
}
