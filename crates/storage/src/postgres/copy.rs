//! `COPY … FROM STDIN` in PostgreSQL's text format, for the bulk writes
//! (the import's facts, `openlmt db copy`).

use crate::Result;
use sqlx::PgConnection;
use std::io::Write as _;

/// Rows in `COPY`'s text format (PostgreSQL, "COPY", File Formats: Text
/// Format): columns separated by a tab, rows ended by a newline, `\N` for
/// NULL, and a backslash, tab, newline or carriage return in a value written
/// as `\\`, `\t`, `\n`, `\r`. Built in memory per table and batch (a batch
/// is ~20,000 rows, a few MiB), then sent in pieces of [`COPY_PIECE`] bytes.
#[derive(Default)]
pub(crate) struct CopyText {
    buf: Vec<u8>,
}

/// Bytes per `CopyData` message.
const COPY_PIECE: usize = 1 << 20;

impl CopyText {
    pub(crate) fn int(&mut self, v: i64) {
        // (Writing into a Vec cannot fail.)
        let _ = write!(self.buf, "{v}\t");
    }

    pub(crate) fn text(&mut self, v: &str) {
        self.value(v);
        self.buf.push(b'\t');
    }

    pub(crate) fn opt(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.value(v),
            None => self.buf.extend_from_slice(b"\\N"),
        }
        self.buf.push(b'\t');
    }

    /// The row's last column.
    pub(crate) fn last(&mut self, v: Option<&str>) {
        self.opt(v);
        self.end_row();
    }

    pub(crate) fn real(&mut self, v: f64) {
        let _ = write!(self.buf, "{v:?}\t");
    }

    pub(crate) fn null(&mut self) {
        self.opt(None);
    }

    /// A `bytea` value, in its hex form (`\\x…`, the backslash escaped).
    pub(crate) fn bytea(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(b"\\\\x");
        self.buf.extend_from_slice(hex::encode(v).as_bytes());
        self.buf.push(b'\t');
    }

    /// Ends the row (its last value's tab becomes the newline).
    pub(crate) fn end_row(&mut self) {
        if let Some(end) = self.buf.last_mut() {
            *end = b'\n';
        }
    }

    /// Bytes waiting to be sent.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    fn value(&mut self, v: &str) {
        let bytes = v.as_bytes();
        if !bytes
            .iter()
            .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
        {
            self.buf.extend_from_slice(bytes);
            return;
        }
        for &b in bytes {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                b => self.buf.push(b),
            }
        }
    }

    /// Runs `statement` (a `COPY … FROM STDIN`) with the rows built so far,
    /// and empties the buffer. Nothing is sent for no rows.
    pub(crate) async fn send(&mut self, conn: &mut PgConnection, statement: &str) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut copy = conn.copy_in_raw(statement).await?;
        for piece in self.buf.chunks(COPY_PIECE) {
            if let Err(e) = copy.send(piece).await {
                let _ = copy.abort("openlmt: sending the rows failed").await;
                return Err(e.into());
            }
        }
        copy.finish().await?;
        self.buf.clear();
        Ok(())
    }
}
