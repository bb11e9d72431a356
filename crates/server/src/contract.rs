//! The API's route table: the one place that says which routes exist, what
//! each requires and what it answers. Three things are made from it:
//!
//! - the router ([`crate::router`] routes exactly the table's methods and
//!   paths; each [`Op`] names its handler in [`crate::handler`], an
//!   exhaustive match, so an operation without a handler does not compile
//!   and a handler outside the table is never routed);
//! - the OpenAPI 3.1 document served at `GET /api/openapi.json`
//!   ([`openapi`]), with the examples of docs/api.md ([`doc_examples`]);
//! - the authorisation matrix test (`crates/cli/tests/contract.rs`), which
//!   reads the table from the served document (`x-openlmt-access`).
//!
//! The document is built with `serde_json` from this table rather than with
//! a derive crate such as `utoipa`: utoipa describes handlers and serde
//! types through attributes, while here the router, the document and the
//! matrix must come from one list, and the response bodies are written by
//! hand in the server's wire modules (key order, projections chosen by the
//! client), not by serde types a derive could read.

use openlmt_domain::query::{Entity, FieldKind};
use openlmt_domain::Permission;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anybody, without a token.
    Public,
    /// Any authenticated caller (token or panel session), whatever its
    /// permissions.
    Authenticated,
    /// An authenticated caller whose user has this permission.
    Permission(Permission),
}

impl Access {
    /// The wire form of `x-openlmt-access`: `public`, `authenticated` or
    /// the permission's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Authenticated => "authenticated",
            Access::Permission(p) => p.as_str(),
        }
    }
}

/// The HTTP methods of the table (every `GET` also answers `HEAD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
    fn lower(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Delete => "delete",
        }
    }
    pub fn filter(self) -> axum::routing::MethodFilter {
        match self {
            Method::Get => axum::routing::MethodFilter::GET,
            Method::Post => axum::routing::MethodFilter::POST,
            Method::Put => axum::routing::MethodFilter::PUT,
            Method::Delete => axum::routing::MethodFilter::DELETE,
        }
    }
}

/// Every operation of the API; [`crate::handler`] maps each to its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    ImportStatus,
    ManagementImports,
    GetToken,
    ListImports,
    GetImport,
    ImportLog,
    ImportPackages,
    CancelImport,
    GetSchedule,
    PutSchedule,
    ListComputers,
    DeleteComputer,
    RawPackageFacts,
    RawSwidTags,
    About,
    Root,
    ListInstances,
    Classify,
    ListComponents,
    ListBundlingOptions,
    ListAudit,
    LicenseUsage,
    LicenseUsagePerServer,
    LicenseExplain,
    LicenseDaily,
    GetPvuTable,
    PutPvuTable,
    DeletePvuTable,
    GetPvuOverrides,
    PutPvuOverrides,
    DeletePvuOverride,
    AuditSnapshot,
    ScanResultsUpload,
    GetCatalog,
    PutCatalog,
    ExportCatalog,
    OpenApi,
    RefusedHead,
    Healthz,
    Metrics,
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Query,
    Path,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    pub required: bool,
    pub schema: Value,
    pub description: &'static str,
}

/// A body, of a request or a response.
#[derive(Debug, Clone)]
pub enum Content {
    /// `application/json` with this schema.
    Json(Value),
    /// Text or bytes of this media type.
    Other(&'static str, Value),
    /// No body.
    Empty,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub content: Content,
    /// Response headers: name and description.
    pub headers: Vec<(&'static str, &'static str)>,
}

/// One operation: a method on a path.
#[derive(Debug, Clone)]
pub struct Operation {
    pub op: Op,
    pub method: Method,
    /// The axum path (`{id}` for a path parameter).
    pub path: &'static str,
    pub access: Access,
    pub tag: &'static str,
    pub summary: &'static str,
    /// The section of docs/api.md.
    pub section: &'static str,
    pub params: Vec<Param>,
    pub request: Option<(bool, Vec<(&'static str, Value)>)>,
    pub answers: Vec<Answer>,
    /// Takes the list conventions' JSON body on a GET (docs/api.md §7.2).
    pub json_body_on_get: bool,
    /// A query parameter that, given a value other than empty or `false`,
    /// needs this permission too (`run` of the import status).
    pub permission_with: Option<(&'static str, Permission)>,
}

// ---- schema helpers ----

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn integer() -> Value {
    json!({ "type": "integer" })
}

fn boolean() -> Value {
    json!({ "type": "boolean" })
}

/// A time of the API: `YYYY-MM-DDTHH:MM:SSZ`.
fn time() -> Value {
    json!({ "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$" })
}

fn time_or_null() -> Value {
    json!({ "anyOf": [time(), { "type": "null" }] })
}

fn date() -> Value {
    json!({ "type": "string", "format": "date", "pattern": "^\\d{4}-\\d{2}-\\d{2}$" })
}

/// An object whose every listed key is present (the API never omits a
/// field, docs/api.md §1), with no others.
fn object(props: Value) -> Value {
    let required: Vec<Value> = props
        .as_object()
        .map(|m| m.keys().map(|k| json!(k)).collect())
        .unwrap_or_default();
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

/// An object of which some keys may be present, and others too.
fn open_object(props: Value) -> Value {
    json!({ "type": "object", "properties": props })
}

fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn error_schema() -> Value {
    json!({ "$ref": "#/components/schemas/Error" })
}

/// A list field's schema, from its kind.
fn kind_schema(entity: Entity, name: &str, kind: FieldKind) -> Value {
    // The wire values whose kind the criteria read differently.
    match (entity, name) {
        (Entity::ClassificationAudit, "details") => {
            return json!({ "description": "the values before and after (an object), or null" })
        }
        (Entity::BundlingOptions, "metric_id") | (Entity::SoftwareInstances, "metric_id") => {
            return json!({ "type": ["string", "integer", "null"] })
        }
        _ => {}
    }
    match kind {
        FieldKind::Int => nullable("integer"),
        FieldKind::Text => nullable("string"),
        FieldKind::Bool => nullable("boolean"),
        FieldKind::Time => time_or_null(),
        FieldKind::TextList => json!({ "type": ["array", "null"], "items": string() }),
    }
}

/// A row of a list: the client picks its columns (`columns`), so every
/// known column is an optional property (an `assoc.col` column nested in
/// the object `assoc`), and the extra columns of ILMT's lists that openlmt
/// accepts (docs/api.md §7.4, §13.4) are allowed as further properties.
fn row_schema(entity: Entity) -> Value {
    let mut props = Map::new();
    let mut nested: Map<String, Value> = Map::new();
    for f in entity.fields() {
        match f.name.split_once('.') {
            None => {
                props.insert(f.name.into(), kind_schema(entity, f.name, f.kind));
            }
            Some((assoc, col)) => {
                let entry = nested.entry(assoc.to_string()).or_insert_with(|| json!({}));
                if let Value::Object(m) = entry {
                    m.insert(col.into(), kind_schema(entity, f.name, f.kind));
                }
            }
        }
    }
    for (assoc, cols) in nested {
        props.insert(
            assoc,
            json!({ "type": "object", "properties": cols, "additionalProperties": true }),
        );
    }
    json!({
        "type": "object",
        "properties": props,
        "additionalProperties": true,
        "description": format!(
            "One row: the columns asked for in `columns` (every column of the list, in its order, when none), each present; `null` where a value is unknown or does not apply. Columns: {}.",
            entity.field_list()
        ),
    })
}

fn rows_of(row: Value) -> Value {
    object(json!({ "total": integer(), "rows": array(row) }))
}

// ---- parameter helpers ----

fn query(name: &'static str, schema: Value, description: &'static str) -> Param {
    Param {
        name,
        location: In::Query,
        required: false,
        schema,
        description,
    }
}

fn required_query(name: &'static str, schema: Value, description: &'static str) -> Param {
    Param {
        required: true,
        ..query(name, schema, description)
    }
}

fn path_id() -> Param {
    Param {
        name: "id",
        location: In::Path,
        required: true,
        schema: json!({ "type": "integer", "minimum": 1, "maximum": i64::MAX }),
        description: "The import's id.",
    }
}

/// `limit` and `offset` of the import history and its packages.
fn paging(default_limit: i64, max_limit: i64) -> Vec<Param> {
    vec![
        query(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": max_limit, "default": default_limit }),
            "Rows per page.",
        ),
        query(
            "offset",
            json!({ "type": "integer", "minimum": 0, "maximum": i64::MAX / 2, "default": 0 }),
            "Rows skipped.",
        ),
    ]
}

/// The list conventions of docs/api.md §7.2.
fn list_params() -> Vec<Param> {
    vec![
        query(
            "limit",
            json!({ "type": "integer", "minimum": 0, "maximum": crate::list::MAX_LIMIT, "default": crate::list::DEFAULT_LIMIT }),
            "Rows per page (§7.2).",
        ),
        query(
            "offset",
            json!({ "type": "integer", "minimum": 0, "maximum": openlmt_domain::query::MAX_OFFSET, "default": 0 }),
            "Rows skipped (§7.2).",
        ),
        query(
            "columns",
            json!({ "type": "string" }),
            "The columns to show, comma-separated (`columns=id,name`; `columns[]=id&columns[]=name` also works), in that order (§7.2).",
        ),
        query(
            "order",
            json!({ "type": "string" }),
            "Sort: `field` or `field desc`, comma-separated or repeated (§7.2).",
        ),
        query(
            "criteria",
            json!({ "type": "string" }),
            "A filter in ILMT's JSON form, e.g. `{\"and\":[[\"name\",\"=\",\"x\"]]}` (§7.3); repeated ones all apply.",
        ),
    ]
}

fn period_params() -> Vec<Param> {
    vec![
        query(
            "startdate",
            date(),
            "First UTC day of the period (default: 89 days before `enddate`).",
        ),
        query(
            "enddate",
            date(),
            "Last UTC day of the period (default: today).",
        ),
    ]
}

// ---- answer helpers ----

fn ok_json(description: &'static str, schema: Value) -> Answer {
    answer(200, description, Content::Json(schema))
}

fn answer(status: u16, description: &'static str, content: Content) -> Answer {
    Answer {
        status,
        description,
        content,
        headers: Vec::new(),
    }
}

fn err(status: u16, description: &'static str) -> Answer {
    answer(status, description, Content::Json(error_schema()))
}

fn bad_params() -> Answer {
    err(400, "A parameter is not valid; `error` names it.")
}

fn list_errors() -> Vec<Answer> {
    vec![
        err(400, "A parameter (limit, offset, columns, order, criteria) or the JSON body is not valid; `error` says which and why (§7.8)."),
        err(413, "The JSON body of the GET is larger than 64 KiB."),
    ]
}

fn operation(
    op: Op,
    method: Method,
    path: &'static str,
    access: Access,
    tag: &'static str,
    summary: &'static str,
    section: &'static str,
) -> Operation {
    Operation {
        op,
        method,
        path,
        access,
        tag,
        summary,
        section,
        params: Vec::new(),
        request: None,
        answers: Vec::new(),
        json_body_on_get: false,
        permission_with: None,
    }
}

impl Operation {
    fn params(mut self, p: Vec<Param>) -> Self {
        self.params.extend(p);
        self
    }
    fn permission_with(mut self, param: &'static str, p: Permission) -> Self {
        self.permission_with = Some((param, p));
        self
    }
    fn answers(mut self, a: Vec<Answer>) -> Self {
        self.answers.extend(a);
        self
    }
    fn body(mut self, required: bool, contents: Vec<(&'static str, Value)>) -> Self {
        self.request = Some((required, contents));
        self
    }
    /// A list of docs/api.md §7.2: its parameters, also as a JSON body.
    fn list(mut self, entity: Entity) -> Self {
        self.params.extend(list_params());
        self.json_body_on_get = true;
        self.answers.push(ok_json(
            "A page of rows: `total` counts every row that matches, `rows` holds the page.",
            rows_of(row_schema(entity)),
        ));
        self.answers.extend(list_errors());
        self
    }
    /// Takes the JSON body on a GET (§7.2) without the list parameters.
    fn json_body(mut self) -> Self {
        self.json_body_on_get = true;
        self.answers
            .push(err(413, "The JSON body of the GET is larger than 64 KiB."));
        self
    }
    pub fn answer(&self, status: u16) -> Option<&Answer> {
        self.answers.iter().find(|a| a.status == status)
    }
}

fn import_schema() -> Value {
    object(json!({
        "id": integer(),
        "type": { "type": "string", "enum": ["complete", "raw_only"] },
        "trigger": { "type": "string" },
        "requested_by": nullable("string"),
        "node": nullable("string"),
        "status": { "type": "string" },
        "requested_at": time(),
        "started_at": time_or_null(),
        "finished_at": time_or_null(),
        "duration_seconds": nullable("number"),
        "progress": { "type": "integer", "minimum": 0, "maximum": 100 },
        "error": nullable("string"),
        "packages": object(json!({ "found": integer(), "imported": integer(), "rejected": integer() })),
        "log_url": string(),
    }))
}

fn import_detail_schema() -> Value {
    let mut s = import_schema();
    let step = object(json!({
        "position": integer(),
        "name": string(),
        "started_at": time_or_null(),
        "finished_at": time_or_null(),
        "items_read": integer(),
        "items_imported": integer(),
        "items_rejected": integer(),
        "warnings": integer(),
    }));
    s["properties"]["steps"] = array(step);
    s["properties"]["current_step"] = json!({
        "type": ["string", "null"],
        "description": "Only while the import is pending or running: the step it is in (`null` before the first)."
    });
    if let Some(r) = s["required"].as_array_mut() {
        r.push(json!("steps"));
    }
    s
}

fn status_schema() -> Value {
    let s = json!({
        "mode": { "type": "string", "enum": ["idle", "pending", "running", "none"] },
        "can_run_imports": boolean(),
        "import_status_url": string(),
        "import_create_url": string(),
        "progress": { "type": "integer", "minimum": 0, "maximum": 100 },
        "last_success_time": time_or_null(),
        "last_import_type": nullable("string"),
        "last_status": nullable("string"),
        "last_import_time": time_or_null(),
        "next_import_time": time_or_null(),
        "next_import_time_in": nullable("integer"),
        "next_import_type": nullable("string"),
        "stale": {
            "type": "boolean",
            "const": true,
            "description": "Only present (true) when several servers share a PostgreSQL database and this one could not read it at its last look: the values are its last snapshot."
        },
    });
    json!({
        "type": "object",
        "properties": s,
        "additionalProperties": false,
        "description": "ILMT's twelve keys in ILMT's order; with `columns`, only those asked for (§3.4); `stale` only when true.",
    })
}

fn schedule_schema() -> Value {
    object(json!({
        "enabled": boolean(),
        "daily_time": nullable("string"),
        "cron": string(),
        "timezone": string(),
        "import_type": { "type": "string", "enum": ["complete", "raw_only"] },
        "next_import_time": time_or_null(),
        "next_import_time_in": nullable("integer"),
    }))
}

fn counts_schema() -> Value {
    object(json!({ "products": integer(), "components": integer(), "signatures": integer() }))
}

fn catalog_info_schema() -> Value {
    object(json!({
        "bundled": object(json!({ "catalog_version": string(), "openlmt_version": string(), "counts": counts_schema() })),
        "operator": { "anyOf": [ object(json!({
            "catalog_version": string(), "set_at": string(), "set_by": nullable("string"),
            "counts": { "anyOf": [counts_schema(), { "type": "null" }] },
        })), { "type": "null" } ] },
        "effective": { "anyOf": [ object(json!({
            "catalog_version": string(), "version": string(), "hash": string(), "counts": counts_schema(),
        })), { "type": "null" } ] },
        "problem": nullable("string"),
        "in_force": { "anyOf": [ object(json!({
            "version": string(), "hash": string(), "applied_at": string(), "import_id": integer(),
        })), { "type": "null" } ] },
        "pending": boolean(),
    }))
}

fn pvu_info_schema() -> Value {
    object(json!({
        "bundled": object(json!({ "version": string(), "rows": integer() })),
        "operator": { "anyOf": [ object(json!({
            "version": string(), "rows": nullable("integer"), "set_at": string(),
            "set_by": nullable("string"), "problem": nullable("string"),
        })), { "type": "null" } ] },
        "in_force": { "type": "string", "enum": ["bundled", "operator"] },
        "in_force_version": string(),
        "rows": array(object(json!({ "label": string(), "pvu_per_core": integer(), "source": string() }))),
        "last_snapshot": { "anyOf": [ object(json!({
            "import_id": integer(), "taken_at": string(), "pvu_table_version": string(),
            "physical_servers": nullable("integer"), "physical_servers_at_default_rate": nullable("integer"),
        })), { "type": "null" } ] },
        "advice": string(),
    }))
}

fn overrides_schema() -> Value {
    rows_of(object(json!({
        "server_id": integer(),
        "pvu_per_core": integer(),
        "comment": string(),
        "set_by": nullable("string"),
        "set_at": time(),
    })))
}

fn refused_document_schema(item: Value) -> Value {
    json!({
        "type": "object",
        "required": ["error", "errors"],
        "properties": { "error": string(), "errors": array(item) },
    })
}

/// The catalog document's JSON Schema (crates/catalog/catalog.schema.json),
/// as a component of the document: its `$defs` references made absolute.
fn catalog_schema() -> Value {
    let text = include_str!("../../catalog/catalog.schema.json")
        .replace("\"#/$defs/", "\"#/components/schemas/Catalog/$defs/");
    let mut v: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "type": "object" }));
    if let Value::Object(m) = &mut v {
        m.remove("$schema");
        m.remove("$id");
    }
    v
}

/// A metric by its number or code name (docs/metrics.md).
fn metric_schema() -> Value {
    let mut names: Vec<Value> = Vec::new();
    for m in openlmt_domain::metric::REPORTED_METRICS.iter() {
        names.push(json!(m.id.to_string()));
        names.push(json!(m.code));
    }
    json!({ "type": "string", "enum": names })
}

fn credentials() -> Value {
    json!({ "type": "object", "required": ["user", "password"], "properties": { "user": string(), "password": string() } })
}

fn upload_error() -> Value {
    object(json!({ "success": { "const": false }, "error": string() }))
}

/// The route table. The order is docs/api.md's.
pub fn operations() -> &'static [Operation] {
    static TABLE: OnceLock<Vec<Operation>> = OnceLock::new();
    TABLE.get_or_init(table)
}

fn table() -> Vec<Operation> {
    use Access::{Authenticated, Public};
    use Method::{Delete, Get, Post, Put};
    let perm = Access::Permission;
    let run_param = query(
        "run",
        json!({ "type": "string", "enum": ["true", "complete", "raw_only", "false", ""] }),
        "Starts an import first (`true`/`complete`, `raw_only`); needs `manage_imports` (403 otherwise). `false` or empty: only the status.",
    );
    let status_columns = query(
        "columns",
        json!({ "type": "string" }),
        "Only these keys, comma-separated (§3.4).",
    );
    let status_answers = || {
        vec![
            Answer {
                headers: vec![(
                    "X-OpenLMT-Import-Id",
                    "The id of the pending or running import, when there is one.",
                )],
                ..ok_json("The import status (ILMT's shape).", status_schema())
            },
            err(400, "`run` or `columns` is not valid."),
            err(403, "`run` was given without the `manage_imports` permission, or a session request without its CSRF token."),
            Answer { headers: vec![("Retry-After", "Seconds to wait (when the database is not available).")], ..err(503, "The server is shutting down (`run`), or the database is not available (§10): `run`, or a token not yet known to the server, needs it; the status itself does not.") },
        ]
    };
    let schedule_body = object(json!({
        "enabled": boolean(),
        "daily_time": { "type": "string", "description": "HH:MM, local to `timezone`." },
        "cron": { "type": "string", "description": "A 5-field cron expression (instead of `daily_time`)." },
        "timezone": { "type": "string", "description": "An IANA time zone, e.g. `Europe/Berlin`." },
        "import_type": { "type": "string", "enum": ["complete", "raw_only"] },
    }));
    let mut schedule_body = schedule_body;
    schedule_body["required"] = json!([]);
    schedule_body["not"] = json!({ "required": ["daily_time", "cron"] });
    let computer_row = row_schema(Entity::Computers);
    let mut computer_whole = computer_row.clone();
    computer_whole["description"] = json!("The computer, every column of §7.4.");
    vec![
        operation(Op::GetToken, Post, "/api/get_token", Public, "Authentication", "Get an API token", "2.1")
            .body(true, vec![
                ("application/json", credentials()),
                ("application/x-www-form-urlencoded", credentials()),
            ])
            .answers(vec![
                ok_json("The new token.", object(json!({ "token": { "type": "string", "pattern": "^[0-9a-f]{80}$" } }))),
                err(400, "The body is not JSON or a form, or `user` or `password` is missing."),
                err(401, "Wrong user name or password."),
                Answer { headers: vec![("Retry-After", "Seconds until the window of failures ends.")], ..err(429, "Too many failed logins for this user name or client address.") },
                Answer { headers: vec![("Retry-After", "Seconds to wait.")], ..err(503, "No password check could start within 10 s, or the database is not available (§10).") },
            ]),
        operation(Op::ImportStatus, Get, "/api/import_status.json", Authenticated, "Imports", "The import status (ILMT-compatible); `run` starts an import", "3")
            .params(vec![run_param.clone(), status_columns.clone()])
            .permission_with("run", Permission::ManageImports)
            .answers(status_answers()),
        operation(Op::ManagementImports, Get, "/api/management/imports.json", Authenticated, "Imports", "Alias of /api/import_status.json", "3")
            .params(vec![run_param, status_columns])
            .permission_with("run", Permission::ManageImports)
            .answers(status_answers()),
        operation(Op::ListImports, Get, "/api/imports", Authenticated, "Imports", "Import history, newest first", "4.2")
            .params(paging(50, 1000))
            .answers(vec![ok_json("A page of imports.", rows_of(import_schema())), bad_params()]),
        operation(Op::GetImport, Get, "/api/imports/{id}", Authenticated, "Imports", "One import with its steps", "4.3")
            .params(vec![path_id()])
            .answers(vec![
                ok_json("The import.", import_detail_schema()),
                err(400, "The id is not a positive whole number."),
                err(404, "There is no such import."),
            ]),
        operation(Op::ImportPackages, Get, "/api/imports/{id}/packages", Authenticated, "Imports", "The scan package files the import saw, and what it decided", "4.4")
            .params(vec![path_id(), query("state", json!({ "type": "string", "enum": openlmt_storage::ScanPackageState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() }), "Only packages in this state.")])
            .params(paging(100, 10_000))
            .answers(vec![
                ok_json("A page of packages.", rows_of(object(json!({
                    "data_source": string(), "file_name": string(), "size": nullable("integer"),
                    "sha256": nullable("string"), "seen_at": time_or_null(),
                    "state": { "type": "string", "enum": openlmt_storage::ScanPackageState::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>() },
                    "reason": nullable("string"),
                })))),
                err(400, "The id, `state`, `limit` or `offset` is not valid."),
                err(404, "There is no such import."),
            ]),
        operation(Op::ImportLog, Get, "/api/imports/{id}/log", Authenticated, "Imports", "The import's text log", "4.5")
            .params(vec![path_id()])
            .answers(vec![
                answer(200, "The log, UTF-8 text (empty before the import starts).", Content::Other("text/plain", string())),
                err(400, "The id is not a positive whole number."),
                err(404, "There is no such import."),
            ]),
        operation(Op::CancelImport, Post, "/api/imports/{id}/cancel", perm(Permission::ManageImports), "Imports", "Cancel a pending or running import", "4.6")
            .params(vec![path_id()])
            .answers(vec![
                ok_json("The import, ended `cancelled`.", import_schema()),
                err(400, "The id is not a positive whole number."),
                err(404, "There is no such import."),
                err(409, "The import is not pending or running."),
                Answer { headers: vec![("Retry-After", "Seconds to wait (when the database is not available).")], ..err(503, "The import did not stop within 5 seconds, the server is shutting down, or the database is not available (§10).") },
            ]),
        operation(Op::GetSchedule, Get, "/api/import_schedule", Authenticated, "Imports", "The import schedule", "5.1")
            .answers(vec![ok_json("The schedule.", schedule_schema())]),
        operation(Op::PutSchedule, Put, "/api/import_schedule", perm(Permission::ManageImports), "Imports", "Change the import schedule (fields left out keep their value)", "5.2")
            .body(true, vec![("application/json", schedule_body)])
            .answers(vec![
                ok_json("The new schedule.", schedule_schema()),
                err(400, "The body is not such an object, or a value is not valid."),
                Answer { headers: vec![("Retry-After", "Seconds to wait (when the database is not available).")], ..err(503, "The server is shutting down, or the database is not available (§10).") },
            ]),
        operation(Op::ScanResultsUpload, Post, "/api/sam/v2/scan_results_upload", perm(Permission::UploadScanResults), "Scan packages", "Upload one scan package into a data source", "6")
            .params(vec![
                required_query("filename", json!({ "type": "string", "pattern": "^\\d{12}-[^/\\\\]+\\.(tar\\.gz|tgz|zip)$" }), "The package's file name, `<YYYYMMDDHHMM>-<endpointID>.tar.gz|.tgz|.zip`."),
                query("datasource_name", string(), "The data source (default: the first)."),
            ])
            .body(true, vec![("application/octet-stream", json!({ "type": "string", "format": "binary" }))])
            .answers(vec![
                ok_json("Stored.", object(json!({
                    "success": { "const": true }, "filename": string(), "datasource_name": string(),
                    "size": integer(), "sha256": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                }))),
                answer(400, "`filename` missing or not a package name, or the upload was interrupted (§6.3).", Content::Json(upload_error())),
                answer(401, "No valid token.", Content::Json(upload_error())),
                answer(403, "No `upload_scan_results` permission, or no CSRF token.", Content::Json(upload_error())),
                answer(404, "No such data source, or none at all.", Content::Json(upload_error())),
                answer(413, "Larger than `upload_max_bytes`.", Content::Json(upload_error())),
                answer(422, "The content is not a valid scan package, or disagrees with its name.", Content::Json(upload_error())),
                Answer { headers: vec![("Retry-After", "Seconds to wait.")], ..answer(503, "The database is not available (§10).", Content::Json(upload_error())) },
            ]),
        operation(Op::ListComputers, Get, "/api/sam/v2/computers", perm(Permission::ViewEndpoints), "Inventory", "Computers of the inventory", "7.4")
            .list(Entity::Computers),
        operation(Op::DeleteComputer, Delete, "/api/sam/v2/computers", perm(Permission::ManageImports), "Inventory", "Mark a computer deleted (decommission)", "7.7")
            .params(vec![
                required_query("disconnected_endpoint_id", json!({ "type": "string", "minLength": 1, "pattern": "\\S" }), "The endpoint id of the computer."),
                query("data_source", string(), "Its data source, when several hold that endpoint id (alias `datasource_name`)."),
            ])
            .answers(vec![
                ok_json("The computer, now deleted.", computer_whole),
                err(400, "`disconnected_endpoint_id` is missing."),
                err(404, "No such computer."),
                err(409, "Several data sources hold that endpoint id: add `data_source`."),
            ]),
        operation(Op::RawPackageFacts, Get, "/api/sam/raw_package_facts", perm(Permission::ViewRawData), "Inventory", "Raw package facts (dpkg, rpm)", "7.5")
            .list(Entity::InstalledPackages),
        operation(Op::RawSwidTags, Get, "/api/sam/raw_swid_tags", perm(Permission::ViewRawData), "Inventory", "Raw ISO/IEC 19770-2 SWID tags", "7.6")
            .list(Entity::SwidTags),
        operation(Op::About, Get, "/api/sam/about", Authenticated, "Inventory", "Product name and version", "7.10")
            .json_body()
            .answers(vec![ok_json("What answers.", object(json!({ "product": { "const": "openlmt" }, "version": string() }))), err(400, "The JSON body is not an object of parameters.")]),
        operation(Op::Root, Get, "/", Public, "Panel", "Redirects a browser to the panel", "8")
            .answers(vec![Answer { headers: vec![("Location", "`/management/imports`.")], ..answer(303, "To the panel.", Content::Empty) }]),
        operation(Op::ListInstances, Get, "/api/sam/v2/software_instances", perm(Permission::ViewSoftware), "Software", "Software instances", "13.4")
            .list(Entity::SoftwareInstances),
        operation(Op::Classify, Put, "/api/sam/v2/software_instances", perm(Permission::ManageSoftwareClassification), "Software", "Classify: assign, confirm, exclude, suppress", "13.5")
            .params(vec![
                query("simulate", json!({ "type": "string", "enum": ["true", "false", "1", "0"] }), "Validate and report; nothing changes."),
                query("verbose", json!({ "type": "string", "enum": ["true", "false", "1", "0"] }), "Add each row's result."),
            ])
            .body(true, vec![("application/json", json!({ "anyOf": [
                { "type": "array", "maxItems": 150, "items": { "description": "A row (an object; anything else is counted as `row is not an object`)." } },
                { "type": "object", "required": ["rows"], "properties": { "rows": { "type": "array", "maxItems": 150 } } },
            ] }))])
            .answers(vec![
                answer(207, "What each row did.", Content::Json(json!({
                    "type": "object",
                    "required": ["summary", "simulate"],
                    "properties": {
                        "summary": object(json!({
                            "valid_instances": { "type": "object", "additionalProperties": integer() },
                            "unmodified_instances": integer(),
                            "invalid_instances": { "type": "object", "additionalProperties": integer() },
                        })),
                        "simulate": boolean(),
                        "rows": array(json!({ "type": "object", "required": ["row", "result"], "properties": {
                            "row": integer(), "instance_id": integer(),
                            "result": { "type": "string", "enum": ["modified", "unmodified", "invalid"] },
                            "actions": array(string()), "reason": string(),
                        } })),
                    },
                    "additionalProperties": false,
                }))),
                err(400, "Not JSON, not an array or an object with `rows`, more than 150 rows, or a bad `simulate`/`verbose`."),
                err(413, "The body is larger than 4 MiB."),
            ]),
        operation(Op::ListAudit, Get, "/api/sam/v2/classification_audit", perm(Permission::ViewSoftware), "Software", "Who changed which classification, when, why", "13.6")
            .list(Entity::ClassificationAudit),
        operation(Op::ListComponents, Get, "/api/sam/v2/software_components", perm(Permission::ViewSoftware), "Software", "Components of the catalog in force", "13.7")
            .list(Entity::SoftwareComponents),
        operation(Op::ListBundlingOptions, Get, "/api/sam/v2/bundling_options", perm(Permission::ViewSoftware), "Software", "Component → product relations of the catalog in force", "13.7")
            .list(Entity::BundlingOptions),
        operation(Op::GetCatalog, Get, "/api/catalog", perm(Permission::ViewSoftware), "Catalog", "The catalog's layers, effective catalog and catalog in force", "14.2")
            .answers(vec![ok_json("The catalog's state.", catalog_info_schema())]),
        operation(Op::PutCatalog, Put, "/api/catalog", perm(Permission::ManageSoftwareClassification), "Catalog", "Replace the operator's catalog layer", "14.3")
            .body(true, vec![("application/json", json!({ "$ref": "#/components/schemas/Catalog" }))])
            .answers(vec![
                ok_json("The catalog's new state.", catalog_info_schema()),
                answer(400, "The document was refused whole, every error with its JSON path.", Content::Json(refused_document_schema(object(json!({ "path": string(), "message": string() }))))),
                err(409, "There is no effective catalog."),
                err(413, "The document is larger than the limit."),
            ]),
        operation(Op::ExportCatalog, Get, "/api/catalog/export", perm(Permission::ViewSoftware), "Catalog", "The effective catalog as a catalog document", "14.4")
            .answers(vec![
                Answer { headers: vec![("Content-Disposition", "`attachment; filename=\"openlmt-catalog-<version>.json\"`.")], ..ok_json("The document (docs/catalog.md).", json!({ "$ref": "#/components/schemas/Catalog" })) },
                err(409, "There is no effective catalog."),
            ]),
        operation(Op::LicenseUsage, Get, "/api/sam/v2/license_usage", perm(Permission::ViewLicenseMetrics), "Licence metrics", "Each product's peak of each metric over a period", "15.1")
            .params(period_params())
            .list(Entity::LicenseUsage),
        operation(Op::LicenseUsagePerServer, Get, "/api/sam/v2/license_usage_per_server", perm(Permission::ViewLicenseMetrics), "Licence metrics", "The values of one day per server", "15.2")
            .params(vec![query("date", date(), "The UTC day (default: today).")])
            .list(Entity::LicenseServerUsage),
        operation(Op::LicenseExplain, Get, "/api/sam/v2/license_usage/explain", perm(Permission::ViewLicenseMetrics), "Licence metrics", "How one value was reached", "15.3")
            .json_body()
            .params(vec![
                required_query("product_id", json!({ "type": "string", "minLength": 1, "pattern": "\\S" }), "The product's number or `product_release_guid`."),
                required_query("metric_id", metric_schema(), "The metric's number or code name."),
                query("date", date(), "The day (default: the peak day of the period)."),
            ])
            .params(period_params())
            .answers(vec![
                ok_json("The value and, per server, how it was counted.", object(json!({
                    "product_id": integer(), "product_release_guid": string(), "product_name": nullable("string"),
                    "product_release": nullable("string"), "product_publisher_name": nullable("string"),
                    "metric_id": integer(), "metric_code_name": string(), "date": date(), "quantity": integer(),
                    "servers": array(json!({ "type": "object", "required": ["server", "hwm_quantity", "hwm_cores", "snapshot_import_id", "explanation"] })),
                }))),
                bad_params(),
                err(404, "No value of that product and metric in the period or on that day."),
            ]),
        operation(Op::LicenseDaily, Get, "/api/sam/v2/license_usage/daily", perm(Permission::ViewLicenseMetrics), "Licence metrics", "One product's daily values over a period", "15.4")
            .json_body()
            .params(vec![
                required_query("product_id", json!({ "type": "string", "minLength": 1, "pattern": "\\S" }), "The product's number or `product_release_guid`."),
                required_query("metric_id", metric_schema(), "The metric's number or code name."),
            ])
            .params(period_params())
            .answers(vec![
                ok_json("The stored value of each day that has one.", object(json!({
                    "product_id": nullable("integer"), "product_release_guid": nullable("string"),
                    "metric_id": integer(), "metric_code_name": string(), "startdate": date(), "enddate": date(),
                    "rows": array(object(json!({ "date": date(), "hwm_quantity": integer() }))),
                }))),
                bad_params(),
            ]),
        operation(Op::GetPvuTable, Get, "/api/pvu_table", perm(Permission::ViewLicenseMetrics), "Licence metrics", "The PVU table in force", "15.5")
            .answers(vec![ok_json("The tables and the rows in force.", pvu_info_schema())]),
        operation(Op::PutPvuTable, Put, "/api/pvu_table", perm(Permission::ManageLicenseMetrics), "Licence metrics", "Replace the PVU table", "15.5")
            .params(vec![query("version", string(), "The table's version (required unless a JSON body gives it).")])
            .body(true, vec![
                ("text/csv", json!({ "type": "string" })),
                ("application/json", open_object(json!({ "version": string(), "tables": { "anyOf": [array(string()), string()] } }))),
            ])
            .answers(vec![
                ok_json("The new state.", pvu_info_schema()),
                answer(400, "The table was refused whole, every error with its place; or a bad body.", Content::Json(json!({ "type": "object", "required": ["error"], "properties": { "error": string(), "errors": array(object(json!({ "input": integer(), "line": integer(), "column": nullable("string"), "message": string() }))) } }))),
                err(413, "The body is larger than 4 MiB."),
            ]),
        operation(Op::DeletePvuTable, Delete, "/api/pvu_table", perm(Permission::ManageLicenseMetrics), "Licence metrics", "Back to the bundled PVU table", "15.5")
            .answers(vec![ok_json("The new state.", pvu_info_schema()), err(404, "There is no operator's table.")]),
        operation(Op::GetPvuOverrides, Get, "/api/pvu_overrides", perm(Permission::ViewLicenseMetrics), "Licence metrics", "Per-server rate overrides", "15.6")
            .answers(vec![ok_json("Every override.", overrides_schema())]),
        operation(Op::PutPvuOverrides, Put, "/api/pvu_overrides", perm(Permission::ManageLicenseMetrics), "Licence metrics", "Set rate overrides (all or nothing)", "15.6")
            .body(true, vec![("application/json", {
                let item = json!({ "type": "object", "required": ["server_id", "pvu_per_core", "comment"], "properties": {
                    "server_id": { "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX }, "pvu_per_core": { "type": "integer", "minimum": 1, "maximum": 10000 }, "comment": { "type": "string", "pattern": "\\S" } } });
                json!({ "anyOf": [ { "type": "array", "maxItems": 1000, "items": item }, item ] })
            })])
            .answers(vec![
                ok_json("Every override.", overrides_schema()),
                bad_params(),
                err(404, "No computer has that id."),
            ]),
        operation(Op::DeletePvuOverride, Delete, "/api/pvu_overrides", perm(Permission::ManageLicenseMetrics), "Licence metrics", "Remove a server's override", "15.6")
            .params(vec![required_query("server_id", json!({ "type": "integer", "minimum": i64::MIN, "maximum": i64::MAX }), "The server's id.")])
            .answers(vec![
                ok_json("Every override left.", overrides_schema()),
                bad_params(),
                err(404, "The server has no override."),
            ]),
        operation(Op::AuditSnapshot, Get, "/api/sam/audit_snapshot", perm(Permission::ViewLicenseMetrics), "Licence metrics", "The audit snapshot of a period (zip)", "16")
            .json_body()
            .params(period_params())
            .answers(vec![
                Answer { headers: vec![("Content-Disposition", "`attachment; filename=\"audit_snapshot_<startdate>_<enddate>.zip\"`.")], ..answer(200, "The zip.", Content::Other("application/zip", json!({ "type": "string", "format": "binary" }))) },
                bad_params(),
            ]),
        operation(Op::OpenApi, Get, "/api/openapi.json", Public, "Meta", "This document", "17")
            .answers(vec![ok_json("The OpenAPI 3.1 document of the API.", json!({ "type": "object", "required": ["openapi", "paths"] }))]),
        operation(Op::Healthz, Get, "/healthz", Public, "Meta", "Liveness and database check", "9.1")
            .answers(vec![
                ok_json("Up, the database answers.", object(json!({ "status": { "const": "ok" } }))),
                Answer {
                    headers: vec![("Retry-After", "Seconds to wait.")],
                    ..answer(503, "The database is not available; `error` says what the check met.", Content::Json(object(json!({
                        "status": { "const": "unavailable" },
                        "error": { "type": "string", "pattern": "^the database is not available: " },
                    }))))
                },
            ]),
        operation(Op::Metrics, Get, "/metrics", Public, "Meta", "Prometheus metrics", "9.2")
            .answers(vec![answer(200, "The Prometheus text format.", Content::Other("text/plain", string()))]),
        operation(Op::RefusedHead, Get, "/_openlmt/refused/{reason}", Public, "Meta", "The answer to a malformed request head (the refusal is routed here)", "1")
            .params(vec![Param { name: "reason", location: In::Path, required: true, schema: string(), description: "Why the head was refused: request-line, target, header, content-length, transfer-encoding, target-too-long, too-many-headers, head-too-large." }])
            .answers(vec![
                err(400, "The head was malformed."),
                err(404, "Not a reason."),
                err(414, "The target was too long."),
                err(431, "The head was too large."),
            ]),
    ]
}

/// An OpenAPI link: a value of one operation's answer that another
/// operation takes (so a client, or a fuzzer's stateful phase, can follow
/// real ids).
pub struct Link {
    pub from: Op,
    pub status: u16,
    pub name: &'static str,
    pub to: Op,
    pub parameter: &'static str,
    /// A runtime expression (`$response.body#/rows/0/id`).
    pub value: &'static str,
}

const fn link(
    from: Op,
    name: &'static str,
    to: Op,
    parameter: &'static str,
    value: &'static str,
) -> Link {
    Link {
        from,
        status: 200,
        name,
        to,
        parameter,
        value,
    }
}

pub const LINKS: &[Link] = &[
    link(
        Op::ListImports,
        "GetImport",
        Op::GetImport,
        "id",
        "$response.body#/rows/0/id",
    ),
    link(
        Op::ListImports,
        "ImportLog",
        Op::ImportLog,
        "id",
        "$response.body#/rows/0/id",
    ),
    link(
        Op::ListImports,
        "ImportPackages",
        Op::ImportPackages,
        "id",
        "$response.body#/rows/0/id",
    ),
    link(
        Op::ListImports,
        "CancelImport",
        Op::CancelImport,
        "id",
        "$response.body#/rows/0/id",
    ),
    link(
        Op::GetImport,
        "ImportLog",
        Op::ImportLog,
        "id",
        "$response.body#/id",
    ),
    link(
        Op::CancelImport,
        "GetImport",
        Op::GetImport,
        "id",
        "$response.body#/id",
    ),
    link(
        Op::ListComputers,
        "DeleteComputer",
        Op::DeleteComputer,
        "disconnected_endpoint_id",
        "$response.body#/rows/0/endpoint_id",
    ),
    link(
        Op::GetPvuOverrides,
        "DeletePvuOverride",
        Op::DeletePvuOverride,
        "server_id",
        "$response.body#/rows/0/server_id",
    ),
    link(
        Op::PutPvuOverrides,
        "DeletePvuOverride",
        Op::DeletePvuOverride,
        "server_id",
        "$response.body#/rows/0/server_id",
    ),
    link(
        Op::LicenseUsage,
        "LicenseExplain",
        Op::LicenseExplain,
        "product_id",
        "$response.body#/rows/0/product_release_guid",
    ),
    link(
        Op::LicenseUsage,
        "LicenseDaily",
        Op::LicenseDaily,
        "product_id",
        "$response.body#/rows/0/product_release_guid",
    ),
];

/// The paths of the table, each once, in the table's order.
pub fn paths() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for o in operations() {
        if !out.contains(&o.path) {
            out.push(o.path);
        }
    }
    out
}

// ---- the examples of docs/api.md ----

/// A request/response pair captured in docs/api.md.
#[derive(Debug, Clone, PartialEq)]
pub struct DocExample {
    pub method: &'static str,
    /// The request path, without the query.
    pub path: String,
    pub command: String,
    pub status: u16,
    pub body: Value,
}

const API_MD: &str = include_str!("../../../docs/api.md");

/// Every example of docs/api.md whose command is a `curl` of this server
/// and whose answer is a JSON body: the text blocks that start with
/// `$ curl …`, then `HTTP/1.1 <status>`, headers, a blank line and the body.
pub fn doc_examples() -> &'static [DocExample] {
    static EX: OnceLock<Vec<DocExample>> = OnceLock::new();
    EX.get_or_init(|| parse_examples(API_MD))
}

fn parse_examples(md: &str) -> Vec<DocExample> {
    let mut out = Vec::new();
    let mut lines = md.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(cmd) = line.strip_prefix("$ curl ") else {
            continue;
        };
        let mut command = format!("curl {cmd}");
        // Continued lines.
        while command.ends_with('\\') {
            match lines.next() {
                Some(l) => {
                    command.pop();
                    command.push_str(l.trim());
                }
                None => break,
            }
        }
        let Some(status_line) = lines.next() else {
            break;
        };
        let Some(status) = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse::<u16>().ok())
        else {
            continue;
        };
        // Headers, then a blank line, then the body up to the block's end.
        for l in lines.by_ref() {
            if l.trim().is_empty() {
                break;
            }
        }
        let mut body = String::new();
        while let Some(l) = lines.peek() {
            if l.starts_with("```") || l.starts_with("$ ") {
                break;
            }
            body.push_str(l);
            body.push('\n');
            lines.next();
        }
        let Ok(body) = serde_json::from_str::<Value>(body.trim()) else {
            continue;
        };
        let Some((method, path)) = curl_request(&command) else {
            continue;
        };
        out.push(DocExample {
            method,
            path,
            command,
            status,
            body,
        });
    }
    out
}

/// The method and path of a documented `curl` command line.
fn curl_request(command: &str) -> Option<(&'static str, String)> {
    let start = command.find("http://127.0.0.1:9081")? + "http://127.0.0.1:9081".len();
    let rest = &command[start..];
    let end = rest
        .find(|c: char| c == '?' || c == '"' || c == '\'' || c.is_whitespace())
        .unwrap_or(rest.len());
    let path = rest[..end].to_string();
    let words: Vec<&str> = command.split_whitespace().collect();
    let explicit = words
        .windows(2)
        .find(|w| w[0] == "-X")
        .map(|w| w[1].trim_matches(|c| c == '\'' || c == '"'));
    let method = match explicit {
        Some("GET") => "GET",
        Some("POST") => "POST",
        Some("PUT") => "PUT",
        Some("DELETE") => "DELETE",
        Some(_) => return None,
        None if words.iter().any(|w| {
            matches!(
                *w,
                "-d" | "--data" | "--data-binary" | "--data-urlencode" | "-F" | "-T"
            )
        }) =>
        {
            "POST"
        }
        None => "GET",
    };
    Some((method, path))
}

/// Whether a concrete path matches a table path (`{x}` is one segment).
pub fn path_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

// ---- the document ----

/// The OpenAPI 3.1 document of the API, made from [`operations`].
pub fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build_openapi)
}

/// The document as served (compact JSON).
pub fn openapi_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| serde_json::to_vec(openapi()).unwrap_or_default())
}

fn build_openapi() -> Value {
    let mut paths = Map::new();
    for o in operations() {
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method.lower()] = operation_json(o);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "openlmt REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The REST API of openlmt: ILMT-compatible import status, uploads, inventory, software, catalog and licence metrics. The reference with every rule and example is docs/api.md; this document is generated from the server's route table (crates/server/src/contract.rs). Every GET also answers HEAD. Errors are JSON `{\"error\": \"…\"}` (the upload's `{\"success\": false, \"error\": \"…\"}`). `x-openlmt-access` says who may call an operation: `public`, `authenticated` (any token or panel session), or the permission it needs.",
            "license": { "name": "see the repository" },
        },
        "servers": [ { "url": "/" } ],
        "security": [ { "token": [] } ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": { "type": "apiKey", "in": "header", "name": "Token", "description": "An API token from POST /api/get_token (docs/api.md §2)." },
            },
            "schemas": {
                "Catalog": catalog_schema(),
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "string", "description": "What went wrong, in English." } },
                },
            },
        },
    })
}

fn operation_json(o: &Operation) -> Value {
    let params: Vec<Value> = o
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "in": match p.location { In::Query => "query", In::Path => "path" },
                "required": p.required,
                "schema": p.schema,
                "description": p.description,
            })
        })
        .collect();
    let mut answers: Vec<Answer> = o.answers.clone();
    let mut add = |a: Answer| {
        if !answers.iter().any(|x| x.status == a.status) {
            answers.push(a);
        }
    };
    if o.access != Access::Public {
        add(err(
            401,
            "No token (or session), or a token that is unknown or revoked (§2.3).",
        ));
    }
    if matches!(o.access, Access::Permission(_))
        || (o.access != Access::Public && o.method != Method::Get)
    {
        add(err(403, "The user lacks the permission (§2.3), or a session request that changes something came without its CSRF token (§2.4)."));
    }
    add(err(
        500,
        "A fault of the server (never a client's mistake); the detail is in its log.",
    ));
    // Whatever needs the database (a token not yet known to the server
    // does) answers 503 while it cannot be reached.
    if o.access != Access::Public || o.op == Op::GetToken {
        add(Answer {
            headers: vec![("Retry-After", "Seconds to wait before trying again.")],
            ..err(503, "The database is not available right now (§10): `{\"error\":\"the database is not available\"}`; the same request may succeed later.")
        });
    }
    answers.sort_by_key(|a| a.status);
    let examples = doc_examples();
    let mut responses = Map::new();
    for a in &answers {
        let mut r = json!({ "description": a.description });
        let own: Vec<&DocExample> = examples
            .iter()
            .filter(|e| {
                e.method == o.method.as_str()
                    && e.status == a.status
                    && path_matches(o.path, &e.path)
            })
            .collect();
        match &a.content {
            Content::Json(schema) => {
                let mut media = json!({ "schema": schema });
                if !own.is_empty() {
                    let mut ex = Map::new();
                    for (i, e) in own.iter().enumerate() {
                        ex.insert(
                            format!("docs-api-md-{}", i + 1),
                            json!({ "summary": e.command, "value": e.body }),
                        );
                    }
                    media["examples"] = Value::Object(ex);
                }
                r["content"] = json!({ "application/json": media });
            }
            Content::Other(mime, schema) => {
                r["content"] = json!({ *mime: { "schema": schema } });
            }
            Content::Empty => {}
        }
        if !a.headers.is_empty() {
            let mut h = Map::new();
            for (name, d) in &a.headers {
                h.insert(
                    (*name).into(),
                    json!({ "description": d, "schema": string() }),
                );
            }
            r["headers"] = Value::Object(h);
        }
        let mut links = Map::new();
        for l in LINKS
            .iter()
            .filter(|l| l.from == o.op && l.status == a.status)
        {
            links.insert(
                l.name.into(),
                json!({
                    "operationId": format!("{:?}", l.to),
                    "parameters": { l.parameter: l.value },
                }),
            );
        }
        if !links.is_empty() {
            r["links"] = Value::Object(links);
        }
        responses.insert(a.status.to_string(), r);
    }
    let mut v = json!({
        "operationId": format!("{:?}", o.op),
        "summary": o.summary,
        "description": format!("docs/api.md §{}.{}", o.section, if o.json_body_on_get { " The parameters may also come as a JSON object in the body of the GET (`Content-Type: application/json`), `token` included (§7.2)." } else { "" }),
        "tags": [o.tag],
        "parameters": params,
        "responses": responses,
        "x-openlmt-access": o.access.as_str(),
    });
    if let Some((param, p)) = o.permission_with {
        v["x-openlmt-access-with"] = json!({ param: p.as_str() });
    }
    if o.access == Access::Public {
        v["security"] = json!([]);
    }
    if let Some((required, contents)) = &o.request {
        let mut c = Map::new();
        for (mime, schema) in contents {
            c.insert((*mime).into(), json!({ "schema": schema }));
        }
        v["requestBody"] = json!({ "required": required, "content": c });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_once_in_the_table() {
        let ops = operations();
        for (i, a) in ops.iter().enumerate() {
            for b in &ops[i + 1..] {
                assert!(a.op != b.op, "{:?} twice", a.op);
                assert!(
                    (a.method, a.path) != (b.method, b.path),
                    "{} {} twice",
                    a.method.as_str(),
                    a.path
                );
            }
        }
    }

    #[test]
    fn the_document_has_every_operation_of_the_table() {
        let doc = openapi();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut n = 0;
        for o in operations() {
            let v = &doc["paths"][o.path][o.method.lower()];
            assert!(v.is_object(), "{} {} missing", o.method.as_str(), o.path);
            assert_eq!(v["x-openlmt-access"], o.access.as_str());
            // Every path parameter is declared.
            for seg in o.path.split('/') {
                if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    assert!(
                        o.params
                            .iter()
                            .any(|p| p.name == name && p.location == In::Path),
                        "{} lacks its path parameter {name}",
                        o.path
                    );
                }
            }
            // The error body on every operation's 500, 401 where it applies,
            // and 503 (the database lost) on every one that may need it.
            assert!(v["responses"]["500"].is_object());
            if o.access != Access::Public || o.op == Op::GetToken || o.op == Op::Healthz {
                assert!(v["responses"]["503"].is_object(), "{}", o.path);
                assert!(
                    v["responses"]["503"]["headers"]["Retry-After"].is_object(),
                    "{}",
                    o.path
                );
            }
            if o.access != Access::Public {
                assert!(v["responses"]["401"].is_object(), "{}", o.path);
            }
            if matches!(o.access, Access::Permission(_)) {
                assert!(v["responses"]["403"].is_object(), "{}", o.path);
            }
            n += 1;
        }
        let in_doc: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|p| p.as_object().unwrap().len())
            .sum();
        assert_eq!(in_doc, n);
    }

    #[test]
    fn the_examples_of_docs_api_md_are_read_and_placed() {
        let ex = doc_examples();
        assert!(ex.len() > 40, "only {} examples read", ex.len());
        let first = ex
            .iter()
            .find(|e| e.path == "/api/get_token" && e.status == 200)
            .expect("the get_token example");
        assert_eq!(first.method, "POST");
        assert!(first.body["token"].is_string());
        // Each example of an API path lands on an operation of the table
        // with that status documented, and shows up in the document.
        let doc = openapi();
        let mut placed = 0;
        for e in ex {
            let Some(o) = operations()
                .iter()
                .find(|o| o.method.as_str() == e.method && path_matches(o.path, &e.path))
            else {
                continue;
            };
            let r = &doc["paths"][o.path][o.method.lower()]["responses"][e.status.to_string()];
            assert!(
                r.is_object(),
                "docs/api.md shows {} {} answering {}, which the table does not document",
                e.method,
                e.path,
                e.status
            );
            if o.answer(e.status)
                .is_some_and(|a| matches!(a.content, Content::Json(_)))
                || e.status == 401
                || e.status == 403
            {
                let examples = r["content"]["application/json"]["examples"]
                    .as_object()
                    .map(|m| m.values().any(|x| x["value"] == e.body))
                    .unwrap_or(false);
                assert!(
                    examples,
                    "{} {} {}: example not in the document",
                    e.method, e.path, e.status
                );
                placed += 1;
            }
        }
        assert!(placed > 30, "only {placed} examples placed");
    }

    #[test]
    fn links_join_operations_of_the_table() {
        for l in LINKS {
            let from = operations().iter().find(|o| o.op == l.from).unwrap();
            let to = operations().iter().find(|o| o.op == l.to).unwrap();
            assert!(from.answer(l.status).is_some(), "{}", l.name);
            assert!(
                to.params.iter().any(|p| p.name == l.parameter),
                "{} has no parameter {}",
                to.path,
                l.parameter
            );
            let v = &openapi()["paths"][from.path][from.method.lower()]["responses"]
                [l.status.to_string()]["links"][l.name];
            assert_eq!(v["operationId"], format!("{:?}", l.to));
        }
    }

    #[test]
    fn curl_command_lines_are_read() {
        assert_eq!(
            curl_request("curl -X POST http://127.0.0.1:9081/api/get_token -d x"),
            Some(("POST", "/api/get_token".to_string()))
        );
        assert_eq!(
            curl_request("curl 'http://127.0.0.1:9081/api/imports?limit=1' -H \"Token: $T\""),
            Some(("GET", "/api/imports".to_string()))
        );
        assert!(path_matches("/api/imports/{id}/log", "/api/imports/3/log"));
        assert!(!path_matches("/api/imports/{id}", "/api/imports/3/log"));
        assert!(!path_matches("/api/imports/{id}", "/api/imports/"));
    }
}
