//! Lists the ILMT v2 way, shared by every list endpoint: the wire form of a
//! query (`limit`, `offset`, `columns[]`, `order`, `criteria`, from the
//! query string or a JSON body: [`crate::params`]) parsed into the domain's
//! typed [`Query`] (every mistake is a 400 naming the reason), and the
//! answer `{"total":N,"rows":[…]}` streamed to the client while the rows are
//! read ([`respond`]).
//!
//! A list plugs in with: its [`Entity`] and fields (domain), a
//! [`List`] (storage), a row → JSON function, and a handler that calls
//! [`list_request`] then [`respond`] (see ARCHITECTURE.md).

use crate::error::ApiError;
use crate::params::Params;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Months, NaiveDate, Utc};
use openlmt_domain::query::{
    Condition, Entity, Field, FieldKind, Filter, Op, Page, Query, Sort, Value, MAX_CONDITIONS,
    MAX_DEPTH, MAX_OFFSET, MAX_SORT_KEYS,
};
use openlmt_domain::time::parse_utc;
use openlmt_storage::{List, RefList, RefRowSink, RowSink, Store, StreamEnd};
use serde_json::{Map, Value as JsonValue};
use std::borrow::Cow;
use tokio::sync::{mpsc, oneshot};

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
/// The operators, as error messages list them.
const OPERATORS: &str = "=, !=, <, <=, >, >=, contains, last";

/// A short, char-safe rendering of a user's text for an error message.
pub(crate) fn clip(s: &str) -> String {
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
/// `now` ends the periods of the `last` operator.
///
/// Text that is not JSON but becomes JSON when its single quotes are read
/// as double quotes is taken that way (datactl sends
/// `{'and':[['bundle_id','<=','0']]}`); valid JSON is never rewritten.
pub fn parse_criteria(entity: Entity, text: &str, now: DateTime<Utc>) -> Result<Filter, String> {
    if text.len() > MAX_CRITERIA_BYTES {
        return Err(format!(
            "`criteria` is too long ({} bytes; at most {MAX_CRITERIA_BYTES})",
            text.len()
        ));
    }
    let v: JsonValue = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let lenient = text
                .contains('\'')
                .then(|| serde_json::from_str(&single_quotes_as_json(text)).ok())
                .flatten();
            lenient
                .ok_or_else(|| format!("`criteria` is not valid JSON ({e}); {CRITERIA_SHAPE}"))?
        }
    };
    let ctx = Ctx { entity, now };
    let mut count = 0;
    group(&ctx, &v, 1, &mut count)
}

/// Single-quoted strings as JSON strings: `'` opens and closes a string
/// (`\'` inside one is a quote), a `"` inside one is escaped; double-quoted
/// strings are kept as they are, so both quotings mix
/// (`{'or':[['name','=',"O'Brien"],['name','=','say "hi"']]}`).
fn single_quotes_as_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'') => {
                out.push('"');
                quote = Some('\'');
            }
            (None, '"') => {
                out.push('"');
                quote = Some('"');
            }
            (Some(_), '\\') => match chars.next() {
                Some('\'') => out.push('\''),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            (Some('\''), '"') => out.push_str("\\\""),
            (Some(q), c) if c == q => {
                out.push('"');
                quote = None;
            }
            (_, c) => out.push(c),
        }
    }
    out
}

/// What parsing a criteria needs besides the text.
struct Ctx {
    entity: Entity,
    now: DateTime<Utc>,
}

fn group(ctx: &Ctx, v: &JsonValue, depth: usize, count: &mut usize) -> Result<Filter, String> {
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
                out.push(Filter::Cond(condition(ctx, triple)?));
            }
            JsonValue::Object(_) => out.push(group(ctx, item, depth + 1, count)?),
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

fn condition(ctx: &Ctx, triple: &[JsonValue]) -> Result<Condition, String> {
    let entity = ctx.entity;
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
            "`{}` is not an operator; operators are {OPERATORS}",
            clip(op_text)
        )
    })?;
    if !op.applies_to(field.kind) {
        return Err(format!(
            "the operator `{op}` does not apply to the field `{name}`; its operators are: {}",
            Op::list_for(field.kind)
        ));
    }
    let value = if op == Op::Last {
        last_period(field, value, ctx.now)?
    } else {
        wire_value(field, value)?
    };
    Condition::new(field, op, value).map_err(|e| e.0)
}

/// The period of `["field","last","P1M"]`: from `now` minus the ISO 8601
/// duration to `now`. Years and months are calendar ones (P1M before
/// 31 March is the last day of February); days are 24 hours.
fn last_period(field: &Field, v: &JsonValue, now: DateTime<Utc>) -> Result<Value, String> {
    let bad = |why: &str| {
        format!(
            "`last` on `{}` takes an ISO 8601 duration such as \"P1M\" (P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S), not {}{why}",
            field.name,
            describe(v)
        )
    };
    let JsonValue::String(text) = v else {
        return Err(bad(""));
    };
    let d = parse_duration(text.trim()).map_err(|why| bad(&format!(" ({why})")))?;
    let too_long = || bad(" (too long a period)");
    let months = u32::try_from(d.months)
        .ok()
        .filter(|m| *m <= 12 * 10_000)
        .ok_or_else(too_long)?;
    if d.millis > 1000.0 * 86_400.0 * 366.0 * 10_000.0 {
        return Err(too_long());
    }
    let from = now
        .checked_sub_months(Months::new(months))
        .and_then(|t| t.checked_sub_signed(chrono::TimeDelta::milliseconds(d.millis as i64)))
        .ok_or_else(too_long)?;
    Value::period(from, now).ok_or_else(too_long)
}

/// An ISO 8601 duration: calendar months (years × 12 + months), and the
/// rest in milliseconds (weeks of 7 days, days of 24 hours).
#[derive(Debug, PartialEq)]
struct IsoDuration {
    months: u64,
    millis: f64,
}

/// Parses `P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S` (ISO 8601-1 and -2: weeks may
/// be combined with the other units), each part optional but at least one
/// given, in this order. Years and months are whole numbers; the other
/// parts may have a decimal fraction (`.` or `,`). (No crate fits: the
/// `iso8601` crate caps each unit (no `P90D`), `iso8601-duration` refuses
/// weeks with other units and reads exponents.)
fn parse_duration(text: &str) -> Result<IsoDuration, &'static str> {
    let rest = text.strip_prefix(['P', 'p']).ok_or("it starts with P")?;
    let (date, time) = match rest.split_once(['T', 't']) {
        Some((_, "")) => return Err("a T is followed by hours, minutes or seconds"),
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut out = IsoDuration {
        months: 0,
        millis: 0.0,
    };
    let mut parts = 0;
    // (designator, milliseconds per unit; 0 for calendar months)
    const DATE: [(char, f64); 4] = [
        ('Y', 0.0),
        ('M', 0.0),
        ('W', 7.0 * 86_400_000.0),
        ('D', 86_400_000.0),
    ];
    const TIME: [(char, f64); 3] = [('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)];
    for (section, units) in [(Some(date), &DATE[..]), (time, &TIME[..])] {
        let Some(mut section) = section else {
            continue;
        };
        let mut next_unit = 0;
        while !section.is_empty() {
            let end = section
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                .ok_or("each number is followed by its unit")?;
            let (number, after) = section.split_at(end);
            if number.is_empty() || number.starts_with(['.', ',']) {
                return Err("each unit has a number before it");
            }
            let mut chars = after.chars();
            let designator = chars.next().map(|c| c.to_ascii_uppercase());
            let pos = units[next_unit..]
                .iter()
                .position(|(d, _)| Some(*d) == designator)
                .ok_or("units are Y, M, W, D, then after T: H, M, S, each once, in this order")?;
            let (unit, per) = units[next_unit + pos];
            next_unit += pos + 1;
            section = chars.as_str();
            let n: f64 = number
                .replace(',', ".")
                .parse()
                .map_err(|_| "each unit has a number before it")?;
            parts += 1;
            if per == 0.0 {
                if number.contains(['.', ',']) {
                    return Err("years and months must be whole");
                }
                let n: u64 = number.parse().map_err(|_| "too long a period")?;
                let months = if unit == 'Y' {
                    n.checked_mul(12)
                } else {
                    Some(n)
                };
                out.months = months
                    .and_then(|m| out.months.checked_add(m))
                    .ok_or("too long a period")?;
            } else {
                out.millis += n * per;
            }
        }
    }
    if parts == 0 {
        return Err("it has at least one part, such as 1M");
    }
    if !out.millis.is_finite() {
        return Err("too long a period");
    }
    Ok(out)
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
        // Real clients send numbers as strings (`["product_id","=","8451"]`).
        (FieldKind::Int, JsonValue::String(s)) => {
            Value::Int(s.trim().parse::<i64>().map_err(|_| wrong())?)
        }
        (FieldKind::Bool, JsonValue::Bool(b)) => Value::Bool(*b),
        // …and booleans as 0/1 (`["is_deleted","=","0"]`), strings or numbers.
        (FieldKind::Bool, JsonValue::Number(n)) => match n.as_i64() {
            Some(0) => Value::Bool(false),
            Some(1) => Value::Bool(true),
            _ => return Err(wrong()),
        },
        (FieldKind::Bool, JsonValue::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(wrong()),
        },
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

/// Columns of ILMT's lists that real clients ask for (Axonius, Google
/// SecOps; `v2-api-shapes.md` §4 and §6) and that openlmt keeps no field for:
/// accepted in `columns` only (not in `criteria` or `order`). A row's value
/// is what its `*_json` gives under that name (`deletion_date`,
/// `is_managed_by_vm_manager` of a computer, `discovery_details.discovery_path`
/// of an instance), else
/// `null` (docs/api.md §7.4 and §13.4 say why for each).
const COMPUTER_EXTRA_COLUMNS: &[&str] = &[
    "computer_group_id",
    "os_type",
    "deletion_date",
    "is_managed_by_vm_manager",
    "computer_health.agent_version",
    "computer_health.catalog_version",
    "computer_health.is_low_on_disk_space",
    "computer_health.is_missing_prereqs",
    "computer_health.is_out_of_date",
    "computer_health.is_out_of_sync",
    "computer_health.last_scan_attempt",
];

/// See [`COMPUTER_EXTRA_COLUMNS`].
const INSTANCE_EXTRA_COLUMNS: &[&str] = &[
    "computer_os_type",
    "bundle_name",
    "bundle_guid",
    "is_processed",
    "usage_data.first_used",
    "usage_data.last_used",
    "usage_data.total_time",
    "usage_data.total_runs",
    "usage_data.avg_run_time",
    "discovery_details.discovery_path",
    "discovery_details.file_name",
    "discovery_details.file_size",
    "bundling_evidence.prod_inv_id",
    "bundling_evidence.source_computer_id",
];

/// `computer_hardware.*` columns of ILMT (`v2-api-shapes.md` §6), for both
/// lists where they are not fields.
const HARDWARE_EXTRA_COLUMNS: &[&str] = &[
    "computer_hardware.status",
    "computer_hardware.parent_hostname",
    "computer_hardware.system_model",
    "computer_hardware.node_total_processors",
    "computer_hardware.cluster_name",
    "computer_hardware.cluster_cores_count",
    "computer_hardware.server_id",
    "computer_hardware.server_name",
    "computer_hardware.server_serial_number",
    "computer_hardware.server_type",
    "computer_hardware.server_vendor",
    "computer_hardware.server_model",
    "computer_hardware.processor_type",
    "computer_hardware.processor_brand",
    "computer_hardware.pvu_per_core",
    "computer_hardware.default_pvu_value",
    "computer_hardware.custom_pvu_per_core",
    "computer_hardware.shared_pool_id",
    "computer_hardware.entitlement",
    "computer_hardware.is_capped",
    "computer_hardware.is_shared_type",
    "computer_hardware.online_vp_count",
    "computer_hardware.no_processors_shared_pool",
    "computer_hardware.no_processors_pshared_pool",
];

/// `name` as an accepted column of `entity` that is not one of its fields
/// (see [`COMPUTER_EXTRA_COLUMNS`]); ILMT's `computer_health.is_…_scan_successful`
/// flags are matched by their pattern, as their full list is not known.
fn extra_column(entity: Entity, name: &str) -> Option<Cow<'static, str>> {
    let tables: &[&[&'static str]] = match entity {
        Entity::Computers => &[COMPUTER_EXTRA_COLUMNS, HARDWARE_EXTRA_COLUMNS],
        Entity::SoftwareInstances => &[INSTANCE_EXTRA_COLUMNS, HARDWARE_EXTRA_COLUMNS],
        _ => &[],
    };
    if let Some(c) = tables.iter().flat_map(|t| t.iter()).find(|c| **c == name) {
        return Some(Cow::Borrowed(*c));
    }
    let scan = name
        .strip_prefix("computer_health.is_")
        .and_then(|r| r.strip_suffix("_scan_successful"));
    match scan {
        Some(kind)
            if entity == Entity::Computers
                && !kind.is_empty()
                && kind.len() <= 32
                && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') =>
        {
            Some(Cow::Owned(name.to_string()))
        }
        _ => None,
    }
}

/// Parses `columns[]` into column names, in the order asked (duplicates
/// dropped): fields of the list, or its accepted extra columns
/// ([`extra_column`]); `None` means every field.
fn parse_columns(
    entity: Entity,
    params: &Params,
) -> Result<Option<Vec<Cow<'static, str>>>, ApiError> {
    let Some(cols) = params.list("columns") else {
        return Ok(None);
    };
    let mut out: Vec<Cow<'static, str>> = Vec::with_capacity(cols.len());
    for c in &cols {
        let name = match entity.field(c) {
            Some(field) => Cow::Borrowed(field.name),
            None => extra_column(entity, c).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`{}` is not a column of this list; columns are: {}",
                    clip(c),
                    entity.field_list()
                ))
            })?,
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(Some(out))
}

/// A list request: the query and the columns to show.
pub struct ListRequest {
    pub query: Query,
    /// The fields to show, in the order asked; `None` for every field.
    pub columns: Option<Vec<Cow<'static, str>>>,
}

/// Parses the list parameters (`limit`, `offset`, `columns[]`, `order`,
/// every `criteria`) of `entity`; `now` ends the periods of `last`.
/// Repeated `criteria` all apply (and-ed).
pub fn list_request(
    entity: Entity,
    params: &Params,
    now: DateTime<Utc>,
) -> Result<ListRequest, ApiError> {
    let limit = params.int("limit", DEFAULT_LIMIT, 0, MAX_LIMIT)?;
    let offset = params.int("offset", 0, 0, MAX_OFFSET)?;
    let columns = parse_columns(entity, params)?;
    let sort = parse_sort(entity, params)?;
    let mut filters = params
        .all("criteria")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| parse_criteria(entity, t, now).map_err(ApiError::bad_request))
        .collect::<Result<Vec<Filter>, ApiError>>()?;
    let filter = match filters.len() {
        0 => None,
        1 => filters.pop(),
        _ => Some(Filter::And(filters)),
    };
    let page = Page::new(limit, offset).map_err(|e| ApiError::bad_request(e.0))?;
    let query = Query::new(entity, filter, sort, page).map_err(|e| ApiError::bad_request(e.0))?;
    Ok(ListRequest { query, columns })
}

/// A successful JSON answer with the headers every API answer has.
pub fn json_response(value: &JsonValue) -> Response {
    let mut resp = Json(value).into_response();
    with_api_headers(&mut resp);
    resp
}

fn with_api_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en-US"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A row as the API shows it: the fields `columns` names, in their order
/// (every field of `entity`, in its order, when `None`); a field
/// `assoc.col` goes into the object `assoc` (`{"assoc":{"col":…}}`), which
/// takes the place of the first of its columns.
pub fn project<N: AsRef<str>>(
    entity: Entity,
    mut row: Map<String, JsonValue>,
    columns: Option<&[N]>,
) -> Map<String, JsonValue> {
    let names: Vec<&str> = match columns {
        Some(c) => c.iter().map(AsRef::as_ref).collect(),
        None => entity.fields().iter().map(|f| f.name).collect(),
    };
    let mut out = Map::with_capacity(names.len());
    for name in &names {
        // The row's own key is reused (no new string per field); the row's
        // order does not matter, `out` is built in the columns' order.
        let (key, value) = row
            .swap_remove_entry(*name)
            .unwrap_or_else(|| ((*name).to_string(), JsonValue::Null));
        match name.split_once('.') {
            None => {
                out.insert(key, value);
            }
            Some((assoc, col)) => {
                let slot = out
                    .entry(assoc.to_string())
                    .or_insert_with(|| JsonValue::Object(Map::new()));
                if let JsonValue::Object(m) = slot {
                    m.insert(col.to_string(), value);
                }
            }
        }
    }
    out
}

/// Bytes of JSON gathered before they are handed to the connection.
const CHUNK_BYTES: usize = 32 * 1024;
/// Chunks waiting for a slow client, at most: with [`CHUNK_BYTES`], what
/// a list answer holds in memory is bounded (~160 KiB) whatever its size.
const CHANNEL_CHUNKS: usize = 4;

type Chunk = Result<Bytes, std::io::Error>;

/// Writes a page as `{"total":N,"rows":[…]}` into chunks sent to the body.
struct JsonRows<T> {
    tx: mpsc::Sender<Chunk>,
    /// Told once the total is known: the answer can start.
    started: Option<oneshot::Sender<()>>,
    buf: Vec<u8>,
    rows: u64,
    entity: Entity,
    columns: Option<Vec<Cow<'static, str>>>,
    to_json: fn(&T) -> Map<String, JsonValue>,
}

impl<T> JsonRows<T> {
    /// Hands the gathered bytes to the body; `false` once the client left.
    async fn flush(&mut self) -> bool {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES + 1024),
        ));
        self.tx.send(Ok(chunk)).await.is_ok()
    }
}

#[openlmt_storage::async_trait]
impl<T: Send> RowSink<T> for JsonRows<T> {
    async fn total(&mut self, total: i64) -> bool {
        self.buf
            .extend_from_slice(format!("{{\"total\":{total},\"rows\":[").as_bytes());
        // The handler is gone when nobody waits for the start.
        self.started.take().is_some_and(|s| s.send(()).is_ok())
    }

    async fn row(&mut self, row: T) -> bool {
        if self.rows > 0 {
            self.buf.push(b',');
        }
        self.rows += 1;
        let value = project(self.entity, (self.to_json)(&row), self.columns.as_deref());
        if let Err(e) = serde_json::to_writer(&mut self.buf, &value) {
            // (A map of JSON values always serializes; never seen.)
            tracing::error!(error = %e, "cannot write a list row");
            let _ = self.tx.send(Err(std::io::Error::other(e))).await;
            return false;
        }
        self.buf.len() < CHUNK_BYTES || self.flush().await
    }
}

/// Answers a list request: `{"total":N,"rows":[…]}`, compact, written to
/// the client while the rows are read (one read transaction: the total and
/// the rows are of one snapshot). A task reads the page and sends chunks of
/// serialized rows through a small bounded channel to the body, so memory
/// stays bounded for any page size; when the client goes away the channel
/// closes and the query stops.
///
/// An error before the total is a normal error answer (500); after the
/// status line was sent, the body is cut off (the connection is aborted, so
/// the client sees an incomplete answer, never a short one that parses).
pub async fn respond<S>(
    store: &Store,
    req: ListRequest,
    to_json: fn(&S::Row) -> Map<String, JsonValue>,
) -> Result<Response, ApiError>
where
    S: List,
{
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let (started_tx, started_rx) = oneshot::channel();
    let store = store.clone();
    let task = tokio::spawn(async move {
        let mut sink = JsonRows {
            tx,
            started: Some(started_tx),
            buf: Vec::with_capacity(CHUNK_BYTES + 1024),
            rows: 0,
            entity: S::ENTITY,
            columns: req.columns,
            to_json,
        };
        match store.stream_list::<S>(&req.query, &mut sink).await {
            Ok(StreamEnd::Complete) => {
                sink.buf.extend_from_slice(b"]}");
                sink.flush().await;
                Ok(())
            }
            Ok(StreamEnd::Stopped) => {
                tracing::debug!(
                    rows = sink.rows,
                    "list answer stopped: the client went away"
                );
                Ok(())
            }
            // Not started: the handler answers the error.
            Err(e) if sink.started.is_some() => Err(e),
            Err(e) => {
                tracing::error!(error = %e, rows = sink.rows, "a list answer failed while streaming");
                let _ = sink
                    .tx
                    .send(Err(std::io::Error::other("the list could not be read")))
                    .await;
                Ok(())
            }
        }
    });
    if started_rx.await.is_err() {
        // The task ended before the total: its error is the answer.
        return Err(match task.await {
            Ok(Err(e)) => e.into(),
            Ok(Ok(())) => ApiError::internal("a list ended before its total"),
            Err(e) => ApiError::internal(format_args!("a list task failed: {e}")),
        });
    }
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = Body::from_stream(body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    with_api_headers(&mut resp);
    Ok(resp)
}

/// Writes one row of a list read in place as its JSON object, straight
/// into the answer's buffer (no intermediate `Map`): the columns asked,
/// nested like [`project`] nests them, byte for byte the same.
pub trait RowWriter<S: RefList>: Send + 'static {
    fn write(&mut self, row: &S::RowRef<'_>, out: &mut Vec<u8>);
}

/// [`JsonRows`] for a list read in place: rows are written by a
/// [`RowWriter`].
struct DirectRows<W> {
    tx: mpsc::Sender<Chunk>,
    started: Option<oneshot::Sender<()>>,
    buf: Vec<u8>,
    rows: u64,
    writer: W,
}

impl<W> DirectRows<W> {
    async fn send(&mut self) -> bool {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES + 4096),
        ));
        self.tx.send(Ok(chunk)).await.is_ok()
    }
}

#[openlmt_storage::async_trait]
impl<S: RefList, W: RowWriter<S>> RefRowSink<S> for DirectRows<W> {
    async fn total(&mut self, total: i64) -> bool {
        self.buf
            .extend_from_slice(format!("{{\"total\":{total},\"rows\":[").as_bytes());
        self.started.take().is_some_and(|s| s.send(()).is_ok())
    }

    fn row(&mut self, row: &S::RowRef<'_>) -> bool {
        if self.rows > 0 {
            self.buf.push(b',');
        }
        self.rows += 1;
        self.writer.write(row, &mut self.buf);
        self.buf.len() >= CHUNK_BYTES
    }

    async fn flush(&mut self) -> bool {
        self.send().await
    }
}

/// [`respond`] for a list read in place ([`RefList`]), each row
/// written by `writer` (the same answer, with less work per row).
pub async fn respond_direct<S, W>(
    store: &Store,
    req: ListRequest,
    writer: W,
) -> Result<Response, ApiError>
where
    S: RefList,
    W: RowWriter<S>,
{
    let (tx, mut rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let (started_tx, started_rx) = oneshot::channel();
    let store = store.clone();
    let task = tokio::spawn(async move {
        let mut sink = DirectRows {
            tx,
            started: Some(started_tx),
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            rows: 0,
            writer,
        };
        match store.stream_list_ref::<S>(&req.query, &mut sink).await {
            Ok(StreamEnd::Complete) => {
                sink.buf.extend_from_slice(b"]}");
                sink.send().await;
                Ok(())
            }
            Ok(StreamEnd::Stopped) => {
                tracing::debug!(
                    rows = sink.rows,
                    "list answer stopped: the client went away"
                );
                Ok(())
            }
            Err(e) if sink.started.is_some() => Err(e),
            Err(e) => {
                tracing::error!(error = %e, rows = sink.rows, "a list answer failed while streaming");
                let _ = sink
                    .tx
                    .send(Err(std::io::Error::other("the list could not be read")))
                    .await;
                Ok(())
            }
        }
    });
    if started_rx.await.is_err() {
        return Err(match task.await {
            Ok(Err(e)) => e.into(),
            Ok(Ok(())) => ApiError::internal("a list ended before its total"),
            Err(e) => ApiError::internal(format_args!("a list task failed: {e}")),
        });
    }
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = Body::from_stream(body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    with_api_headers(&mut resp);
    Ok(resp)
}

/// The output of a row for the columns asked, as [`project`] lays it out:
/// top-level entries in order, a dotted column in the object of its
/// association (at the place of the association's first column). `C` says
/// which value a column shows; each key comes pre-escaped (`"name":`).
pub struct RowPlan<C> {
    pub entries: Vec<PlanEntry<C>>,
}

pub enum PlanEntry<C> {
    Field {
        key: Vec<u8>,
        col: C,
    },
    Object {
        key: Vec<u8>,
        cols: Vec<(Vec<u8>, C)>,
    },
}

/// `"name":` with `name` escaped as JSON.
fn key_prefix(name: &str) -> Vec<u8> {
    let mut k = serde_json::to_vec(name).unwrap_or_else(|_| b"\"\"".to_vec());
    k.push(b':');
    k
}

impl<C: Copy> RowPlan<C> {
    /// The plan for `columns` (every field of `entity` when `None`), each
    /// name's value given by `col`.
    pub fn new<N: AsRef<str>>(
        entity: Entity,
        columns: Option<&[N]>,
        col: impl Fn(&str) -> C,
    ) -> Self {
        let names: Vec<&str> = match columns {
            Some(c) => c.iter().map(AsRef::as_ref).collect(),
            None => entity.fields().iter().map(|f| f.name).collect(),
        };
        let mut entries: Vec<PlanEntry<C>> = Vec::with_capacity(names.len());
        let mut objects: Vec<(&str, usize)> = Vec::new();
        for name in names {
            match name.split_once('.') {
                None => {
                    // A plain name equal to an association's name replaces
                    // its object in place, as a map insert does.
                    if let Some(&(_, i)) = objects.iter().find(|(a, _)| *a == name) {
                        entries[i] = PlanEntry::Field {
                            key: key_prefix(name),
                            col: col(name),
                        };
                        objects.retain(|(a, _)| *a != name);
                    } else {
                        entries.push(PlanEntry::Field {
                            key: key_prefix(name),
                            col: col(name),
                        });
                    }
                }
                Some((assoc, sub)) => {
                    let i = match objects.iter().find(|(a, _)| *a == assoc) {
                        Some(&(_, i)) => i,
                        None => {
                            entries.push(PlanEntry::Object {
                                key: key_prefix(assoc),
                                cols: Vec::new(),
                            });
                            objects.push((assoc, entries.len() - 1));
                            entries.len() - 1
                        }
                    };
                    if let PlanEntry::Object { cols, .. } = &mut entries[i] {
                        cols.push((key_prefix(sub), col(name)));
                    }
                }
            }
        }
        RowPlan { entries }
    }

    /// Writes one row: `value(col, out)` writes a column's value.
    pub fn write(&self, out: &mut Vec<u8>, mut value: impl FnMut(C, &mut Vec<u8>)) {
        out.push(b'{');
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match e {
                PlanEntry::Field { key, col } => {
                    out.extend_from_slice(key);
                    value(*col, out);
                }
                PlanEntry::Object { key, cols } => {
                    out.extend_from_slice(key);
                    out.push(b'{');
                    for (j, (k, c)) in cols.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(k);
                        value(*c, out);
                    }
                    out.push(b'}');
                }
            }
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use openlmt_domain::time::format_utc;
    use proptest::prelude::*;
    use serde_json::json;

    /// 2026-11-28T12:00:00Z, the `now` of the tests.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_867_200, 0).unwrap()
    }

    fn ok(entity: Entity, text: &str) -> Filter {
        parse_criteria(entity, text, now()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(entity: Entity, text: &str) -> String {
        match parse_criteria(entity, text, now()) {
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

    fn single(f: Filter) -> Condition {
        match f {
            Filter::And(mut v) | Filter::Or(mut v) if v.len() == 1 => match v.pop() {
                Some(Filter::Cond(c)) => c,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_and_booleans_may_come_as_strings() {
        let e = Entity::Computers;
        let value = |text: &str| single(ok(e, text)).value().clone();
        assert_eq!(value(r#"{"and":[["id","=","42"]]}"#), Value::Int(42));
        assert_eq!(
            value(r#"{"and":[["bigfix_id","="," -7 "]]}"#),
            Value::Int(-7)
        );
        for (text, want) in [
            ("true", true),
            ("\"true\"", true),
            ("\"TRUE\"", true),
            ("\"1\"", true),
            ("1", true),
            ("false", false),
            ("\"false\"", false),
            ("\"0\"", false),
            ("0", false),
        ] {
            let criteria = format!(r#"{{"and":[["is_deleted","=",{text}]]}}"#);
            assert_eq!(value(&criteria), Value::Bool(want), "{criteria}");
        }
    }

    #[test]
    fn last_is_a_period_ending_now() {
        let e = Entity::Computers;
        let period = |d: &str| {
            let c = single(ok(e, &format!(r#"{{"and":[["last_seen","last","{d}"]]}}"#)));
            assert_eq!(c.op(), Op::Last);
            match c.value() {
                Value::Period { from, to } => {
                    assert_eq!(*to, now());
                    format_utc(*from)
                }
                other => panic!("{other:?}"),
            }
        };
        // now() is 2026-11-28T12:00:00Z.
        assert_eq!(period("P1M"), "2026-10-28T12:00:00Z");
        assert_eq!(period("P1Y"), "2025-11-28T12:00:00Z");
        assert_eq!(period("P1Y2M"), "2025-09-28T12:00:00Z");
        assert_eq!(period("P9M"), "2026-02-28T12:00:00Z");
        assert_eq!(period("P2W"), "2026-11-14T12:00:00Z");
        assert_eq!(period("P1D"), "2026-11-27T12:00:00Z");
        assert_eq!(period("PT1H"), "2026-11-28T11:00:00Z");
        assert_eq!(period("PT1M"), "2026-11-28T11:59:00Z");
        assert_eq!(period("PT90S"), "2026-11-28T11:58:30Z");
        assert_eq!(period("P1DT1H1M1S"), "2026-11-27T10:58:59Z");
        assert_eq!(period("P90D"), "2026-08-30T12:00:00Z");
        assert_eq!(period("P0D"), "2026-11-28T12:00:00Z");
        // Calendar months end on the last day of a shorter month.
        let march_31 = DateTime::from_timestamp(1_806_494_400, 0).unwrap(); // 2027-03-31T12:00Z
        let f = parse_criteria(e, r#"{"and":[["first_seen","LAST","P1M"]]}"#, march_31).unwrap();
        match single(f).value() {
            Value::Period { from, .. } => assert_eq!(format_utc(*from), "2027-02-28T12:00:00Z"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn durations_parse_strictly() {
        let d = |t: &str| parse_duration(t);
        let ms = |months: u64, millis: f64| Ok(IsoDuration { months, millis });
        assert_eq!(d("P1M"), ms(1, 0.0));
        assert_eq!(d("PT1M"), ms(0, 60_000.0));
        assert_eq!(d("P2Y3M"), ms(27, 0.0));
        assert_eq!(d("P1W"), ms(0, 604_800_000.0));
        assert_eq!(
            d("P1Y2M3W4DT5H6M7S"),
            ms(14, ((25.0 * 24.0 + 5.0) * 60.0 + 6.0) * 60_000.0 + 7000.0)
        );
        assert_eq!(d("PT0.5S"), ms(0, 500.0));
        assert_eq!(d("P1,5D"), ms(0, 1.5 * 86_400_000.0));
        assert_eq!(d("p1dt1h"), ms(0, 25.0 * 3_600_000.0));
        assert_eq!(d("P0D"), ms(0, 0.0));
        for bad in [
            "",
            "P",
            "PT",
            "1M",
            "P1",
            "P1X",
            "PM",
            "P.5D",
            "P1D1Y",
            "P1M1M",
            "P1H",
            "PT1D",
            "P1DT",
            "P-1D",
            "P1e3D",
            "P1.5Y",
            "P1.5M",
            "P1D T1H",
            "P99999999999999999999Y",
        ] {
            assert!(d(bad).is_err(), "{bad:?}: {:?}", d(bad));
        }
    }

    #[test]
    fn single_quoted_criteria_are_read_leniently() {
        // datactl's form, verbatim.
        let f = ok(Entity::Computers, "{'and':[['sockets','<=','0']]}");
        let c = single(f);
        assert_eq!(
            (c.field().name, c.op(), c.value()),
            ("sockets", Op::Le, &Value::Int(0))
        );
        // Valid JSON is never rewritten: an apostrophe in a value stays.
        let c = single(ok(Entity::Computers, r#"{"and":[["name","=","O'Brien"]]}"#));
        assert_eq!(c.value(), &Value::Text("O'Brien".into()));
        // Both quotings mix; a `"` inside single quotes is text, and so is
        // an escaped single quote.
        for (text, want) in [
            (r#"{'and':[['name','=','say "hi"']]}"#, r#"say "hi""#),
            (r#"{'and':[['name','=',"O'Brien"]]}"#, "O'Brien"),
            (r"{'and':[['name','=','O\'Brien']]}", "O'Brien"),
            (r"{'and':[['name','=','a\\b']]}", r"a\b"),
        ] {
            let c = single(ok(Entity::Computers, text));
            assert_eq!(c.value(), &Value::Text(want.into()), "{text}");
        }
    }

    #[test]
    fn repeated_criteria_all_apply() {
        let p = Params::parse(Some(
            "criteria={'and':[['sockets','<=','0']]}&criteria={'and':[['is_virtual','=','1']]}",
        ));
        let req = list_request(Entity::Computers, &p, now()).unwrap();
        let Some(Filter::And(both)) = req.query.filter() else {
            panic!("{:?}", req.query.filter())
        };
        assert_eq!(both.len(), 2);
        assert_eq!(req.query.filter().unwrap().conditions(), 2);
        // One bad criteria among them is still a 400.
        let p = Params::parse(Some("criteria={\"and\":[]}&criteria=nope"));
        let e = list_request(Entity::Computers, &p, now()).err().unwrap();
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        // Empty ones are no criteria.
        let p = Params::parse(Some("criteria=&criteria=+"));
        assert!(list_request(Entity::Computers, &p, now())
            .unwrap()
            .query
            .filter()
            .is_none());
    }

    #[test]
    fn dotted_columns_nest_in_the_order_asked() {
        let row: Map<String, JsonValue> = [
            ("id", json!(1)),
            ("computer_hardware.computer_type", json!(0)),
            ("computer_hardware.server_cores", json!(8)),
            ("name", json!("a")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let v = project(
            Entity::Computers,
            row,
            Some(&[
                "computer_hardware.server_cores",
                "name",
                "computer_hardware.computer_type",
            ]),
        );
        assert_eq!(
            JsonValue::Object(v).to_string(),
            r#"{"computer_hardware":{"server_cores":8,"computer_type":0},"name":"a"}"#
        );
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
            (
                r#"{"and":[["name","~","x"]]}"#,
                "`~` is not an operator; operators are =, !=, <, <=, >, >=, contains, last",
            ),
            (r#"{"and":[["name",1,"x"]]}"#, "must be a string"),
            (r#"{"and":[["sockets","contains",1]]}"#, "does not apply"),
            (r#"{"and":[["sockets","=","one"]]}"#, "whole number"),
            (r#"{"and":[["sockets","=","1.5"]]}"#, "whole number"),
            (r#"{"and":[["sockets","=",""]]}"#, "whole number"),
            (r#"{"and":[["is_virtual","=","2"]]}"#, "true or false"),
            (r#"{"and":[["is_virtual","=",2]]}"#, "true or false"),
            (r#"{"and":[["name","last","P1M"]]}"#, "does not apply"),
            (
                r#"{"and":[["last_seen","last","1 month"]]}"#,
                "not the string \"1 month\"",
            ),
            (
                r#"{"and":[["last_seen","last","P-1D"]]}"#,
                "has a number before it",
            ),
            (r#"{"and":[["last_seen","last","P0.5M"]]}"#, "must be whole"),
            (r#"{"and":[["last_seen","last","P99999999Y"]]}"#, "too long"),
            (r#"{"and":[["last_seen","last",30]]}"#, "ISO 8601 duration"),
            (
                r#"{"and":[["last_seen","last",null]]}"#,
                "ISO 8601 duration",
            ),
            (r#"{"and":[["last_seen",">","P1M"]]}"#, "UTC time"),
            ("{'and':[['name','=','x']", "not valid JSON"),
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
            parse_columns(Entity::Computers, &p).unwrap().unwrap(),
            vec!["name", "id"]
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
                if let Err(reason) = parse_criteria(e, &text, now()) {
                    prop_assert!(!reason.is_empty());
                }
            }
        }

        #[test]
        fn never_panics_on_any_json(v in arb_json()) {
            let text = v.to_string();
            for e in [Entity::Computers, Entity::InstalledPackages, Entity::SwidTags] {
                match parse_criteria(e, &text, now()) {
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
            let f = parse_criteria(Entity::Computers, &v.to_string(), now());
            prop_assert!(f.is_ok(), "{}: {:?}", v, f);
            prop_assert_eq!(f.unwrap().conditions(), n);
        }
    }
}
