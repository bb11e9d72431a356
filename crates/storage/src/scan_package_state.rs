//! The states of scan packages, one typed vocabulary for the database and
//! the API: [`ScanPackageState`] is what one import decided about a scan
//! package (`import_scan_packages.state`), [`RegistryState`] what the
//! published registry remembers of it (`scan_packages.state`). Each enum's
//! text is defined once, in its `as_str`; the `sqlx` encoding and decoding
//! and every SQL statement that tests a state use it (statements bind the
//! values or, in constant column lists, interpolate them), never their own
//! string literals.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Sqlite, Type};

/// Implements the text form (`as_str`, `parse`, `ALL`) and the SQLite TEXT
/// encoding of a state enum from one table of variants and names.
macro_rules! text_state {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name stored in the database and used by the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant named `s` (exactly as [`Self::as_str`] writes it).
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl Type<Sqlite> for $name {
            fn type_info() -> SqliteTypeInfo {
                <str as Type<Sqlite>>::type_info()
            }

            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <str as Type<Sqlite>>::compatible(ty)
            }
        }

        impl<'q> Encode<'q, Sqlite> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut Vec<SqliteArgumentValue<'q>>,
            ) -> Result<IsNull, BoxDynError> {
                <&str as Encode<'q, Sqlite>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $name {
            fn decode(value: SqliteValueRef<'r>) -> Result<$name, BoxDynError> {
                let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
                $name::parse(text).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " `{}`"), text).into()
                })
            }
        }
    };
}

/// What an import decided about one scan package file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScanPackageState {
    /// Not imported before (or changed since): this import takes it.
    New,
    /// Imported before with the same content.
    AlreadyImported,
    /// Malformed; the reason says why.
    Rejected,
    /// Older than a scan package already imported for the same endpoint, or
    /// than another scan package for it in the same import.
    SkippedOlder,
    /// Rejected before with the same content; retried only when it changes.
    PreviouslyRejected,
}

text_state!(ScanPackageState {
    New => "new",
    AlreadyImported => "already_imported",
    Rejected => "rejected",
    SkippedOlder => "skipped_older",
    PreviouslyRejected => "previously_rejected",
});

/// What the published registry of scan packages remembers of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistryState {
    /// Its facts were imported.
    Imported,
    /// Unreadable with this content.
    Rejected,
    /// Older than what was imported for its endpoint: its hash is known,
    /// its fate is decided again at each import.
    Skipped,
}

text_state!(RegistryState {
    Imported => "imported",
    Rejected => "rejected",
    Skipped => "skipped",
});

impl ScanPackageState {
    /// What a successful import publishes into the registry for a scan
    /// package it decided this about; `None`: the registry keeps what it had
    /// (a package already imported or previously rejected is unchanged).
    /// A [`ScanPackageState::Rejected`] one is published only when its
    /// content was hashed (the publish statement checks that).
    pub fn published_as(self) -> Option<RegistryState> {
        match self {
            ScanPackageState::New => Some(RegistryState::Imported),
            ScanPackageState::SkippedOlder => Some(RegistryState::Skipped),
            ScanPackageState::Rejected => Some(RegistryState::Rejected),
            ScanPackageState::AlreadyImported | ScanPackageState::PreviouslyRejected => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes each of `all` into table `t` and reads it back, both as the
    /// enum and as text: the text is `as_str`'s and `parse` reads it back.
    async fn round_trip<T>(
        pool: &sqlx::SqlitePool,
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) where
        T: for<'q> Encode<'q, Sqlite>
            + for<'r> Decode<'r, Sqlite>
            + Type<Sqlite>
            + Copy
            + PartialEq
            + std::fmt::Debug
            + Send
            + Unpin
            + 'static,
    {
        for &v in all {
            sqlx::query("DELETE FROM t").execute(pool).await.unwrap();
            sqlx::query("INSERT INTO t (s) VALUES (?)")
                .bind(v)
                .execute(pool)
                .await
                .unwrap();
            let back: T = sqlx::query_scalar("SELECT s FROM t")
                .fetch_one(pool)
                .await
                .unwrap();
            let text: String = sqlx::query_scalar("SELECT s FROM t")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!((back, text.as_str()), (v, as_str(v)));
            assert_eq!(parse(&text), Some(v));
        }
    }

    /// Every variant of both enums is written to a real database column and
    /// read back, as itself and as the text `as_str` names; an unknown
    /// text is refused rather than read as some variant.
    #[tokio::test]
    async fn every_state_round_trips_through_the_database() {
        let (store, _dir) = crate::test_store().await;
        let pool = store.pool();
        sqlx::query("CREATE TABLE t (s TEXT NOT NULL)")
            .execute(pool)
            .await
            .unwrap();
        round_trip(
            pool,
            ScanPackageState::ALL,
            ScanPackageState::as_str,
            ScanPackageState::parse,
        )
        .await;
        round_trip(
            pool,
            RegistryState::ALL,
            RegistryState::as_str,
            RegistryState::parse,
        )
        .await;
        sqlx::query("UPDATE t SET s = 'imported_maybe'")
            .execute(pool)
            .await
            .unwrap();
        let bad = sqlx::query_scalar::<_, RegistryState>("SELECT s FROM t")
            .fetch_one(pool)
            .await;
        assert!(bad.is_err(), "an unknown state is not read as a variant");
        assert_eq!(ScanPackageState::parse("New"), None);
    }

    /// The texts are the ones migrations 0001–0005 and the API use.
    #[test]
    fn texts_are_the_stored_and_wire_ones() {
        let texts: Vec<&str> = ScanPackageState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            texts,
            [
                "new",
                "already_imported",
                "rejected",
                "skipped_older",
                "previously_rejected"
            ]
        );
        let texts: Vec<&str> = RegistryState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(texts, ["imported", "rejected", "skipped"]);
        assert_eq!(
            ScanPackageState::New.published_as(),
            Some(RegistryState::Imported)
        );
        assert_eq!(ScanPackageState::AlreadyImported.published_as(), None);
    }
}
