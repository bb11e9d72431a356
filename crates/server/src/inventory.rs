//! The inventory query API (ILMT v2 conventions): the computers, the raw
//! package facts and the raw SWID tags, each as `{"total":N,"rows":[…]}`
//! with `limit`/`offset`, `columns[]`, `order` and `criteria`; and the
//! decommissioning of a computer.
//!
//! This module owns the wire form of a query: it parses `criteria` JSON
//! into the domain's typed [`Filter`] (every mistake is a 400 naming the
//! reason) and maps the store's rows to JSON.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;
use crate::{wire, AppState};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use openlmt_domain::query::{
    Condition, Entity, Field, FieldKind, Filter, Op, Page, Query, Sort, Value, MAX_CONDITIONS,
    MAX_DEPTH, MAX_OFFSET, MAX_SORT_KEYS,
};
use openlmt_domain::time::{format_utc, parse_utc};
use openlmt_domain::Permission;
use openlmt_storage::{ComputerRow, DeleteOutcome, RawInstalledPackage, RawSwidTag};
use serde_json::{json, Map, Value as JsonValue};

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// The largest `limit`.
pub const MAX_LIMIT: i64 = openlmt_domain::query::MAX_LIMIT;
/// The longest `criteria` text, in bytes.
pub const MAX_CRITERIA_BYTES: usize = 16 * 1024;
/// The longest text value in a condition, in characters.
pub const MAX_VALUE_CHARS: usize = 1024;

const CRITERIA_SHAPE: &str =
    "criteria is JSON {\"and\":[[field, operator, value], …]} or {\"or\":[…]}, where an element may itself be an {\"and\"|\"or\":[…]} object";

/// A short, char-safe rendering of a user's text for an error message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn describe(v: &JsonValue) -> String {
    match v {
        JsonValue::Null => "null".into(),
        JsonValue::Bool(_) => "a boolean".into(),
        JsonValue::Number(n) => format!("the number {}", clip(&n.to_string())),
        JsonValue::String(s) => format!("the string \"{}\"", clip(s)),
        JsonValue::Array(_) => "a list".into(),
        JsonValue::Object(_) => "an object".into(),
    }
}

/// Parses the wire `criteria` of a list into a filter, or says why not.
pub fn parse_criteria(entity: Entity, text: &str) -> Result<Filter, String> {
    if text.len() > MAX_CRITERIA_BYTES {
        return Err(format!(
            "`criteria` is too long ({} bytes; at most {MAX_CRITERIA_BYTES})",
            text.len()
        ));
    }
    let v: JsonValue = serde_json::from_str(text)
        .map_err(|e| format!("`criteria` is not valid JSON ({e}); {CRITERIA_SHAPE}"))?;
    let mut count = 0;
    group(entity, &v, 1, &mut count)
}

fn group(entity: Entity, v: &JsonValue, depth: usize, count: &mut usize) -> Result<Filter, String> {
    let JsonValue::Object(m) = v else {
        return Err(format!(
            "`criteria` must be an object, not {}; {CRITERIA_SHAPE}",
            describe(v)
        ));
    };
    let mut entries = m.iter();
    let (Some((key, items)), None) = (entries.next(), entries.next()) else {
        return Err(format!(
            "a criteria object has exactly one key, `and` or `or`; {CRITERIA_SHAPE}"
        ));
    };
    let is_and = match key.to_ascii_lowercase().as_str() {
        "and" => true,
        "or" => false,
        _ => {
            return Err(format!(
                "`{}` is not `and` or `or`; {CRITERIA_SHAPE}",
                clip(key)
            ))
        }
    };
    if depth > MAX_DEPTH {
        return Err(format!(
            "`criteria` is nested too deep (at most {MAX_DEPTH} levels of and/or)"
        ));
    }
    let JsonValue::Array(items) = items else {
        return Err(format!(
            "`{key}` takes a list of conditions, not {}",
            describe(items)
        ));
    };
    let mut out = Vec::with_capacity(items.len().min(MAX_CONDITIONS));
    for item in items {
        match item {
            JsonValue::Array(triple) => {
                *count += 1;
                if *count > MAX_CONDITIONS {
                    return Err(format!(
                        "`criteria` has too many conditions (at most {MAX_CONDITIONS})"
                    ));
                }
                out.push(Filter::Cond(condition(entity, triple)?));
            }
            JsonValue::Object(_) => out.push(group(entity, item, depth + 1, count)?),
            other => {
                return Err(format!(
                    "an element of `{key}` is a condition [field, operator, value] or an and/or object, not {}",
                    describe(other)
                ))
            }
        }
    }
    Ok(if is_and {
        Filter::And(out)
    } else {
        Filter::Or(out)
    })
}

fn condition(entity: Entity, triple: &[JsonValue]) -> Result<Condition, String> {
    let [field, op, value] = triple else {
        return Err(format!(
            "a condition is a list of three, [field, operator, value], not of {}",
            triple.len()
        ));
    };
    let JsonValue::String(name) = field else {
        return Err(format!(
            "a condition starts with a field name, not {}",
            describe(field)
        ));
    };
    let field = entity.field(name).ok_or_else(|| {
        format!(
            "`{}` is not a field of this list; fields are: {}",
            clip(name),
            entity.field_list()
        )
    })?;
    let JsonValue::String(op_text) = op else {
        return Err(format!(
            "the operator of `{name}` must be a string, not {}",
            describe(op)
        ));
    };
    let op = Op::parse(op_text).ok_or_else(|| {
        format!(
            "`{}` is not an operator; operators are =, !=, <, <=, >, >=, contains",
            clip(op_text)
        )
    })?;
    if !op.applies_to(field.kind) {
        return Err(format!(
            "the operator `{op}` does not apply to the field `{name}`; its operators are: {}",
            Op::list_for(field.kind)
        ));
    }
    let value = wire_value(field, value)?;
    Condition::new(field, op, value).map_err(|e| e.0)
}

/// Parses a time given as `2026-11-28T12:00:00Z` (any RFC 3339 time) or
/// as a date `2026-11-28` (its midnight UTC).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    parse_utc(s).or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
    })
}

fn wire_value(field: &Field, v: &JsonValue) -> Result<Value, String> {
    let wrong = || {
        format!(
            "the field `{}` compares with {} (or null), not {}",
            field.name,
            field.kind.describe(),
            describe(v)
        )
    };
    Ok(match (field.kind, v) {
        (_, JsonValue::Null) => Value::Null,
        (FieldKind::Int, JsonValue::Number(n)) => Value::Int(n.as_i64().ok_or_else(wrong)?),
        (FieldKind::Bool, JsonValue::Bool(b)) => Value::Bool(*b),
        (FieldKind::Text | FieldKind::TextList, JsonValue::String(s)) => {
            if s.chars().count() > MAX_VALUE_CHARS {
                return Err(format!(
                    "the value for `{}` is too long (at most {MAX_VALUE_CHARS} characters)",
                    field.name
                ));
            }
            Value::Text(s.clone())
        }
        (FieldKind::Time, JsonValue::String(s)) => Value::Time(parse_time(s).ok_or_else(wrong)?),
        _ => return Err(wrong()),
    })
}

/// Parses `order` (`order=name`, `order=-last_seen`, `order=name desc`,
/// repeated or comma-separated) into sort keys.
fn parse_sort(entity: Entity, params: &Params) -> Result<Vec<Sort>, ApiError> {
    let Some(items) = params.list("order") else {
        return Ok(Vec::new());
    };
    if items.len() > MAX_SORT_KEYS {
        return Err(ApiError::bad_request(format!(
            "`order` takes at most {MAX_SORT_KEYS} fields"
        )));
    }
    items
        .iter()
        .map(|item| {
            let (name, descending) = if let Some(rest) = item.strip_prefix('-') {
                (rest.trim(), true)
            } else {
                let mut words = item.split_whitespace();
                let name = words.next().unwrap_or("");
                let desc = match (words.next().map(str::to_ascii_lowercase), words.next()) {
                    (None, _) => false,
                    (Some(d), None) if d == "asc" => false,
                    (Some(d), None) if d == "desc" => true,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "`{}` is not a sort order: use `field`, `-field`, `field asc` or `field desc`",
                            clip(item)
                        )))
                    }
                };
                (name.strip_prefix('+').unwrap_or(name), desc)
            };
            entity
                .field(name)
                .and_then(|field| Sort::new(field, descending))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "cannot sort by `{}`; sortable fields are: {}",
                        clip(name),
                        sortable(entity)
                    ))
                })
        })
        .collect()
}

fn sortable(entity: Entity) -> String {
    entity
        .fields()
        .iter()
        .filter(|f| f.kind != FieldKind::TextList)
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `columns[]` into field names, in the order asked (duplicates
/// dropped); `None` means every field.
fn parse_columns(entity: Entity, params: &Params) -> Result<Option<Vec<&'static str>>, ApiError> {
    let Some(cols) = params.list("columns") else {
        return Ok(None);
    };
    let mut out: Vec<&'static str> = Vec::with_capacity(cols.len());
    for c in &cols {
        let field = entity.field(c).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{}` is not a column of this list; columns are: {}",
                clip(c),
                entity.field_list()
            ))
        })?;
        if !out.contains(&field.name) {
            out.push(field.name);
        }
    }
    Ok(Some(out))
}

/// A list request: the query and the columns to show.
struct ListRequest {
    query: Query,
    columns: Option<Vec<&'static str>>,
}

fn list_request(entity: Entity, raw: Option<&str>) -> Result<ListRequest, ApiError> {
    let params = Params::parse(raw);
    let limit = params.int("limit", DEFAULT_LIMIT, 0, MAX_LIMIT)?;
    let offset = params.int("offset", 0, 0, MAX_OFFSET)?;
    let columns = parse_columns(entity, &params)?;
    let sort = parse_sort(entity, &params)?;
    let filter = match params.get("criteria").map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(parse_criteria(entity, text).map_err(ApiError::bad_request)?),
    };
    let page = Page::new(limit, offset).map_err(|e| ApiError::bad_request(e.0))?;
    let query = Query::new(entity, filter, sort, page).map_err(|e| ApiError::bad_request(e.0))?;
    Ok(ListRequest { query, columns })
}

fn json_response(value: &JsonValue) -> Response {
    let mut resp = Json(value).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en-US"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn time(t: Option<DateTime<Utc>>) -> JsonValue {
    t.map_or(JsonValue::Null, |t| JsonValue::String(format_utc(t)))
}

/// A computer as the API shows it; keys in the order of
/// [`Entity::Computers`]'s fields.
pub fn computer_json(r: &ComputerRow) -> Map<String, JsonValue> {
    let v = json!({
        "id": r.id,
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
    });
    into_map(v)
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

/// Keeps only `columns`, in their order.
fn project(mut row: Map<String, JsonValue>, columns: Option<&[&'static str]>) -> JsonValue {
    match columns {
        None => JsonValue::Object(row),
        Some(cols) => JsonValue::Object(
            cols.iter()
                .map(|c| (c.to_string(), row.remove(*c).unwrap_or(JsonValue::Null)))
                .collect(),
        ),
    }
}

fn page<T>(
    total: i64,
    rows: &[T],
    columns: Option<&[&'static str]>,
    to_json: fn(&T) -> Map<String, JsonValue>,
) -> Response {
    let rows = rows.iter().map(|r| project(to_json(r), columns)).collect();
    json_response(&wire::rows(total, rows))
}

/// `GET /api/sam/v2/computers`
pub async fn list_computers(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewEndpoints, "list the computers")?;
    let req = list_request(Entity::Computers, query.as_deref())?;
    let (total, rows) = app.engine.store().query_computers(&req.query).await?;
    Ok(page(total, &rows, req.columns.as_deref(), computer_json))
}

/// `GET /api/sam/raw_package_facts`
pub async fn raw_installed_packages(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewRawData, "read the raw package facts")?;
    let req = list_request(Entity::InstalledPackages, query.as_deref())?;
    let (total, rows) = app
        .engine
        .store()
        .query_installed_packages(&req.query)
        .await?;
    Ok(page(
        total,
        &rows,
        req.columns.as_deref(),
        installed_package_json,
    ))
}

/// `GET /api/sam/raw_swid_tags`
pub async fn raw_swid_tags(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewRawData, "read the raw SWID tags")?;
    let req = list_request(Entity::SwidTags, query.as_deref())?;
    let (total, rows) = app.engine.store().query_swid_facts(&req.query).await?;
    Ok(page(total, &rows, req.columns.as_deref(), swid_tag_json))
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
            Ok(json_response(&JsonValue::Object(computer_json(&row))))
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
    use proptest::prelude::*;

    fn ok(entity: Entity, text: &str) -> Filter {
        parse_criteria(entity, text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(entity: Entity, text: &str) -> String {
        match parse_criteria(entity, text) {
            Ok(f) => panic!("{text} parsed as {f:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_the_ilmt_forms() {
        let f = ok(
            Entity::InstalledPackages,
            r#"{"and":[["name","=","adduser"]]}"#,
        );
        let Filter::And(v) = f else { panic!() };
        let Filter::Cond(c) = &v[0] else { panic!() };
        assert_eq!(c.field().name, "name");
        assert_eq!(c.op(), Op::Eq);
        assert_eq!(c.value(), &Value::Text("adduser".into()));

        let f = ok(
            Entity::Computers,
            r#"{"or":[["sockets",">=",2],{"and":[["is_virtual","=",true],
                ["last_seen","<","2026-11-28T12:00:00Z"],["hypervisor","!=",null],
                ["ip_address","contains","192.0.2"],["first_seen",">=","2026-01-01"]]}]}"#,
        );
        assert_eq!(f.conditions(), 6);
        assert_eq!(f.depth(), 2);
        assert!(matches!(ok(Entity::SwidTags, r#"{"AND":[]}"#), Filter::And(v) if v.is_empty()));
        ok(Entity::Computers, r#"{"and":[["name","CONTAINS","x"]]}"#);
    }

    #[test]
    fn names_the_reason() {
        let e = Entity::Computers;
        let cases = [
            ("{", "not valid JSON"),
            ("[]", "must be an object"),
            ("{}", "exactly one key"),
            (r#"{"and":[],"or":[]}"#, "exactly one key"),
            (r#"{"xor":[]}"#, "is not `and` or `or`"),
            (r#"{"and":{}}"#, "takes a list"),
            (r#"{"and":[1]}"#, "not the number 1"),
            (r#"{"and":[["name","="]]}"#, "list of three"),
            (r#"{"and":[[1,"=","x"]]}"#, "starts with a field name"),
            (r#"{"and":[["nope","=","x"]]}"#, "`nope` is not a field"),
            (r#"{"and":[["name","~","x"]]}"#, "`~` is not an operator"),
            (r#"{"and":[["name",1,"x"]]}"#, "must be a string"),
            (r#"{"and":[["sockets","contains",1]]}"#, "does not apply"),
            (r#"{"and":[["sockets","=","1"]]}"#, "whole number"),
            (r#"{"and":[["sockets","=",1.5]]}"#, "whole number"),
            (r#"{"and":[["is_virtual","=","yes"]]}"#, "true or false"),
            (r#"{"and":[["is_virtual","<",true]]}"#, "does not apply"),
            (r#"{"and":[["last_seen",">","yesterday"]]}"#, "UTC time"),
            (r#"{"and":[["ip_address","<","1"]]}"#, "does not apply"),
            (r#"{"and":[["name","<",null]]}"#, "null can only"),
            (r#"{"and":[["name","=",["x"]]]}"#, "not a list"),
        ];
        for (text, want) in cases {
            let got = err(e, text);
            assert!(got.contains(want), "{text}: {got}");
        }
        // A field of another list.
        assert!(err(Entity::SwidTags, r#"{"and":[["source","=","dpkg"]]}"#)
            .contains("fields are: computer_id, tag_id"));
    }

    #[test]
    fn bounds_size_depth_and_count() {
        let e = Entity::Computers;
        let mut deep = String::from(r#"["name","=","x"]"#);
        for _ in 0..MAX_DEPTH {
            deep = format!(r#"{{"and":[{deep}]}}"#);
        }
        assert_eq!(ok(e, &deep).depth(), MAX_DEPTH);
        let deeper = format!(r#"{{"or":[{deep}]}}"#);
        assert!(err(e, &deeper).contains("too deep"));
        // Far deeper than serde_json's own limit: still an error, no crash.
        let abyss = "[".repeat(10_000);
        assert!(err(e, &abyss).contains("not valid JSON"));
        let cond = r#"["cores",">",1]"#;
        let many = |n: usize| format!(r#"{{"and":[{}]}}"#, vec![cond; n].join(","));
        assert_eq!(ok(e, &many(MAX_CONDITIONS)).conditions(), MAX_CONDITIONS);
        assert!(err(e, &many(MAX_CONDITIONS + 1)).contains("too many conditions"));
        let long = format!(
            r#"{{"and":[["name","=","{}"]]}}"#,
            "x".repeat(MAX_CRITERIA_BYTES)
        );
        assert!(err(e, &long).contains("too long"));
        let long_value = format!(
            r#"{{"and":[["name","=","{}"]]}}"#,
            "é".repeat(MAX_VALUE_CHARS + 1)
        );
        assert!(err(e, &long_value).contains("too long"));
    }

    #[test]
    fn times_parse() {
        assert_eq!(
            parse_time("2026-11-28T12:00:00Z")
                .map(format_utc)
                .as_deref(),
            Some("2026-11-28T12:00:00Z")
        );
        assert_eq!(
            parse_time("2026-11-28T13:00:00+01:00")
                .map(format_utc)
                .as_deref(),
            Some("2026-11-28T12:00:00Z")
        );
        assert_eq!(
            parse_time("2026-11-28").map(format_utc).as_deref(),
            Some("2026-11-28T00:00:00Z")
        );
        assert_eq!(parse_time("28/11/2026"), None);
    }

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
        };
        let keys = |m: Map<String, JsonValue>| m.keys().cloned().collect::<Vec<_>>();
        let names = |e: Entity| {
            e.fields()
                .iter()
                .map(|f| f.name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(computer_json(&row)), names(Entity::Computers));
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
        let v = project(computer_json(&row), Some(&["sockets", "id", "ip_address"]));
        assert_eq!(
            v.to_string(),
            r#"{"sockets":1,"id":1,"ip_address":["192.0.2.1"]}"#
        );
    }

    #[test]
    fn sort_and_columns_are_whitelisted() {
        let p = Params::parse(Some("order=-last_seen&order[]=name+desc&order=id%20asc"));
        let s = parse_sort(Entity::Computers, &p).unwrap();
        assert_eq!(
            s.iter()
                .map(|s| (s.field().name, s.descending()))
                .collect::<Vec<_>>(),
            [("last_seen", true), ("name", true), ("id", false)]
        );
        for bad in [
            "order=ip_address",
            "order=nope",
            "order=name%20sideways",
            "order=a,b,c,d,e",
        ] {
            let p = Params::parse(Some(bad));
            assert!(parse_sort(Entity::Computers, &p).is_err(), "{bad}");
        }
        let p = Params::parse(Some("columns[]=name&columns[]=id&columns[]=name"));
        assert_eq!(
            parse_columns(Entity::Computers, &p).unwrap(),
            Some(vec!["name", "id"])
        );
        let p = Params::parse(Some("columns[]=tag_id"));
        let e = parse_columns(Entity::InstalledPackages, &p).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message.contains("columns are: computer_id, name"),
            "{}",
            e.message
        );
    }

    /// Arbitrary JSON, biased towards the words criteria use.
    fn arb_json() -> impl Strategy<Value = JsonValue> {
        let word = prop_oneof![
            Just("and".to_string()),
            Just("or".to_string()),
            Just("name".to_string()),
            Just("sockets".to_string()),
            Just("is_virtual".to_string()),
            Just("last_seen".to_string()),
            Just("ip_address".to_string()),
            Just("contains".to_string()),
            Just("=".to_string()),
            Just("<=".to_string()),
            Just("2026-11-28T12:00:00Z".to_string()),
            any::<String>(),
        ];
        let leaf = prop_oneof![
            Just(JsonValue::Null),
            any::<bool>().prop_map(JsonValue::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            word.clone().prop_map(JsonValue::String),
        ];
        leaf.prop_recursive(6, 64, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(JsonValue::Array),
                prop::collection::vec((word.clone(), inner), 0..3)
                    .prop_map(|kv| JsonValue::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Well-formed criteria with a count of their conditions.
    fn arb_valid() -> impl Strategy<Value = (JsonValue, usize)> {
        let cond = prop_oneof![
            "[a-z0-9. ]{0,12}".prop_map(|s| (json!(["name", "contains", s]), 1)),
            any::<i64>().prop_map(|n| (json!(["sockets", "<=", n]), 1)),
            any::<bool>().prop_map(|b| (json!(["is_virtual", "!=", b]), 1)),
            (0i64..4_000_000_000).prop_map(|s| {
                let t = DateTime::from_timestamp(s, 0).unwrap();
                (json!(["last_seen", ">", format_utc(t)]), 1)
            }),
            Just((json!(["hypervisor", "=", null]), 1)),
        ];
        cond.prop_recursive(4, 40, 4, |inner| {
            (any::<bool>(), prop::collection::vec(inner, 0..4)).prop_map(|(and, items)| {
                let n = items.iter().map(|(_, n)| n).sum();
                let list: Vec<JsonValue> = items.into_iter().map(|(v, _)| v).collect();
                (json!({ if and { "and" } else { "or" }: list }), n)
            })
        })
        .prop_map(|(v, n)| {
            if v.is_array() {
                (json!({ "and": [v] }), n)
            } else {
                (v, n)
            }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_on_any_text(text in any::<String>()) {
            for e in [Entity::Computers, Entity::InstalledPackages, Entity::SwidTags] {
                if let Err(reason) = parse_criteria(e, &text) {
                    prop_assert!(!reason.is_empty());
                }
            }
        }

        #[test]
        fn never_panics_on_any_json(v in arb_json()) {
            let text = v.to_string();
            for e in [Entity::Computers, Entity::InstalledPackages, Entity::SwidTags] {
                match parse_criteria(e, &text) {
                    Ok(f) => {
                        prop_assert!(f.conditions() <= MAX_CONDITIONS);
                        prop_assert!(f.depth() <= MAX_DEPTH);
                        prop_assert!(f.belongs_to(e));
                    }
                    Err(reason) => prop_assert!(!reason.is_empty()),
                }
            }
        }

        #[test]
        fn accepts_every_well_formed_criteria((v, n) in arb_valid()) {
            let f = parse_criteria(Entity::Computers, &v.to_string());
            prop_assert!(f.is_ok(), "{}: {:?}", v, f);
            prop_assert_eq!(f.unwrap().conditions(), n);
        }
    }
}
