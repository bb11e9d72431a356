//! The PVU table as data: the bundled copy, the operator's CSV import, and the row matching
//! primitives that [`mod@crate::rate`] uses.
//!
//! # Format (one operator CSV format, two accepted layouts)
//!
//! An operator replaces the whole table by importing one or more CSV texts "in the columns of
//! the shared files". Each text starts with a header line that names its layout:
//!
//! * RISC / System z layout (`shared/reference/pvu/pvu_table.csv`):
//!   `section,processor_vendor,processor_brand,server_models,max_sockets_per_server,processor_model_numbers,pvu_per_core`
//! * x86 layout (`shared/reference/pvu/pvu_table_x86.csv`):
//!   `vendor,brand,model_pattern,max_sockets_per_server,pvu_per_core,source`
//!
//! The version is not a column: it is given beside the texts ([`PvuTable::parse`]'s `version`
//! argument), as ILMT keeps "PVU Table Version" beside the rows (counting-rules.md §12.4).
//!
//! Cell syntax:
//! * `max_sockets_per_server`: `1`, `2`, `4`, `8` … ("a server model that holds at most N
//!   sockets"), `>4` or `> 4` (more than N), `All`, `unstated` (the source gives no tier), or
//!   `n/a (per vCPU)` (a public-cloud rule row).
//! * model numbers: `All` / `All existing`, or ranges `6500-6599, 7500-7599`,
//!   `3400-3699 or 5500-5699`, single numbers, and optionally a product line before a range
//!   (`Gold 6100-6199`, `E5 2600-2699`). A parenthesised remark is kept but not interpreted.
//!   **An unprefixed range matches only a plain model number** (see [`crate::processor`]), so the
//!   historical rows can never match `Xeon Gold 5218` or `E5-2650` (counting-rules.md §3.1).
//! * `pvu_per_core`: a positive whole number.
//!
//! [`PvuTable::parse`] checks the whole input and returns every error with its input index, line
//! and column; nothing is half-applied. [`PvuTable::to_csv`] writes one text per layout present,
//! which parses back to an equal table.

use serde::{Deserialize, Serialize};

use crate::csvtext;
use crate::processor::ProcessorId;

/// The version string of the bundled table. IBM's page has no version number; the bundled rows
/// are transcribed from the page copy dated 2026-01-09 (`shared/reference/pvu/README.md`), and
/// the `openlmt-bundled-` prefix keeps it apart from a version that ILMT downloaded.
pub const BUNDLED_VERSION: &str = "openlmt-bundled-2026-01-09";

const BUNDLED_RISC: &str = include_str!("../data/pvu_table.csv");
const BUNDLED_X86: &str = include_str!("../data/pvu_table_x86.csv");

const RISC_HEADER: [&str; 7] = [
    "section",
    "processor_vendor",
    "processor_brand",
    "server_models",
    "max_sockets_per_server",
    "processor_model_numbers",
    "pvu_per_core",
];
const X86_HEADER: [&str; 6] = [
    "vendor",
    "brand",
    "model_pattern",
    "max_sockets_per_server",
    "pvu_per_core",
    "source",
];

/// Which of the two shared layouts a row was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `pvu_table.csv` columns (section 1 of IBM's table).
    RiscSystemz,
    /// `pvu_table_x86.csv` columns.
    X86,
}

/// The socket condition of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "sockets", rename_all = "snake_case")]
pub enum SocketClass {
    /// The server model holds at most this many sockets.
    AtMost(u32),
    /// The server model holds more than this many sockets.
    MoreThan(u32),
    /// Any socket count.
    All,
    /// The source states no socket tier; matches any count, and the basis says so.
    Unstated,
    /// Not a processor row: a per-vCPU public-cloud rule.
    PerVcpu,
}

/// One part of a model-number condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRange {
    /// Product line the range belongs to (`Gold`, `E5`); `None` = plain model numbers only.
    pub line: Option<String>,
    /// First number, inclusive.
    pub from: u32,
    /// Last number, inclusive.
    pub to: u32,
}

/// The model-number condition of a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "ranges", rename_all = "snake_case")]
pub enum ModelNumbers {
    /// `All` / `All existing`.
    All,
    /// Any of these ranges.
    Ranges(Vec<ModelRange>),
}

/// What a row is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// A processor row, looked up by vendor, brand, model number, server model and sockets.
    Processor,
    /// "Any POWER system core running Linux" (counting-rules.md §3 item 2).
    LinuxOnPower,
    /// A per-vCPU public-cloud row (counting-rules.md §3 item 4).
    PublicCloud,
    /// A rule row for processors whose rate cannot be identified (vendor `any`). The engine
    /// applies ILMT's 120 default itself (counting-rules.md §3 item 5); the row is kept for
    /// round-trip and display.
    UnidentifiedRule,
}

/// Where a row came from in the imported input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowOrigin {
    /// Index of the CSV text in the input slice.
    pub input: usize,
    /// 1-based line of the row in that text.
    pub line: usize,
}

/// One row of the table. Raw cells are kept verbatim for [`PvuTable::to_csv`]; the parsed
/// conditions beside them are what lookups use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PvuRow {
    /// Layout the row was written in.
    pub layout: Layout,
    /// Where it came from (not part of equality).
    pub origin: RowOrigin,
    /// `section` cell (RISC layout); empty for the x86 layout.
    pub section: String,
    /// Vendor cell.
    pub vendor: String,
    /// Brand cell.
    pub brand: String,
    /// Server models cell (RISC layout; `All` or a list); empty for the x86 layout.
    pub server_models: String,
    /// Sockets cell as written.
    pub sockets_raw: String,
    /// Model-number cell as written.
    pub model_numbers_raw: String,
    /// PVUs per core.
    pub pvu_per_core: u32,
    /// `source` cell (x86 layout); empty for the RISC layout.
    pub source: String,
    /// Parsed sockets cell.
    pub sockets: SocketClass,
    /// Parsed model-number cell.
    pub model_numbers: ModelNumbers,
    /// What the row is for.
    pub kind: RowKind,
}

impl PartialEq for PvuRow {
    fn eq(&self, o: &Self) -> bool {
        self.layout == o.layout
            && self.section == o.section
            && self.vendor == o.vendor
            && self.brand == o.brand
            && self.server_models == o.server_models
            && self.sockets_raw == o.sockets_raw
            && self.model_numbers_raw == o.model_numbers_raw
            && self.pvu_per_core == o.pvu_per_core
            && self.source == o.source
    }
}

impl PvuRow {
    /// A one-line label for explanations: `Intel Xeon Multi-core 3400-3699 or 5500-5699,
    /// sockets unstated, 70 PVU/core`.
    pub fn label(&self) -> String {
        let mut s = format!("{} {}", self.vendor, self.brand);
        if !self.server_models.is_empty() && self.server_models != "All" {
            s.push_str(&format!(", servers {}", self.server_models));
        }
        if !self.model_numbers_raw.is_empty() {
            s.push_str(&format!(", models {}", self.model_numbers_raw));
        }
        s.push_str(&format!(
            ", sockets {}, {} PVU/core",
            self.sockets_raw, self.pvu_per_core
        ));
        s
    }

    /// Brand families the row names: `Xeon (Nehalem EX)` → `[Xeon]`,
    /// `Opteron/Athlon Single-core (historical)` → `[Opteron, Athlon]`, `POWER5, POWER4` →
    /// `[POWER5, POWER4]`, `POWER 11` → `[POWER11]`. Returns `None` when the brand carries a
    /// condition this engine cannot check (for example `POWER5 QCM`), so the row never matches
    /// automatically and the operator must override.
    pub(crate) fn brand_families(&self) -> Option<Vec<String>> {
        let no_paren = strip_parens(&self.brand);
        let mut out = Vec::new();
        for item in no_paren.split(',') {
            let words: Vec<&str> = item.split_whitespace().collect();
            let Some(first) = words.first() else { continue };
            let mut rest = &words[1..];
            let mut fam = (*first).to_string();
            if fam.eq_ignore_ascii_case("power") {
                if let Some(n) = rest.first() {
                    if n.chars().all(|c| c.is_ascii_digit()) {
                        fam = format!("POWER{n}");
                        rest = &rest[1..];
                    }
                }
            }
            for w in rest {
                core_class(w)?;
            }
            for f in fam.split('/') {
                out.push(f.to_string());
            }
        }
        if out.is_empty() {
            None
        } else {
            Some(out)
        }
    }

    /// The cores-per-chip condition named by the brand (`Single-core` → [1], `Dual-core/Quad-core`
    /// → [2, 4], `Multi-core` → at least 2 (empty list, `true`)).
    pub(crate) fn core_condition(&self) -> CoreCondition {
        let no_paren = strip_parens(&self.brand);
        let mut cond = CoreCondition::Any;
        for w in no_paren.split([' ', ',']) {
            if let Some(c) = core_class(w) {
                if c != CoreCondition::Any {
                    cond = c;
                }
            }
        }
        cond
    }

    /// Whether the row's model-number condition holds for `p`.
    pub(crate) fn model_matches(&self, p: &ProcessorId) -> bool {
        match &self.model_numbers {
            ModelNumbers::All => true,
            ModelNumbers::Ranges(ranges) => ranges.iter().any(|r| match &r.line {
                None => p
                    .plain_model_number
                    .is_some_and(|n| n >= r.from && n <= r.to),
                Some(l) => {
                    p.line
                        .as_deref()
                        .is_some_and(|pl| pl.eq_ignore_ascii_case(l))
                        && p.model_number.is_some_and(|n| n >= r.from && n <= r.to)
                }
            }),
        }
    }

    /// Whether the row's server-model cell names `model` (RISC rows). `All` names any model.
    /// Tokens are compared as whole words of `model`, case-insensitively; `PS700-703` and
    /// `710-740` are ranges.
    pub(crate) fn server_model_matches(&self, model: Option<&str>) -> Option<bool> {
        let cell = self.server_models.trim();
        if cell.is_empty() || cell.eq_ignore_ascii_case("all") {
            return Some(true);
        }
        let model = model?;
        let words: Vec<String> = model
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| w.to_ascii_uppercase())
            .collect();
        for token in cell.split(',') {
            let t = token.trim().to_ascii_uppercase();
            if t.is_empty() {
                continue;
            }
            if words.contains(&t) {
                return Some(true);
            }
            if let Some((a, b)) = t.split_once('-') {
                let prefix: String = a.chars().take_while(|c| !c.is_ascii_digit()).collect();
                let from: Option<u32> = a[prefix.len()..].parse().ok();
                let to: Option<u32> = b.parse().ok();
                if let (Some(from), Some(to)) = (from, to) {
                    for w in &words {
                        if let Some(num) = w.strip_prefix(prefix.as_str()) {
                            if let Ok(n) = num.parse::<u32>() {
                                if n >= from && n <= to {
                                    return Some(true);
                                }
                            }
                        }
                    }
                }
            }
        }
        Some(false)
    }
}

/// A cores-per-chip condition from a brand cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CoreCondition {
    Any,
    AtLeastTwo,
    OneOf(Vec<u32>),
}

fn core_class(word: &str) -> Option<CoreCondition> {
    let l = word.trim().to_ascii_lowercase();
    if l.is_empty() {
        return Some(CoreCondition::Any);
    }
    if l == "multi-core" {
        return Some(CoreCondition::AtLeastTwo);
    }
    let mut counts = Vec::new();
    for part in l.split('/') {
        let n = match part {
            "single-core" => 1,
            "dual-core" => 2,
            "quad-core" => 4,
            _ => return None,
        };
        counts.push(n);
    }
    Some(CoreCondition::OneOf(counts))
}

fn strip_parens(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// One problem in an imported table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableError {
    /// Index of the CSV text in the input slice.
    pub input: usize,
    /// 1-based line.
    pub line: usize,
    /// Column name, when the problem is in one cell.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "input {} line {} column {}: {}",
                self.input, self.line, c, self.message
            ),
            None => write!(
                f,
                "input {} line {}: {}",
                self.input, self.line, self.message
            ),
        }
    }
}

/// A versioned PVU table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PvuTable {
    /// Version string, shown in every rate basis and in audit output.
    pub version: String,
    /// Rows in input order.
    pub rows: Vec<PvuRow>,
}

fn parse_sockets(cell: &str) -> Result<SocketClass, String> {
    let t = cell.trim();
    let l = t.to_ascii_lowercase();
    if l == "all" {
        return Ok(SocketClass::All);
    }
    if l == "unstated" {
        return Ok(SocketClass::Unstated);
    }
    if l.starts_with("n/a") {
        return Ok(SocketClass::PerVcpu);
    }
    if let Some(rest) = l.strip_prefix('>') {
        return rest
            .trim()
            .parse::<u32>()
            .map(SocketClass::MoreThan)
            .map_err(|_| format!("`{t}`: expected `>N` with a whole number N"));
    }
    match l.parse::<u32>() {
        Ok(0) => Err("0 sockets is not a socket class".into()),
        Ok(n) => Ok(SocketClass::AtMost(n)),
        Err(_) => Err(format!(
            "`{t}`: expected a number of sockets, `>N`, `All`, `unstated` or `n/a (per vCPU)`"
        )),
    }
}

fn parse_models(cell: &str) -> Result<ModelNumbers, String> {
    let t = strip_parens(cell);
    let t = t.trim();
    if t.is_empty() {
        return Err("empty model-number cell (write `All` for any)".into());
    }
    if t.to_ascii_lowercase().starts_with("all") {
        return Ok(ModelNumbers::All);
    }
    let mut ranges = Vec::new();
    let normalized = t.replace(" or ", ",").replace(" OR ", ",");
    for part in normalized.split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        let (line, nums) = match p.rsplit_once(' ') {
            Some((l, n)) => (Some(l.trim().to_string()), n.trim()),
            None => (None, p),
        };
        let (from, to) = match nums.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (nums, nums),
        };
        let (Ok(from), Ok(to)) = (from.parse::<u32>(), to.parse::<u32>()) else {
            return Err(format!(
                "`{p}`: expected `NNNN-NNNN`, `NNNN` or `<line> NNNN-NNNN` (e.g. `Gold 6100-6199`)"
            ));
        };
        if from > to {
            return Err(format!("`{p}`: the range runs backwards"));
        }
        ranges.push(ModelRange { line, from, to });
    }
    if ranges.is_empty() {
        return Err("no model-number range".into());
    }
    Ok(ModelNumbers::Ranges(ranges))
}

fn classify(vendor: &str, brand: &str, sockets: SocketClass) -> RowKind {
    if sockets == SocketClass::PerVcpu {
        RowKind::PublicCloud
    } else if vendor.trim().eq_ignore_ascii_case("any") {
        RowKind::UnidentifiedRule
    } else if brand.to_ascii_lowercase().contains("running linux") {
        RowKind::LinuxOnPower
    } else {
        RowKind::Processor
    }
}

impl PvuTable {
    /// The bundled table (`data/pvu_table.csv` + `data/pvu_table_x86.csv`), version
    /// [`BUNDLED_VERSION`].
    pub fn bundled() -> PvuTable {
        match PvuTable::parse(BUNDLED_VERSION, &[BUNDLED_RISC, BUNDLED_X86]) {
            Ok(t) => t,
            // The bundled files are checked by this crate's tests; an empty table still
            // yields correct (default-120) answers rather than a panic.
            Err(_) => PvuTable {
                version: BUNDLED_VERSION.to_string(),
                rows: Vec::new(),
            },
        }
    }

    /// Parse an operator's table: one or more CSV texts, each in one of the two layouts
    /// (recognised by its header). Every error of the whole input is returned.
    pub fn parse(version: &str, texts: &[&str]) -> Result<PvuTable, Vec<TableError>> {
        let mut errors = Vec::new();
        let mut rows = Vec::new();
        if version.trim().is_empty() {
            errors.push(TableError {
                input: 0,
                line: 0,
                column: None,
                message: "the table version is empty".into(),
            });
        }
        if texts.is_empty() {
            errors.push(TableError {
                input: 0,
                line: 0,
                column: None,
                message: "no CSV text given".into(),
            });
        }
        for (input, text) in texts.iter().enumerate() {
            let records = match csvtext::parse(text) {
                Ok(r) => r,
                Err(e) => {
                    errors.push(TableError {
                        input,
                        line: e.line,
                        column: None,
                        message: e.message,
                    });
                    continue;
                }
            };
            let Some((header, body)) = records.split_first() else {
                errors.push(TableError {
                    input,
                    line: 1,
                    column: None,
                    message: "empty text: expected a header line".into(),
                });
                continue;
            };
            let names: Vec<String> = header
                .fields
                .iter()
                .map(|f| f.trim().to_ascii_lowercase())
                .collect();
            let layout = if names == RISC_HEADER {
                Layout::RiscSystemz
            } else if names == X86_HEADER {
                Layout::X86
            } else {
                errors.push(TableError {
                    input,
                    line: header.line,
                    column: None,
                    message: format!(
                        "unknown header; expected `{}` or `{}`",
                        RISC_HEADER.join(","),
                        X86_HEADER.join(",")
                    ),
                });
                continue;
            };
            let width = names.len();
            for rec in body {
                let err = |column: Option<&str>, message: String| TableError {
                    input,
                    line: rec.line,
                    column: column.map(str::to_string),
                    message,
                };
                if rec.fields.len() != width {
                    errors.push(err(
                        None,
                        format!("{} fields, expected {width}", rec.fields.len()),
                    ));
                    continue;
                }
                let f = |i: usize| rec.fields[i].trim().to_string();
                let (section, vendor, brand, servers, sockets_raw, models_raw, pvu_raw, source) =
                    match layout {
                        Layout::RiscSystemz => {
                            (f(0), f(1), f(2), f(3), f(4), f(5), f(6), String::new())
                        }
                        Layout::X86 => (
                            String::new(),
                            f(0),
                            f(1),
                            String::new(),
                            f(3),
                            f(2),
                            f(4),
                            f(5),
                        ),
                    };
                let col = |risc: usize, x86: usize| -> &'static str {
                    match layout {
                        Layout::RiscSystemz => RISC_HEADER[risc],
                        Layout::X86 => X86_HEADER[x86],
                    }
                };
                let mut row_ok = true;
                if vendor.is_empty() {
                    errors.push(err(Some(col(1, 0)), "empty vendor".into()));
                    row_ok = false;
                }
                if brand.is_empty() {
                    errors.push(err(Some(col(2, 1)), "empty brand".into()));
                    row_ok = false;
                }
                if layout == Layout::RiscSystemz && servers.is_empty() {
                    errors.push(err(
                        Some(col(3, 0)),
                        "empty server models (write `All` for any)".into(),
                    ));
                    row_ok = false;
                }
                let sockets = match parse_sockets(&sockets_raw) {
                    Ok(s) => Some(s),
                    Err(m) => {
                        errors.push(err(Some(col(4, 3)), m));
                        None
                    }
                };
                let models = match parse_models(&models_raw) {
                    Ok(m) => Some(m),
                    Err(m) => {
                        errors.push(err(Some(col(5, 2)), m));
                        None
                    }
                };
                let pvu = match pvu_raw.parse::<u32>() {
                    Ok(0) | Err(_) => {
                        errors.push(err(
                            Some(col(6, 4)),
                            format!("`{pvu_raw}`: expected a positive whole number"),
                        ));
                        None
                    }
                    Ok(n) => Some(n),
                };
                if let (true, Some(sockets), Some(models), Some(pvu)) =
                    (row_ok, sockets, models, pvu)
                {
                    let kind = classify(&vendor, &brand, sockets);
                    rows.push(PvuRow {
                        layout,
                        origin: RowOrigin {
                            input,
                            line: rec.line,
                        },
                        section,
                        vendor,
                        brand,
                        server_models: servers,
                        sockets_raw,
                        model_numbers_raw: models_raw,
                        pvu_per_core: pvu,
                        source,
                        sockets,
                        model_numbers: models,
                        kind,
                    });
                }
            }
        }
        if errors.is_empty() && rows.is_empty() {
            errors.push(TableError {
                input: 0,
                line: 0,
                column: None,
                message: "the table has no rows".into(),
            });
        }
        if errors.is_empty() {
            Ok(PvuTable {
                version: version.trim().to_string(),
                rows,
            })
        } else {
            Err(errors)
        }
    }

    /// The table as CSV: one text per layout present (RISC first), each with its header.
    /// `PvuTable::parse(&t.version, &t.to_csv())` gives back an equal table.
    pub fn to_csv(&self) -> Vec<String> {
        let mut out = Vec::new();
        for layout in [Layout::RiscSystemz, Layout::X86] {
            let rows: Vec<&PvuRow> = self.rows.iter().filter(|r| r.layout == layout).collect();
            if rows.is_empty() {
                continue;
            }
            let mut text = match layout {
                Layout::RiscSystemz => RISC_HEADER.join(","),
                Layout::X86 => X86_HEADER.join(","),
            };
            text.push('\n');
            for r in rows {
                let pvu = r.pvu_per_core.to_string();
                let line = match layout {
                    Layout::RiscSystemz => csvtext::line(&[
                        r.section.as_str(),
                        &r.vendor,
                        &r.brand,
                        &r.server_models,
                        &r.sockets_raw,
                        &r.model_numbers_raw,
                        &pvu,
                    ]),
                    Layout::X86 => csvtext::line(&[
                        r.vendor.as_str(),
                        &r.brand,
                        &r.model_numbers_raw,
                        &r.sockets_raw,
                        &pvu,
                        &r.source,
                    ]),
                };
                text.push_str(&line);
                text.push('\n');
            }
            out.push(text);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_parses_completely() {
        let r = PvuTable::parse(BUNDLED_VERSION, &[BUNDLED_RISC, BUNDLED_X86]);
        let t = match r {
            Ok(t) => t,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(t.rows.len(), 20 + 13);
        assert_eq!(PvuTable::bundled(), t);
    }

    #[test]
    fn models_and_sockets() {
        assert_eq!(
            parse_models("3400-3699 or 5500-5699").unwrap(),
            ModelNumbers::Ranges(vec![
                ModelRange {
                    line: None,
                    from: 3400,
                    to: 3699
                },
                ModelRange {
                    line: None,
                    from: 5500,
                    to: 5699
                }
            ])
        );
        assert_eq!(
            parse_models("6500-6599, 7500-7599").unwrap(),
            ModelNumbers::Ranges(vec![
                ModelRange {
                    line: None,
                    from: 6500,
                    to: 6599
                },
                ModelRange {
                    line: None,
                    from: 7500,
                    to: 7599
                }
            ])
        );
        assert_eq!(
            parse_models("Gold 6100-6199").unwrap(),
            ModelNumbers::Ranges(vec![ModelRange {
                line: Some("Gold".into()),
                from: 6100,
                to: 6199
            }])
        );
        assert_eq!(parse_models("All existing").unwrap(), ModelNumbers::All);
        assert!(parse_models("5600-5500").is_err());
        assert_eq!(parse_sockets(">4").unwrap(), SocketClass::MoreThan(4));
        assert_eq!(parse_sockets("> 4").unwrap(), SocketClass::MoreThan(4));
        assert_eq!(parse_sockets("8").unwrap(), SocketClass::AtMost(8));
        assert_eq!(parse_sockets("All").unwrap(), SocketClass::All);
        assert_eq!(parse_sockets("unstated").unwrap(), SocketClass::Unstated);
        assert_eq!(
            parse_sockets("n/a (per vCPU)").unwrap(),
            SocketClass::PerVcpu
        );
        assert!(parse_sockets("four").is_err());
    }
}
