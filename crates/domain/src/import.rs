//! Imports: their type, status, trigger, and the server-wide mode.

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text form used in the database and on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::import::UnknownValue;
            fn from_str(s: &str) -> Result<Self, $crate::import::UnknownValue> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::import::UnknownValue {
                        what: stringify!($name),
                        value: s.to_string(),
                        allowed: &[$($text),+],
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

/// A text that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}; expected one of: {}", allowed.join(", "))]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub allowed: &'static [&'static str],
}

string_enum! {
    /// What an import publishes: `complete` also computes the inventory.
    ImportType { Complete => "complete", RawOnly => "raw_only" }
}

string_enum! {
    /// The life of one import. `Pending` and `Running` are *active*; at most
    /// one import is active at any time.
    ImportStatus {
        Pending => "pending",
        Running => "running",
        Successful => "successful",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

string_enum! {
    /// Who or what asked for an import.
    Trigger { Schedule => "schedule", Api => "api", Panel => "panel", Cli => "cli" }
}

string_enum! {
    /// The server-wide import mode reported by `import_status.json`.
    Mode { None => "none", Pending => "pending", Running => "running", Idle => "idle" }
}

impl ImportStatus {
    pub fn is_active(self) -> bool {
        matches!(self, ImportStatus::Pending | ImportStatus::Running)
    }
}

impl Mode {
    /// The mode given the active import (if any) and whether any import
    /// has ever been registered on this server.
    pub fn derive(active: Option<ImportStatus>, any_import_ever: bool) -> Mode {
        match active {
            Some(ImportStatus::Pending) => Mode::Pending,
            Some(ImportStatus::Running) => Mode::Running,
            _ if any_import_ever => Mode::Idle,
            _ => Mode::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_value() {
        for t in ImportType::ALL {
            assert_eq!(t.as_str().parse::<ImportType>().unwrap(), *t);
        }
        for s in ImportStatus::ALL {
            assert_eq!(s.as_str().parse::<ImportStatus>().unwrap(), *s);
        }
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>().unwrap(), *t);
        }
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), *m);
        }
    }

    #[test]
    fn unknown_value_names_the_choices() {
        let e = "weekly".parse::<ImportType>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`weekly` is not a valid ImportType; expected one of: complete, raw_only"
        );
    }

    #[test]
    fn mode_from_state() {
        assert_eq!(Mode::derive(None, false), Mode::None);
        assert_eq!(Mode::derive(None, true), Mode::Idle);
        assert_eq!(
            Mode::derive(Some(ImportStatus::Pending), true),
            Mode::Pending
        );
        assert_eq!(
            Mode::derive(Some(ImportStatus::Running), false),
            Mode::Running
        );
    }
}
