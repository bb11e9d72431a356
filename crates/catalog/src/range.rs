//! Version ranges (`">=7.1, <7.2"`) and the per-packaging-system orderings they are compared
//! with.
//!
//! Grammar (whitespace around tokens is ignored):
//!
//! ```text
//! range      = "*" | constraint *( "," constraint )
//! constraint = operator version
//! operator   = ">=" | ">" | "<=" | "<" | "=" | "!="
//! version    = 1*( any character except whitespace and "," )
//! ```
//!
//! A comma means *and*: a version is in the range when it satisfies every constraint. `*`
//! alone is every version (the same as giving no range). A range is parsed once, when the
//! catalog is loaded, into a [`VersionRange`]; matching never re-parses the catalog text.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The ordering a version is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionScheme {
    /// dpkg's ordering (`[epoch:]upstream[-revision]`, `~` sorts before anything, an absent
    /// revision equals `0`), via the `debversion` crate.
    Dpkg,
    /// rpm's ordering (`rpmvercmp` on epoch, version, release; `~` before, `^` after), via
    /// the `rpm-version` crate. A bound without a release (`7.1`) ignores the installed
    /// package's release, as rpm does for a dependency without one.
    Rpm,
    /// SWID tag versions: rpm's segment comparison applied to the whole string (numeric
    /// segments compare as numbers, so `9.10.0 > 9.9.1`), which is the natural order of the
    /// `multipartnumeric` scheme IBM tags use.
    Swid,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `=`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "=",
            Op::Ne => "!=",
        }
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Ge => ord != Ordering::Less,
            Op::Gt => ord == Ordering::Greater,
            Op::Le => ord != Ordering::Greater,
            Op::Lt => ord == Ordering::Less,
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
        }
    }
}

/// One `operator version` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// The operator.
    pub op: Op,
    /// The bound, as written.
    pub version: String,
}

/// A parsed version range: the conjunction of its constraints (empty = every version).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersionRange {
    /// The constraints, all of which must hold.
    pub constraints: Vec<Constraint>,
}

/// Why a range text is not a range. The message names the offending token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError(pub String);

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RangeError {}

fn is_op_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!')
}

impl FromStr for VersionRange {
    type Err = RangeError;

    fn from_str(text: &str) -> Result<Self, RangeError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(RangeError("empty version range".into()));
        }
        if t == "*" {
            return Ok(VersionRange::default());
        }
        let mut constraints = Vec::new();
        for (i, part) in t.split(',').enumerate() {
            let part = part.trim();
            if part.is_empty() {
                return Err(RangeError(format!("empty constraint #{}", i + 1)));
            }
            let op_len = part.find(|c: char| !is_op_char(c)).unwrap_or(part.len());
            let (op_text, rest) = part.split_at(op_len);
            let op = match op_text {
                ">=" => Op::Ge,
                ">" => Op::Gt,
                "<=" => Op::Le,
                "<" => Op::Lt,
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "" => {
                    return Err(RangeError(format!(
                        "missing operator before \"{part}\" (use one of >=, >, <=, <, =, !=)"
                    )))
                }
                other => return Err(RangeError(format!("bad operator \"{other}\""))),
            };
            let version = rest.trim();
            if version.is_empty() {
                return Err(RangeError(format!(
                    "missing version after \"{}\"",
                    op.as_str()
                )));
            }
            if version == "*" {
                return Err(RangeError(
                    "\"*\" is only allowed alone, as the whole range".into(),
                ));
            }
            if let Some(c) = version.chars().find(|c| c.is_whitespace()) {
                return Err(RangeError(format!(
                    "version \"{version}\" contains whitespace {c:?}"
                )));
            }
            constraints.push(Constraint {
                op,
                version: version.to_string(),
            });
        }
        Ok(VersionRange { constraints })
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.constraints.is_empty() {
            return f.write_str("*");
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}{}", c.op.as_str(), c.version)?;
        }
        Ok(())
    }
}

/// Compare two versions under a scheme. `None` when either is not a valid version of that
/// scheme (only dpkg versions can be invalid: they must follow Debian Policy §5.6.12).
pub fn compare(scheme: VersionScheme, a: &str, b: &str) -> Option<Ordering> {
    match scheme {
        VersionScheme::Dpkg => {
            let a = debversion::Version::from_str(a).ok()?;
            let b = debversion::Version::from_str(b).ok()?;
            Some(a.cmp(&b))
        }
        VersionScheme::Rpm => Some(rpm_version::rpm_evr_compare(a, b)),
        VersionScheme::Swid => {
            let a = rpm_version::Evr::new("", a, "");
            let b = rpm_version::Evr::new("", b, "");
            Some(a.cmp(&b))
        }
    }
}

/// Whether `text` is a valid bound for the scheme (checked at load time).
pub fn check_bound(scheme: VersionScheme, text: &str) -> Result<(), String> {
    match scheme {
        VersionScheme::Dpkg => debversion::Version::from_str(text)
            .map(|_| ())
            .map_err(|e| format!("\"{text}\" is not a Debian version: {e}")),
        VersionScheme::Rpm | VersionScheme::Swid => {
            match text
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "._+~^:-".contains(*c)))
            {
                Some(c) => Err(format!("\"{text}\" is not an rpm version: character {c:?}")),
                None => Ok(()),
            }
        }
    }
}

impl Constraint {
    /// Whether `installed` satisfies this constraint under `scheme`; an installed version
    /// that the scheme cannot read satisfies nothing.
    pub fn matches(&self, scheme: VersionScheme, installed: &str) -> bool {
        let ord = match scheme {
            VersionScheme::Rpm => {
                let bound = rpm_version::Evr::parse(&self.version);
                let have = rpm_version::Evr::parse(installed);
                if bound.release().is_empty() {
                    // rpm: a bound without a release compares epoch and version only.
                    let have = rpm_version::Evr::new(have.epoch(), have.version(), "");
                    Some(have.cmp(&bound))
                } else {
                    Some(have.cmp(&bound))
                }
            }
            _ => compare(scheme, installed, &self.version),
        };
        ord.is_some_and(|o| self.op.holds(o))
    }
}

impl VersionRange {
    /// Whether `installed` is in the range under `scheme`.
    pub fn matches(&self, scheme: VersionScheme, installed: &str) -> bool {
        self.constraints
            .iter()
            .all(|c| c.matches(scheme, installed))
    }

    /// True for `*` (no constraint).
    pub fn is_any(&self) -> bool {
        self.constraints.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> VersionRange {
        s.parse().unwrap()
    }

    #[test]
    fn grammar() {
        let v = r(">=7.1, <7.2");
        assert_eq!(
            v.constraints,
            vec![
                Constraint {
                    op: Op::Ge,
                    version: "7.1".into()
                },
                Constraint {
                    op: Op::Lt,
                    version: "7.2".into()
                }
            ]
        );
        assert_eq!(v.to_string(), ">=7.1, <7.2");
        assert!(r("*").is_any());
        assert_eq!(r(" != 1:2.0-1 ").constraints[0].op, Op::Ne);
        assert_eq!(r("=9.0.0").constraints[0].version, "9.0.0");
        for (bad, msg) in [
            ("=>7.1", "bad operator \"=>\""),
            ("", "empty version range"),
            (">=7.1,", "empty constraint #2"),
            ("7.1", "missing operator"),
            (">=", "missing version after \">=\""),
            ("<< 2", "bad operator \"<<\""),
            (">=1 2", "contains whitespace"),
            (">=*", "only allowed alone"),
        ] {
            let e = bad.parse::<VersionRange>().unwrap_err().0;
            assert!(e.contains(msg), "{bad:?}: {e}");
        }
    }

    #[test]
    fn dpkg_ordering() {
        use VersionScheme::Dpkg;
        let lt = |a: &str, b: &str| compare(Dpkg, a, b) == Some(Ordering::Less);
        // epochs beat everything
        assert!(lt("9.9-1", "1:0.1-1"));
        // ~ sorts before the empty string
        assert!(lt("1.0~rc1-1", "1.0-1"));
        assert!(lt("1.0~~", "1.0~"));
        // revisions, numerically
        assert!(lt("2.40-2", "2.40-10"));
        // real versions from the corpus host: base-files 12.4+deb12u11, openssl 3.0.15-1~deb12u1
        assert!(lt("12.4+deb12u10", "12.4+deb12u11"));
        assert!(lt("3.0.15-1~deb12u1", "3.0.15-1"));
        // absent revision = 0
        assert_eq!(compare(Dpkg, "7.1", "7.1-0"), Some(Ordering::Equal));
        // not string order
        assert!(lt("1.9", "1.10"));
        assert_eq!(compare(Dpkg, "not a version!", "1"), None);

        let range = r(">=1:7.1, <1:7.2");
        assert!(range.matches(Dpkg, "1:7.1.3-2"));
        assert!(!range.matches(Dpkg, "7.1.3-2"), "epoch 0 < epoch 1");
        assert!(
            range.matches(Dpkg, "1:7.2~beta1"),
            "a pre-release of 7.2 is below 7.2"
        );
        assert!(r("<1:7.2").matches(Dpkg, "1:7.2~beta1"));
        assert!(!r(">=1.0").matches(Dpkg, "1.0~rc1"));
        assert!(!r("=1.0").matches(Dpkg, "garbage version"));
    }

    #[test]
    fn rpm_ordering() {
        use VersionScheme::Rpm;
        let lt = |a: &str, b: &str| compare(Rpm, a, b) == Some(Ordering::Less);
        assert!(lt("1.0~rc1", "1.0"));
        assert!(lt("1.9", "1.10"));
        assert!(lt("2.0-1", "1:1.0-1"), "epoch");
        assert!(lt("1.0-1.mga8", "1.0-2.mga8"));
        assert!(lt("1.0", "1.0^git1"));
        // bound without a release ignores the installed release (rpm's rule)
        assert!(r("=7.1.0").matches(Rpm, "7.1.0-5"));
        assert!(r(">=7.1, <7.2").matches(Rpm, "7.1.0-5"));
        assert!(!r("<7.1.0").matches(Rpm, "7.1.0-5"));
        // a bound with a release compares it
        assert!(r(">7.1.0-4").matches(Rpm, "7.1.0-5"));
        assert!(!r(">7.1.0-5").matches(Rpm, "7.1.0-5"));
        assert!(r(">=1.0").matches(Rpm, "1.0-1") && !r(">=1.0").matches(Rpm, "1.0~rc1-1"));
    }

    #[test]
    fn swid_ordering() {
        use VersionScheme::Swid;
        assert_eq!(compare(Swid, "9.10.0", "9.9.1"), Some(Ordering::Greater));
        assert!(r(">=9.0, <10").matches(Swid, "9.0.0"));
        assert!(!r(">=9.1").matches(Swid, "9.0.0"));
    }

    #[test]
    fn bounds_checked_per_scheme() {
        assert!(check_bound(VersionScheme::Dpkg, "1:2.0-1").is_ok());
        assert!(check_bound(VersionScheme::Dpkg, "1.0/x").is_err());
        assert!(check_bound(VersionScheme::Rpm, "7.1").is_ok());
        assert!(check_bound(VersionScheme::Rpm, "7.1/x").is_err());
    }
}

#[cfg(test)]
mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any range text and any installed version, under every scheme: an answer, never a
        /// panic (installed versions come from scanned computers).
        #[test]
        fn arbitrary_text(range in "\\PC{0,12}", bound in "[0-9a-z.:~^+_-]{0,10}", installed in "\\PC{0,16}") {
            let _ = range.parse::<VersionRange>();
            for scheme in [VersionScheme::Dpkg, VersionScheme::Rpm, VersionScheme::Swid] {
                let _ = check_bound(scheme, &bound);
                let _ = compare(scheme, &bound, &installed);
                for op in [">=", "<", "=", "!="] {
                    if let Ok(r) = format!("{op}{bound}").parse::<VersionRange>() {
                        let _ = r.matches(scheme, &installed);
                    }
                }
            }
        }
    }
}
