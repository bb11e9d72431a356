//! Small text helpers shared by the parsers.

/// `256 MiB`, `64 KiB`, `1000 bytes`: how limits are shown in error messages.
pub(crate) fn human_size(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * 1024 * 1024;
    if n >= GIB && n.is_multiple_of(GIB) {
        format!("{} GiB", n / GIB)
    } else if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// Lossy UTF-8 decoding that also drops a leading byte-order mark.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    match s.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => s.into_owned(),
    }
}

/// Like [`lossy`], but takes the buffer and reuses it when it is valid
/// UTF-8 (the usual case), instead of copying it.
pub(crate) fn lossy_owned(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => match s.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_string(),
            None => s,
        },
        Err(e) => lossy(e.as_bytes()),
    }
}

/// Collapse runs of whitespace into single spaces and trim.
pub(crate) fn squash_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Some(trimmed)` unless empty after trimming.
pub(crate) fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// Make untrusted text safe for a one-line message: control characters (newlines
/// included) are escaped and anything past 300 characters is cut with `…`.
pub(crate) fn printable(s: &str) -> String {
    const MAX: usize = 300;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(256 * 1024 * 1024), "256 MiB");
        assert_eq!(human_size(64 * 1024), "64 KiB");
        assert_eq!(human_size(1000), "1000 bytes");
        assert_eq!(human_size(0), "0 bytes");
    }

    #[test]
    fn bom_dropped() {
        assert_eq!(lossy(b"\xef\xbb\xbfa\xffb"), "a\u{fffd}b");
    }
}
