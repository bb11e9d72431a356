//! Queries over the inventory: which rows of which list, filtered how,
//! sorted how, which page.
//!
//! This is the pure vocabulary: the queryable fields of each list with
//! their kinds, and a filter tree whose conditions can only be built
//! well-typed ([`Condition::new`] checks the operator and the value against
//! the field). The HTTP crate parses its wire form into these types; the
//! storage crate turns them into SQL.

use chrono::{DateTime, Utc};
use std::fmt;

/// What a field holds, which decides the operators and values it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A whole number.
    Int,
    /// A text.
    Text,
    /// true or false.
    Bool,
    /// A UTC time, compared at whole seconds.
    Time,
    /// A list of texts (e.g. the IP addresses of a computer).
    TextList,
}

impl FieldKind {
    /// How a value of this kind is written, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            FieldKind::Int => "a whole number",
            FieldKind::Text => "a string",
            FieldKind::Bool => "true or false",
            FieldKind::Time => "a UTC time string such as \"2026-11-28T12:00:00Z\"",
            FieldKind::TextList => "a string",
        }
    }
}

/// One field of a list. A name `assoc.col` is a column of an association
/// (ILMT's `computer_hardware.cores`): rows show it nested,
/// `{"assoc":{"col":…}}`.
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
}

const fn f(name: &'static str, kind: FieldKind) -> Field {
    Field { name, kind }
}

use FieldKind::{Bool, Int, Text, TextList, Time};

static COMPUTER_FIELDS: [Field; 44] = [
    f("id", Int),
    f("bigfix_id", Int),
    f("endpoint_id", Text),
    f("name", Text),
    f("dns_name", Text),
    f("ip_address", TextList),
    f("os", Text),
    f("first_seen", Time),
    f("last_seen", Time),
    f("is_deleted", Bool),
    f("processor_vendor", Text),
    f("processor_brand", Text),
    f("processor_model", Text),
    f("sockets", Int),
    f("cores", Int),
    f("threads", Int),
    f("is_virtual", Bool),
    f("hypervisor", Text),
    f("data_source", Text),
    f("deleted_at", Time),
    // Placed on its host by VM-manager data in the latest licence hierarchy.
    f("is_managed_by_vm_manager", Bool),
    // The hardware identity (SMBIOS), as the last scan package states it.
    f("system_uuid", Text),
    f("system_manufacturer", Text),
    f("system_product", Text),
    f("system_serial", Text),
    f("bios_vendor", Text),
    f("bios_version", Text),
    f("chassis_asset_tag", Text),
    f("socket_slots", Int),
    // The `computer_hardware` association (ILMT's names), shown nested.
    f("computer_hardware.computer_type", Int),
    f("computer_hardware.processor_brand_string", Text),
    f("computer_hardware.processor_vendor", Text),
    f("computer_hardware.partition_cores", Int),
    f("computer_hardware.server_cores", Int),
    f("computer_hardware.system_model", Text),
    f("computer_hardware.server_vendor", Text),
    f("computer_hardware.server_model", Text),
    f("computer_hardware.server_serial_number", Text),
    // From the latest complete import's licence hierarchy (issue 9).
    f("computer_hardware.server_id", Int),
    f("computer_hardware.server_name", Text),
    f("computer_hardware.server_type", Int),
    f("computer_hardware.pvu_per_core", Int),
    f("computer_hardware.default_pvu_value", Int),
    f("computer_hardware.custom_pvu_per_core", Int),
];

static INSTALLED_PACKAGE_FIELDS: [Field; 6] = [
    f("computer_id", Int),
    f("name", Text),
    f("version", Text),
    f("architecture", Text),
    f("vendor", Text),
    f("source", Text),
];

static SWID_TAG_FIELDS: [Field; 9] = [
    f("computer_id", Int),
    f("tag_id", Text),
    f("name", Text),
    f("version", Text),
    f("regid", Text),
    f("vendor", Text),
    f("schema", Text),
    f("persistent_id", Text),
    f("directory", Text),
];

static SOFTWARE_INSTANCE_FIELDS: [Field; 45] = [
    f("instance_id", Int),
    f("computer_id", Int),
    f("computer_bigfix_id", Int),
    f("computer_name", Text),
    f("computer_dns_name", Text),
    f("computer_ip_address", TextList),
    f("computer_os", Text),
    f("product_publisher_name", Text),
    f("product_name", Text),
    f("product_release", Text),
    f("product_release_guid", Text),
    f("component_name", Text),
    f("component_release", Text),
    f("component_detailed_version", Text),
    f("discoverable_guid", Text),
    f("metric_id", Text),
    f("bundle_id", Int),
    f("discovery_path", Text),
    f("discovery_start", Time),
    f("discovery_end", Time),
    f("is_present", Bool),
    f("is_charged", Bool),
    f("is_confirmed", Bool),
    f("is_excluded", Bool),
    f("is_suppressed", Bool),
    f("exclusion_or_suppress_comment", Text),
    f("signature_kind", Text),
    f("evidence_source", Text),
    f("evidence_name", Text),
    f("evidence_version", Text),
    f("bundling_evidence.bundling_rule", Int),
    f("bundling_evidence.bundling_rule_name", Text),
    f("bundling_evidence.details", Text),
    f("computer_hardware.computer_type", Int),
    f("computer_hardware.processor_vendor", Text),
    f("computer_hardware.processor_brand_string", Text),
    f("computer_hardware.node_total_processors", Int),
    f("computer_hardware.partition_cores", Int),
    // Where the latest licence hierarchy counts the instance's computer,
    // as the computers list shows it.
    f("computer_hardware.server_id", Int),
    f("computer_hardware.server_name", Text),
    f("computer_hardware.server_type", Int),
    f("computer_hardware.server_cores", Int),
    f("computer_hardware.pvu_per_core", Int),
    f("computer_hardware.default_pvu_value", Int),
    f("computer_hardware.custom_pvu_per_core", Int),
];

static SOFTWARE_COMPONENT_FIELDS: [Field; 6] = [
    f("id", Text),
    f("name", Text),
    f("release", Text),
    f("guid", Text),
    f("publisher_name", Text),
    f("is_ibm", Bool),
];

static BUNDLING_OPTION_FIELDS: [Field; 9] = [
    f("component_guid", Text),
    f("component_name", Text),
    f("component_release", Text),
    f("product_release_guid", Text),
    f("product_publisher_name", Text),
    f("product_name", Text),
    f("product_release", Text),
    f("metric_id", Text),
    f("is_charged", Bool),
];

/// `license_usage`: a product's peak of one metric over a period (ILMT's
/// columns, plus `product_release`, `product_release_guid` and `hwm_cores`).
static LICENSE_USAGE_FIELDS: [Field; 20] = [
    f("product_publisher_name", Text),
    f("product_id", Int),
    f("product_name", Text),
    f("product_release", Text),
    f("product_release_guid", Text),
    f("metric_id", Int),
    f("metric_name", Text),
    f("metric_code_name", Text),
    f("hwm_quantity", Int),
    f("hwm_peak_time", Time),
    f("hwm_cores", Int),
    f("bundle_id", Int),
    f("flex_id", Int),
    f("bundle_type", Int),
    f("bundle_name", Text),
    f("bundle_guid", Text),
    f("bundle_metric_contribution", Int),
    f("product_bundle_ratio_factor", Int),
    f("product_bundle_ratio_divider", Int),
    f("peak_date", Text),
];

/// `license_usage_per_server`: a product's value of one metric on one
/// server on one day, with the nested `server` object (ILMT's columns,
/// plus `date`, `product_release_guid` and the server's `pvu_basis`).
static LICENSE_SERVER_USAGE_FIELDS: [Field; 22] = [
    f("date", Text),
    f("product_id", Int),
    f("product_name", Text),
    f("product_release_guid", Text),
    f("metric_id", Int),
    f("metric_code_name", Text),
    f("bundle_id", Int),
    f("bundle_name", Text),
    f("bundle_guid", Text),
    f("server_id", Int),
    f("hwm_quantity", Int),
    f("hwm_cores", Int),
    f("server.id", Int),
    f("server.name", Text),
    f("server.type", Int),
    f("server.hardware_vendor", Text),
    f("server.hardware_model", Text),
    f("server.hardware_serial_number", Text),
    f("server.total_processors", Int),
    f("server.cores", Int),
    f("server.pvu_per_core", Int),
    f("server.active_computers", Int),
];

static CLASSIFICATION_AUDIT_FIELDS: [Field; 10] = [
    f("id", Int),
    f("time", Time),
    f("user_name", Text),
    f("action", Text),
    f("instance_id", Int),
    f("computer_id", Int),
    f("discoverable_guid", Text),
    f("product_release_guid", Text),
    f("comment", Text),
    f("details", Text),
];

/// A list that can be queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// The computers in the inventory.
    Computers,
    /// The raw package facts (dpkg, rpm) of the visible computers.
    InstalledPackages,
    /// The raw ISO/IEC 19770-2 SWID tags of the visible computers.
    SwidTags,
    /// The software instances (components found on computers).
    SoftwareInstances,
    /// The catalog's components (of the catalog the inventory uses).
    SoftwareComponents,
    /// The component → product relations of that catalog.
    BundlingOptions,
    /// The classification audit trail.
    ClassificationAudit,
    /// Licence metric peaks per product over a period.
    LicenseUsage,
    /// Licence metric values per product, server and day.
    LicenseServerUsage,
}

impl Entity {
    /// Every field, in the order rows list them.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Entity::Computers => &COMPUTER_FIELDS,
            Entity::InstalledPackages => &INSTALLED_PACKAGE_FIELDS,
            Entity::SwidTags => &SWID_TAG_FIELDS,
            Entity::SoftwareInstances => &SOFTWARE_INSTANCE_FIELDS,
            Entity::SoftwareComponents => &SOFTWARE_COMPONENT_FIELDS,
            Entity::BundlingOptions => &BUNDLING_OPTION_FIELDS,
            Entity::ClassificationAudit => &CLASSIFICATION_AUDIT_FIELDS,
            Entity::LicenseUsage => &LICENSE_USAGE_FIELDS,
            Entity::LicenseServerUsage => &LICENSE_SERVER_USAGE_FIELDS,
        }
    }

    pub fn field(self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// The field names, comma-separated, for error messages.
    pub fn field_list(self) -> String {
        self.fields()
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Case-insensitive substring (ASCII case folding).
    Contains,
    /// A time within a period ending now (ILMT's `["last_seen","last","P1M"]`);
    /// its value is a [`Value::Period`], which the caller computes from its
    /// clock and the duration.
    Last,
}

impl Op {
    pub const ALL: [Op; 8] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Le,
        Op::Gt,
        Op::Ge,
        Op::Contains,
        Op::Last,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::Last => "last",
        }
    }

    /// Parses an operator (`contains` and `last` in any letter case).
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(s))
    }

    /// Whether this operator applies to fields of `kind`.
    pub fn applies_to(self, kind: FieldKind) -> bool {
        match self {
            Op::Eq | Op::Ne => true,
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                matches!(kind, FieldKind::Int | FieldKind::Text | FieldKind::Time)
            }
            Op::Contains => matches!(kind, FieldKind::Text | FieldKind::TextList),
            Op::Last => kind == FieldKind::Time,
        }
    }

    /// The operators that apply to `kind`, for error messages.
    pub fn list_for(kind: FieldKind) -> String {
        Op::ALL
            .into_iter()
            .filter(|op| op.applies_to(kind))
            .map(Op::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value to compare a field with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// No value: `= null` is "has no value", `!= null` "has a value".
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
    /// The times from `from` to `to`, both included: the value of
    /// [`Op::Last`] (only [`Value::period`] makes one, with `from <= to`).
    Period {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

impl Value {
    /// The period from `from` to `to`; `None` when `from` is after `to`.
    pub fn period(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Value> {
        (from <= to).then_some(Value::Period { from, to })
    }

    fn fits(&self, kind: FieldKind) -> bool {
        matches!(
            (self, kind),
            (Value::Null, _)
                | (Value::Int(_), FieldKind::Int)
                | (Value::Text(_), FieldKind::Text | FieldKind::TextList)
                | (Value::Bool(_), FieldKind::Bool)
                | (Value::Time(_) | Value::Period { .. }, FieldKind::Time)
        )
    }
}

/// Why a query is not valid; the text is meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// One well-typed comparison `field op value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    field: &'static Field,
    op: Op,
    value: Value,
}

impl Condition {
    /// Checks that `op` applies to the field's kind and that `value` is of
    /// that kind (`null` only with `=` and `!=`).
    pub fn new(field: &'static Field, op: Op, value: Value) -> Result<Condition, QueryError> {
        if !op.applies_to(field.kind) {
            return Err(QueryError(format!(
                "the operator `{op}` does not apply to the field `{}`; its operators are: {}",
                field.name,
                Op::list_for(field.kind)
            )));
        }
        if value == Value::Null && !matches!(op, Op::Eq | Op::Ne) {
            return Err(QueryError(format!(
                "null can only be compared with = or !=, not `{op}` (field `{}`)",
                field.name
            )));
        }
        if (op == Op::Last) != matches!(value, Value::Period { .. }) {
            return Err(QueryError(format!(
                "`last` takes a period (an ISO 8601 duration such as \"P1M\"), and only `last` does (field `{}`)",
                field.name
            )));
        }
        if !value.fits(field.kind) {
            return Err(QueryError(format!(
                "the field `{}` compares with {} (or null)",
                field.name,
                field.kind.describe()
            )));
        }
        Ok(Condition { field, op, value })
    }

    pub fn field(&self) -> &'static Field {
        self.field
    }
    pub fn op(&self) -> Op {
        self.op
    }
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// A filter: conditions combined with `and` / `or`, nested at will (within
/// [`MAX_DEPTH`] and [`MAX_CONDITIONS`], which parsers enforce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Cond(Condition),
    /// All must hold (an empty list always holds).
    And(Vec<Filter>),
    /// At least one must hold (an empty list never holds).
    Or(Vec<Filter>),
}

/// The deepest nesting of `and`/`or` a filter may have.
pub const MAX_DEPTH: usize = 8;
/// The most conditions a filter may have.
pub const MAX_CONDITIONS: usize = 100;

impl Filter {
    /// The number of conditions in the tree.
    pub fn conditions(&self) -> usize {
        match self {
            Filter::Cond(_) => 1,
            Filter::And(v) | Filter::Or(v) => v.iter().map(Filter::conditions).sum(),
        }
    }

    /// The nesting depth of `and`/`or` (a lone condition has depth 0).
    pub fn depth(&self) -> usize {
        match self {
            Filter::Cond(_) => 0,
            Filter::And(v) | Filter::Or(v) => 1 + v.iter().map(Filter::depth).max().unwrap_or(0),
        }
    }

    /// Whether every condition names a field of `entity`.
    pub fn belongs_to(&self, entity: Entity) -> bool {
        match self {
            Filter::Cond(c) => entity
                .field(c.field.name)
                .is_some_and(|f| std::ptr::eq(f, c.field)),
            Filter::And(v) | Filter::Or(v) => v.iter().all(|f| f.belongs_to(entity)),
        }
    }
}

impl Filter {
    /// Whether a row held in memory matches, with the semantics the SQL
    /// lists have: `=`/`!=` null test presence, `!=` holds between a value
    /// and no value, the order comparisons and `contains` never hold on no
    /// value, `contains` ignores ASCII letter case, and a list of texts
    /// holds `=` when one of its elements is equal. `get` gives a field's
    /// value by name ([`Value::Null`] when the row has none).
    pub fn matches(&self, get: &dyn Fn(&str) -> RowValue) -> bool {
        match self {
            Filter::And(v) => v.iter().all(|f| f.matches(get)),
            Filter::Or(v) => v.iter().any(|f| f.matches(get)),
            Filter::Cond(c) => c.matches(&get(c.field.name)),
        }
    }
}

/// A field's value in a row held in memory (see [`Filter::matches`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RowValue {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
    TextList(Vec<String>),
}

impl RowValue {
    /// The order of two values of one field (no value first).
    pub fn order(&self, other: &RowValue) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        use RowValue as R;
        match (self, other) {
            (R::Null, R::Null) => Ordering::Equal,
            (R::Null, _) => Ordering::Less,
            (_, R::Null) => Ordering::Greater,
            (R::Int(a), R::Int(b)) => a.cmp(b),
            (R::Text(a), R::Text(b)) => a.cmp(b),
            (R::Bool(a), R::Bool(b)) => a.cmp(b),
            (R::Time(a), R::Time(b)) => a.timestamp().cmp(&b.timestamp()),
            (R::TextList(a), R::TextList(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

impl Condition {
    fn matches(&self, v: &RowValue) -> bool {
        use std::cmp::Ordering;
        let op = self.op;
        match (&self.value, v) {
            (Value::Null, RowValue::Null) => op == Op::Eq,
            (Value::Null, _) => op == Op::Ne,
            (_, RowValue::Null) => op == Op::Ne,
            (Value::Text(t), RowValue::TextList(items)) => match op {
                Op::Contains => items
                    .iter()
                    .any(|i| i.to_ascii_lowercase().contains(&t.to_ascii_lowercase())),
                Op::Eq => items.iter().any(|i| i == t),
                Op::Ne => !items.iter().any(|i| i == t),
                _ => false,
            },
            (Value::Text(t), RowValue::Text(x)) if op == Op::Contains => {
                x.to_ascii_lowercase().contains(&t.to_ascii_lowercase())
            }
            (Value::Period { from, to }, RowValue::Time(x)) => {
                (from.timestamp()..=to.timestamp()).contains(&x.timestamp())
            }
            (want, have) => {
                let ord = match (want, have) {
                    (Value::Int(a), RowValue::Int(b)) => b.cmp(a),
                    (Value::Text(a), RowValue::Text(b)) => b.as_str().cmp(a.as_str()),
                    (Value::Bool(a), RowValue::Bool(b)) => b.cmp(a),
                    (Value::Time(a), RowValue::Time(b)) => b.timestamp().cmp(&a.timestamp()),
                    // A value of another kind never matches (the parser
                    // makes conditions of the field's kind).
                    _ => return op == Op::Ne,
                };
                match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Ne => ord != Ordering::Equal,
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Ge => ord != Ordering::Less,
                    Op::Contains | Op::Last => false,
                }
            }
        }
    }
}

/// One sort key: a field that can be sorted (not a list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    field: &'static Field,
    descending: bool,
}

impl Sort {
    /// `None` when the field cannot be sorted (a list of texts).
    pub fn new(field: &'static Field, descending: bool) -> Option<Sort> {
        (field.kind != FieldKind::TextList).then_some(Sort { field, descending })
    }
    pub fn field(&self) -> &'static Field {
        self.field
    }
    pub fn descending(&self) -> bool {
        self.descending
    }
}

/// The most sort keys a query may have.
pub const MAX_SORT_KEYS: usize = 4;
/// The most rows a page may have (real adapters page with `limit=100000`).
pub const MAX_LIMIT: i64 = 100_000;
/// The largest offset of a page.
pub const MAX_OFFSET: i64 = i64::MAX / 2;

/// Which rows of a list: `limit` of them (0 for none: only the total) from
/// the `offset`-th on. Only [`Page::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    limit: i64,
    offset: i64,
}

impl Page {
    /// Checks 0 ≤ `limit` ≤ [`MAX_LIMIT`] and 0 ≤ `offset` ≤ [`MAX_OFFSET`].
    pub fn new(limit: i64, offset: i64) -> Result<Page, QueryError> {
        if !(0..=MAX_LIMIT).contains(&limit) {
            return Err(QueryError(format!(
                "`limit` must be a whole number from 0 to {MAX_LIMIT}, not `{limit}`"
            )));
        }
        if !(0..=MAX_OFFSET).contains(&offset) {
            return Err(QueryError(format!(
                "`offset` must be a whole number from 0 to {MAX_OFFSET}, not `{offset}`"
            )));
        }
        Ok(Page { limit, offset })
    }

    /// The first `limit` rows (at most [`MAX_LIMIT`]).
    pub fn first(limit: u16) -> Page {
        Page {
            limit: i64::from(limit).min(MAX_LIMIT),
            offset: 0,
        }
    }

    pub fn limit(self) -> i64 {
        self.limit
    }
    pub fn offset(self) -> i64 {
        self.offset
    }
}

/// One page of one list. Rows come in `sort` order, then in a stable order
/// (by id) among equals. Only [`Query::new`] makes one: its filter and sort
/// keys name fields of its list, within [`MAX_DEPTH`], [`MAX_CONDITIONS`]
/// and [`MAX_SORT_KEYS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    entity: Entity,
    filter: Option<Filter>,
    sort: Vec<Sort>,
    page: Page,
}

impl Query {
    pub fn new(
        entity: Entity,
        filter: Option<Filter>,
        sort: Vec<Sort>,
        page: Page,
    ) -> Result<Query, QueryError> {
        if let Some(f) = &filter {
            if !f.belongs_to(entity) {
                return Err(QueryError("the filter names fields of another list".into()));
            }
            if f.depth() > MAX_DEPTH {
                return Err(QueryError(format!(
                    "the filter nests and/or deeper than {MAX_DEPTH} levels"
                )));
            }
            if f.conditions() > MAX_CONDITIONS {
                return Err(QueryError(format!(
                    "the filter has more than {MAX_CONDITIONS} conditions"
                )));
            }
        }
        if sort.len() > MAX_SORT_KEYS {
            return Err(QueryError(format!(
                "`order` takes at most {MAX_SORT_KEYS} fields"
            )));
        }
        if let Some(s) = sort.iter().find(|s| {
            !entity
                .field(s.field.name)
                .is_some_and(|f| std::ptr::eq(f, s.field))
        }) {
            return Err(QueryError(format!(
                "cannot sort by `{}`: not a field of this list",
                s.field.name
            )));
        }
        Ok(Query {
            entity,
            filter,
            sort,
            page,
        })
    }

    /// Everything of `entity`, one page.
    pub fn all(entity: Entity, page: Page) -> Query {
        Query {
            entity,
            filter: None,
            sort: Vec::new(),
            page,
        }
    }

    pub fn entity(&self) -> Entity {
        self.entity
    }
    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }
    pub fn sort(&self) -> &[Sort] {
        &self.sort
    }
    pub fn page(&self) -> Page {
        self.page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_unique_field_names() {
        for e in [
            Entity::Computers,
            Entity::InstalledPackages,
            Entity::SwidTags,
        ] {
            let mut names: Vec<_> = e.fields().iter().map(|f| f.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), e.fields().len(), "{e:?}");
        }
    }

    #[test]
    fn conditions_are_typed() {
        let sockets = Entity::Computers.field("sockets").unwrap();
        let name = Entity::Computers.field("name").unwrap();
        let virt = Entity::Computers.field("is_virtual").unwrap();
        let ip = Entity::Computers.field("ip_address").unwrap();
        assert!(Condition::new(sockets, Op::Ge, Value::Int(2)).is_ok());
        assert!(Condition::new(sockets, Op::Contains, Value::Int(2)).is_err());
        assert!(Condition::new(sockets, Op::Eq, Value::Text("2".into())).is_err());
        assert!(Condition::new(name, Op::Contains, Value::Text("x".into())).is_ok());
        assert!(Condition::new(name, Op::Lt, Value::Null).is_err());
        assert!(Condition::new(name, Op::Ne, Value::Null).is_ok());
        assert!(Condition::new(virt, Op::Eq, Value::Bool(true)).is_ok());
        assert!(Condition::new(virt, Op::Gt, Value::Bool(true)).is_err());
        assert!(Condition::new(ip, Op::Lt, Value::Text("1".into())).is_err());
        assert!(Condition::new(ip, Op::Contains, Value::Text("192.".into())).is_ok());
        let e = Condition::new(sockets, Op::Contains, Value::Int(1)).unwrap_err();
        assert!(e.0.contains("=, !=, <, <=, >, >="), "{e}");
    }

    #[test]
    fn last_takes_a_period_of_a_time_field() {
        let seen = Entity::Computers.field("last_seen").unwrap();
        let name = Entity::Computers.field("name").unwrap();
        let t0 = DateTime::from_timestamp(1_795_867_200, 0).unwrap();
        let t1 = DateTime::from_timestamp(1_795_867_300, 0).unwrap();
        let period = Value::period(t0, t1).unwrap();
        assert!(Value::period(t1, t0).is_none(), "from after to");
        assert!(Condition::new(seen, Op::Last, period.clone()).is_ok());
        assert!(Condition::new(name, Op::Last, period.clone()).is_err());
        assert!(Condition::new(seen, Op::Last, Value::Time(t0)).is_err());
        assert!(Condition::new(seen, Op::Last, Value::Null).is_err());
        assert!(Condition::new(seen, Op::Ge, period).is_err());
        assert_eq!(Op::parse("LAST"), Some(Op::Last));
        assert_eq!(Op::list_for(FieldKind::Time), "=, !=, <, <=, >, >=, last");
        assert_eq!(
            Op::list_for(FieldKind::Text),
            "=, !=, <, <=, >, >=, contains"
        );
    }

    #[test]
    fn ops_parse_and_count() {
        assert_eq!(Op::parse("CONTAINS"), Some(Op::Contains));
        assert_eq!(Op::parse("<="), Some(Op::Le));
        assert_eq!(Op::parse("=="), None);
        let name = Entity::SwidTags.field("name").unwrap();
        let c = || Filter::Cond(Condition::new(name, Op::Eq, Value::Null).unwrap());
        let f = Filter::And(vec![c(), Filter::Or(vec![c(), c()])]);
        assert_eq!(f.conditions(), 3);
        assert_eq!(f.depth(), 2);
        assert!(f.belongs_to(Entity::SwidTags));
        assert!(!f.belongs_to(Entity::InstalledPackages));
    }

    #[test]
    fn pages_hold_only_valid_ranges() {
        assert_eq!(Page::new(0, 0).unwrap().limit(), 0);
        let p = Page::new(MAX_LIMIT, MAX_OFFSET).unwrap();
        assert_eq!((p.limit(), p.offset()), (MAX_LIMIT, MAX_OFFSET));
        for (limit, offset) in [
            (-1, 0),
            (MAX_LIMIT + 1, 0),
            (1_000_000, 0),
            (10, -5),
            (10, i64::MAX),
        ] {
            assert!(Page::new(limit, offset).is_err(), "{limit} {offset}");
        }
        assert_eq!(
            Page::new(200_000, 0).unwrap_err().0,
            "`limit` must be a whole number from 0 to 100000, not `200000`"
        );
        assert_eq!(Page::first(u16::MAX).limit(), i64::from(u16::MAX));
    }

    #[test]
    fn queries_name_only_fields_of_their_list() {
        let page = Page::first(10);
        let tag_name = Entity::SwidTags.field("name").unwrap();
        let cond = || Filter::Cond(Condition::new(tag_name, Op::Eq, Value::Null).unwrap());
        assert!(Query::new(Entity::SwidTags, Some(cond()), vec![], page).is_ok());
        let e = Query::new(Entity::InstalledPackages, Some(cond()), vec![], page).unwrap_err();
        assert_eq!(e.0, "the filter names fields of another list");
        let by_name = Sort::new(tag_name, false).unwrap();
        assert!(Query::new(Entity::SwidTags, None, vec![by_name.clone()], page).is_ok());
        assert!(Query::new(Entity::Computers, None, vec![by_name.clone()], page).is_err());
        assert!(Query::new(
            Entity::SwidTags,
            None,
            vec![by_name; MAX_SORT_KEYS + 1],
            page
        )
        .is_err());
        assert!(Sort::new(Entity::Computers.field("ip_address").unwrap(), true).is_none());
        let mut deep = cond();
        for _ in 0..=MAX_DEPTH {
            deep = Filter::And(vec![deep]);
        }
        assert!(Query::new(Entity::SwidTags, Some(deep), vec![], page).is_err());
        let wide = Filter::Or((0..=MAX_CONDITIONS).map(|_| cond()).collect());
        assert!(Query::new(Entity::SwidTags, Some(wide), vec![], page).is_err());
        let q = Query::new(
            Entity::SwidTags,
            Some(cond()),
            vec![],
            Page::new(5, 7).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (q.entity(), q.page().limit(), q.page().offset()),
            (Entity::SwidTags, 5, 7)
        );
        assert!(q.filter().is_some() && q.sort().is_empty());
    }
}
