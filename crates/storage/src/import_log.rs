//! The import log in the database (table `import_log_lines`, migration
//! 0014): one row per line, so that every server on one database serves
//! any import's log, whichever server ran it. The ingest crate's
//! `ImportLog` writes the lines in batches; `GET /api/imports/{id}/log`
//! reads them back in the order they were stored (`seq`). History
//! retention deletes them with their import (`ON DELETE CASCADE`).

use crate::{from_ms, to_ms, Result, SqliteStore};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// One line of an import's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLogLine {
    pub import_id: i64,
    /// When it was written (kept to the millisecond).
    pub at: DateTime<Utc>,
    /// `INFO`, `WARN` or `ERROR` (not padded).
    pub level: String,
    /// One line: never contains a line break.
    pub message: String,
}

/// The statement that stores one line, unless its import is gone (a line
/// for an import that history retention already deleted, or that never
/// existed, is dropped rather than failing the whole batch on the foreign
/// key). Parameters: import id, time, level, message, import id.
pub(crate) const INSERT_SQLITE: &str =
    "INSERT INTO import_log_lines (import_id, at_ms, level, message)
     SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM imports WHERE id = ?)";

impl SqliteStore {
    /// Stores log lines (of any imports) in one transaction, in the given
    /// order. Lines of an import that does not exist are dropped. Returns
    /// how many were stored.
    pub async fn append_import_log(&self, lines: &[ImportLogLine]) -> Result<u64> {
        if lines.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write_tx().await?;
        let mut stored = 0;
        for l in lines {
            stored += sqlx::query(INSERT_SQLITE)
                .bind(l.import_id)
                .bind(to_ms(l.at))
                .bind(&l.level)
                .bind(one_line(&l.message))
                .bind(l.import_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(stored)
    }

    /// The lines of an import's log, in the order they were stored (empty
    /// for an import without lines in the database, e.g. one run before
    /// the log moved there).
    pub async fn import_log(&self, import_id: i64) -> Result<Vec<ImportLogLine>> {
        let rows = sqlx::query(
            "SELECT at_ms, level, message FROM import_log_lines
             WHERE import_id = ? ORDER BY seq",
        )
        .bind(import_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ImportLogLine {
                    import_id,
                    at: from_ms(r.try_get(0)?),
                    level: r.try_get(1)?,
                    message: r.try_get(2)?,
                })
            })
            .collect()
    }
}

/// The message as one line: a line break would break the log's format.
pub(crate) fn one_line(message: &str) -> std::borrow::Cow<'_, str> {
    if message.contains(['\n', '\r']) {
        message.replace(['\n', '\r'], " ").into()
    } else {
        message.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;
    use openlmt_domain::{ImportType, Trigger};

    fn line(import_id: i64, ms: i64, level: &str, message: &str) -> ImportLogLine {
        ImportLogLine {
            import_id,
            at: from_ms(ms),
            level: level.into(),
            message: message.into(),
        }
    }

    #[tokio::test]
    async fn lines_come_back_in_order_and_go_with_their_import() {
        let (s, _dir) = test_store().await;
        let a = s
            .register_import(ImportType::Complete, Trigger::Api, None)
            .await
            .unwrap()
            .unwrap();
        let stored = s
            .append_import_log(&[
                line(a.id, 1_000, "INFO", "first"),
                // Earlier time, later line: the order is the order stored.
                line(a.id, 999, "WARN", "second\nwith a break"),
                line(a.id + 1, 1_001, "INFO", "no such import: dropped"),
                line(a.id, 1_002, "ERROR", "third"),
            ])
            .await
            .unwrap();
        assert_eq!(stored, 3);
        let got = s.import_log(a.id).await.unwrap();
        assert_eq!(
            got,
            vec![
                line(a.id, 1_000, "INFO", "first"),
                line(a.id, 999, "WARN", "second with a break"),
                line(a.id, 1_002, "ERROR", "third"),
            ]
        );
        assert!(s.import_log(a.id + 1).await.unwrap().is_empty());
        s.end_import(a.id, openlmt_domain::ImportStatus::Failed, Some("x"))
            .await
            .unwrap();
        let b = s
            .register_import(ImportType::Complete, Trigger::Api, None)
            .await
            .unwrap()
            .unwrap();
        s.end_import(b.id, openlmt_domain::ImportStatus::Failed, Some("x"))
            .await
            .unwrap();
        assert_eq!(s.prune_imports(1).await.unwrap(), vec![a.id]);
        assert!(s.import_log(a.id).await.unwrap().is_empty());
    }
}
