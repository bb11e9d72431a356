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

/// The lines of `text`, exactly as [`str::lines`] gives them (split at `\n`, a
/// `\r` right before the `\n` removed, no empty line after a final `\n`), found
/// with the SIMD `memchr` rather than the standard library's per-line search:
/// a 660 KiB `dpkg-status` has ~20,000 short lines.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', text.as_bytes());
    std::iter::from_fn(move || match ends.next() {
        Some(end) => {
            // `\n` is ASCII, so both ends are character boundaries.
            let line = &text[start..end];
            start = end + 1;
            Some(line.strip_suffix('\r').unwrap_or(line))
        }
        None if start < text.len() => {
            let line = &text[start..];
            start = text.len();
            Some(line)
        }
        None => None,
    })
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
    fn lines_match_std() {
        for t in [
            "",
            "a",
            "a\n",
            "a\r\nb",
            "\n\n",
            "a\n\nb\r\n",
            "\r",
            "x\r\r\n",
            "é\nü",
        ] {
            assert_eq!(
                lines(t).collect::<Vec<_>>(),
                t.lines().collect::<Vec<_>>(),
                "{t:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn lines_agree_with_std(t in "[a:\r\n \t\u{e9}]{0,60}") {
            proptest::prop_assert_eq!(lines(&t).collect::<Vec<_>>(), t.lines().collect::<Vec<_>>());
        }
    }

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
