//! Bounding a zip archive's index before anything parses it.
//!
//! The `zip` crate reads the whole central directory into memory (one record per member,
//! names and extra fields included) when an archive is opened, before the caller can look
//! at the member count. [`check_zip_index`] reads only the end-of-central-directory (EOCD)
//! record — and the ZIP64 locator and record when present — from the end of the file, with
//! a fixed-size buffer, and refuses an archive whose declared entry count or central
//! directory size is over the [`Limits`]. [`open_zip`] applies it and then hands the `zip`
//! crate a view of the file that ends at that EOCD record, with a read budget, so the crate
//! parses exactly the directory that was checked (and at most a bounded number of bytes
//! whatever it does). Every zip read from a client or a data source goes through
//! [`open_zip`].

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;

use crate::error::ScanPackageError;
use crate::text::human_size;
use crate::Limits;

/// Central-directory bytes allowed per member: a record is 46 bytes plus the name, extra
/// fields and comment; real packages use 100–200 bytes. 1 KiB each leaves room for long
/// paths and bounds the directory at 10 MiB under the default 10,000 members.
pub const CENTRAL_DIRECTORY_BYTES_PER_MEMBER: u64 = 1024;

const EOCD_SIG: [u8; 4] = *b"PK\x05\x06";
const EOCD64_LOCATOR_SIG: [u8; 4] = *b"PK\x06\x07";
const EOCD64_SIG: [u8; 4] = *b"PK\x06\x06";
const EOCD_LEN: u64 = 22;
const LOCATOR_LEN: u64 = 20;
const EOCD64_LEN: u64 = 56;
const CENTRAL_RECORD_MIN: u64 = 46;
/// The EOCD record is followed by at most a 65,535-byte comment; the search also tolerates
/// up to 64 KiB of garbage after the comment (some writers append padding). This bounds
/// both the bytes read and the buffer.
const SEARCH_WINDOW: u64 = EOCD_LEN + 65_535 + 64 * 1024;
/// Bytes the `zip` crate may read while opening, on top of the central directory: its
/// backwards signature search over the tail, the ZIP64 records, and slack.
const OPEN_SLACK: u64 = SEARCH_WINDOW + 1024 * 1024;

/// What the end of a zip archive declares about its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipIndex {
    /// Entries in the central directory (the larger of the ZIP32 and ZIP64 figures).
    pub entries: u64,
    /// Size in bytes of the central directory.
    pub central_directory_size: u64,
    /// Offset of the central directory, relative to the archive's start.
    pub central_directory_offset: u64,
    /// File offset of the EOCD record used.
    pub eocd_offset: u64,
    /// File offset just past that record's comment: where the archive ends.
    pub end: u64,
    /// Whether a ZIP64 end record was read.
    pub zip64: bool,
}

/// The largest central directory [`check_zip_index`] accepts under `limits`.
pub fn max_central_directory_size(limits: &Limits) -> u64 {
    u64::from(limits.max_members).saturating_mul(CENTRAL_DIRECTORY_BYTES_PER_MEMBER)
}

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn read_at<R: Read + Seek>(r: &mut R, at: u64, buf: &mut [u8]) -> io::Result<()> {
    r.seek(SeekFrom::Start(at))?;
    r.read_exact(buf)
}

fn not_zip(why: &str) -> ScanPackageError {
    ScanPackageError::NotZip(why.to_string())
}

fn corrupt(why: &str) -> ScanPackageError {
    ScanPackageError::Corrupt(format!("zip: {why}"))
}

fn io_or(e: io::Error, why: &str) -> ScanPackageError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt(why)
    } else {
        ScanPackageError::Io(e)
    }
}

/// Read the end-of-central-directory record (and the ZIP64 locator and record when
/// present) of the zip in `reader`, and refuse it when it declares more than
/// `limits.max_members` entries or a central directory larger than
/// [`max_central_directory_size`]. Reads at most about 130 KiB from the end of the file and
/// allocates nothing that depends on the declared figures.
///
/// The EOCD record is searched backwards from the end, as the zip specification allows
/// (a comment of up to 65,535 bytes follows it), tolerating up to 64 KiB of garbage after
/// the comment. Candidates are tried from the end backwards and the first whose comment
/// fits in the file and whose figures are consistent (one disk, a directory that ends
/// before its end record and is large enough for its entries) is used — the order the
/// `zip` crate tries them in.
pub fn check_zip_index<R: Read + Seek>(
    reader: &mut R,
    limits: &Limits,
) -> Result<ZipIndex, ScanPackageError> {
    let len = reader.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Err(not_zip("file is empty"));
    }
    if len < EOCD_LEN {
        return Err(not_zip(
            "too short to hold an end-of-central-directory record",
        ));
    }
    let start = len - len.min(SEARCH_WINDOW);
    let mut tail = vec![0u8; (len - start) as usize];
    read_at(reader, start, &mut tail).map_err(|e| io_or(e, "cannot read the archive's end"))?;

    // Candidates from the end backwards: the first that is structurally sound is used.
    let mut first_error = None;
    let mut i = tail.len() - EOCD_LEN as usize;
    let index = loop {
        if tail[i..i + 4] == EOCD_SIG {
            match candidate(reader, &tail, start, i, len) {
                Ok(ix) => break ix,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if i == 0 {
            return Err(first_error.unwrap_or_else(|| {
                not_zip("no end-of-central-directory record in the last 129 KiB")
            }));
        }
        i -= 1;
    };
    let ZipIndex {
        entries,
        central_directory_size: cd_size,
        ..
    } = index;
    if entries > u64::from(limits.max_members) {
        return Err(ScanPackageError::TooManyMembers(limits.max_members));
    }
    let max_cd = max_central_directory_size(limits);
    if cd_size > max_cd {
        return Err(ScanPackageError::IndexTooLarge {
            size: human_size(cd_size),
            limit: human_size(max_cd),
        });
    }
    Ok(index)
}

/// Parse the EOCD candidate at `tail[i..]` (file offset `start + i`) and its ZIP64 records,
/// checking only its structure; the limits are the caller's.
fn candidate<R: Read + Seek>(
    reader: &mut R,
    tail: &[u8],
    start: u64,
    i: usize,
    len: u64,
) -> Result<ZipIndex, ScanPackageError> {
    let comment = le16(tail, i + 20);
    let eocd_offset = start + i as u64;
    let end = eocd_offset + EOCD_LEN + comment;
    if end > len {
        return Err(not_zip(
            "the end record's comment runs past the end of the file",
        ));
    }
    let e = &tail[i..i + EOCD_LEN as usize];
    let disk = le16(e, 4);
    let cd_disk = le16(e, 6);
    let entries_disk = le16(e, 8);
    let entries_total = le16(e, 10);
    let mut cd_size = le32(e, 12);
    let mut cd_offset = le32(e, 16);
    let mut entries = entries_disk.max(entries_total);
    let may_be_zip64 = entries_disk == 0xFFFF
        || entries_total == 0xFFFF
        || cd_size == 0xFFFF_FFFF
        || cd_offset == 0xFFFF_FFFF
        || disk == 0xFFFF
        || cd_disk == 0xFFFF;

    let mut zip64 = false;
    let mut locator = [0u8; LOCATOR_LEN as usize];
    let has_locator = eocd_offset >= LOCATOR_LEN
        && read_at(reader, eocd_offset - LOCATOR_LEN, &mut locator).is_ok()
        && locator[..4] == EOCD64_LOCATOR_SIG;
    if has_locator {
        let locator_offset = eocd_offset - LOCATOR_LEN;
        if le32(&locator, 16) > 1 {
            return Err(not_zip("multi-disk archives are not supported"));
        }
        let stated = le64(&locator, 8);
        let mut rec = [0u8; EOCD64_LEN as usize];
        // At the stated offset, or (with bytes prepended to the archive) the last ZIP64
        // end-record signature in the tail before the locator.
        let at_stated = stated
            .checked_add(EOCD64_LEN)
            .is_some_and(|e| e <= locator_offset)
            && read_at(reader, stated, &mut rec).is_ok()
            && rec[..4] == EOCD64_SIG;
        if !at_stated {
            let upto = locator_offset
                .checked_sub(start)
                .ok_or_else(|| corrupt("ZIP64 locator present but no ZIP64 end record"))?
                as usize;
            let pos = (0..=upto.saturating_sub(EOCD64_LEN as usize))
                .rev()
                .find(|&p| p + EOCD64_LEN as usize <= upto && tail[p..p + 4] == EOCD64_SIG)
                .ok_or_else(|| corrupt("ZIP64 locator present but no ZIP64 end record"))?;
            rec.copy_from_slice(&tail[pos..pos + EOCD64_LEN as usize]);
        }
        zip64 = true;
        let entries64 = le64(&rec, 24).max(le64(&rec, 32));
        let size64 = le64(&rec, 40);
        let offset64 = le64(&rec, 48);
        // The ZIP32 figures are only placeholders when saturated; take the larger values
        // so that neither record can hide a large directory.
        entries = if entries_total == 0xFFFF || entries_disk == 0xFFFF {
            entries64
        } else {
            entries.max(entries64)
        };
        cd_size = if cd_size == 0xFFFF_FFFF {
            size64
        } else {
            cd_size.max(size64)
        };
        if cd_offset == 0xFFFF_FFFF {
            cd_offset = offset64;
        }
    } else if disk != cd_disk && !may_be_zip64 {
        return Err(not_zip("multi-disk archives are not supported"));
    }
    // Saturated ZIP32 figures without a ZIP64 record stay as they are: 65,535 entries or a
    // 4 GiB directory, refused below like any other figure over the limits.

    if entries.saturating_mul(CENTRAL_RECORD_MIN) > cd_size {
        return Err(corrupt(&format!(
            "the central directory of {cd_size} bytes cannot hold {entries} entries"
        )));
    }
    let cd_before = if zip64 {
        eocd_offset - LOCATOR_LEN
    } else {
        eocd_offset
    };
    if cd_offset.saturating_add(cd_size) > cd_before {
        return Err(corrupt("the central directory extends past its end record"));
    }
    Ok(ZipIndex {
        entries,
        central_directory_size: cd_size,
        central_directory_offset: cd_offset,
        eocd_offset,
        end,
        zip64,
    })
}

/// A view of a reader that ends at `end` and fails reads once `budget` bytes were read
/// (while the budget is armed). See [`open_zip`].
pub struct BoundedView<R> {
    inner: R,
    end: u64,
    pos: u64,
    budget: Rc<Cell<Option<u64>>>,
}

impl<R: Read + Seek> Read for BoundedView<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = (buf.len() as u64).min(left) as usize;
        if want == 0 {
            return Ok(0);
        }
        if let Some(b) = self.budget.get() {
            if b == 0 {
                return Err(io::Error::other(
                    "zip index read budget exhausted (central directory too large)",
                ));
            }
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        if let Some(b) = self.budget.get() {
            self.budget.set(Some(b.saturating_sub(n as u64)));
        }
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for BoundedView<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.end.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        self.pos = self.inner.seek(SeekFrom::Start(target))?;
        Ok(self.pos)
    }
}

/// Open a zip archive with bounded memory: [`check_zip_index`] first, then the `zip` crate
/// on a view that ends at the checked EOCD record, with a read budget of the checked
/// central directory's size plus a fixed slack while the crate parses the index (so even
/// a directory the crate found by other means could not make it read — and keep — more).
pub fn open_zip<R: Read + Seek>(
    mut reader: R,
    limits: &Limits,
) -> Result<(zip::ZipArchive<BoundedView<R>>, ZipIndex), ScanPackageError> {
    let index = check_zip_index(&mut reader, limits)?;
    let budget = Rc::new(Cell::new(Some(
        index.central_directory_size.saturating_add(OPEN_SLACK),
    )));
    let view = BoundedView {
        inner: reader,
        end: index.end,
        pos: 0,
        budget: Rc::clone(&budget),
    };
    let archive = zip::ZipArchive::new(view).map_err(|e| match e {
        zip::result::ZipError::Io(io) if budget.get() == Some(0) => {
            ScanPackageError::Corrupt(crate::text::printable(&format!("zip: {io}")))
        }
        zip::result::ZipError::Io(io) if io.kind() != io::ErrorKind::UnexpectedEof => {
            ScanPackageError::Io(io)
        }
        other => ScanPackageError::NotZip(crate::text::printable(&other.to_string())),
    })?;
    budget.set(None);
    if archive.len() > limits.max_members as usize {
        // Cannot happen when the crate read the checked directory; kept as a guard.
        return Err(ScanPackageError::TooManyMembers(limits.max_members));
    }
    Ok((archive, index))
}
