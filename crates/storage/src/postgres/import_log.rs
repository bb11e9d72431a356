//! The import log on PostgreSQL (table `import_log_lines`, migration 0006).
//! The behaviour is the SQLite engine's (`import_log.rs`).

use super::PgStore;
use crate::import_log::one_line;
use crate::{from_ms, to_ms, ImportLogLine, Result};
use sqlx::Row;

impl PgStore {
    pub async fn append_import_log(&self, lines: &[ImportLogLine]) -> Result<u64> {
        if lines.is_empty() {
            return Ok(0);
        }
        // One statement for the batch; WITH ORDINALITY keeps the given
        // order in `seq`. Lines of an import that does not exist (or no
        // longer does) are dropped by the join rather than failing the
        // batch on the foreign key.
        let ids: Vec<i64> = lines.iter().map(|l| l.import_id).collect();
        let ats: Vec<i64> = lines.iter().map(|l| to_ms(l.at)).collect();
        let levels: Vec<&str> = lines.iter().map(|l| l.level.as_str()).collect();
        let messages: Vec<String> = lines
            .iter()
            .map(|l| one_line(&l.message).into_owned())
            .collect();
        let mut tx = self.tx().await?;
        let stored = sqlx::query(
            "INSERT INTO import_log_lines (import_id, at_ms, level, message)
             SELECT l.import_id, l.at_ms, l.level, l.message
             FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[])
                  WITH ORDINALITY AS l(import_id, at_ms, level, message, n)
             JOIN imports i ON i.id = l.import_id
             ORDER BY l.n",
        )
        .bind(&ids)
        .bind(&ats)
        .bind(&levels)
        .bind(&messages)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(stored)
    }

    pub async fn import_log(&self, import_id: i64) -> Result<Vec<ImportLogLine>> {
        let rows = sqlx::query(
            "SELECT at_ms, level, message FROM import_log_lines
             WHERE import_id = $1 ORDER BY seq",
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
