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

/// One field of a list.
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: FieldKind,
}

const fn f(name: &'static str, kind: FieldKind) -> Field {
    Field { name, kind }
}

use FieldKind::{Bool, Int, Text, TextList, Time};

static COMPUTER_FIELDS: [Field; 19] = [
    f("id", Int),
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
];

static PACKAGE_FACT_FIELDS: [Field; 6] = [
    f("computer_id", Int),
    f("name", Text),
    f("version", Text),
    f("architecture", Text),
    f("vendor", Text),
    f("source", Text),
];

static SWID_TAG_FIELDS: [Field; 7] = [
    f("computer_id", Int),
    f("tag_id", Text),
    f("name", Text),
    f("version", Text),
    f("regid", Text),
    f("vendor", Text),
    f("schema", Text),
];

/// A list that can be queried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// The computers in the inventory.
    Computers,
    /// The raw package facts (dpkg, rpm) of the visible computers.
    PackageFacts,
    /// The raw ISO/IEC 19770-2 SWID tags of the visible computers.
    SwidTags,
}

impl Entity {
    /// Every field, in the order rows list them.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Entity::Computers => &COMPUTER_FIELDS,
            Entity::PackageFacts => &PACKAGE_FACT_FIELDS,
            Entity::SwidTags => &SWID_TAG_FIELDS,
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
}

impl Op {
    pub const ALL: [Op; 7] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Contains];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
        }
    }

    /// Parses an operator (`contains` in any letter case).
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
}

impl Value {
    fn fits(&self, kind: FieldKind) -> bool {
        matches!(
            (self, kind),
            (Value::Null, _)
                | (Value::Int(_), FieldKind::Int)
                | (Value::Text(_), FieldKind::Text | FieldKind::TextList)
                | (Value::Bool(_), FieldKind::Bool)
                | (Value::Time(_), FieldKind::Time)
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

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub field: &'static Field,
    pub descending: bool,
}

/// The most sort keys a query may have.
pub const MAX_SORT_KEYS: usize = 4;

/// One page of one list. Rows come in `sort` order, then in a stable order
/// (by id) among equals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub entity: Entity,
    pub filter: Option<Filter>,
    pub sort: Vec<Sort>,
    pub limit: i64,
    pub offset: i64,
}

impl Query {
    /// Everything of `entity`, first page of `limit`.
    pub fn all(entity: Entity, limit: i64) -> Query {
        Query {
            entity,
            filter: None,
            sort: Vec::new(),
            limit,
            offset: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entity_has_unique_field_names() {
        for e in [Entity::Computers, Entity::PackageFacts, Entity::SwidTags] {
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
        assert!(!f.belongs_to(Entity::PackageFacts));
    }
}
