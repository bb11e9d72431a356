//! Request heads as real clients send them, before hyper reads them.
//!
//! Real ILMT clients build URLs by string concatenation: datactl sends
//! `criteria={'and':[['bundle_id','>','0']]}` with raw `<`, `>`, `'` and
//! sometimes `"` on the request line. httparse accepts every visible byte
//! in a request target, but the `http` crate's URI parser (which hyper
//! calls next) refuses `"`, `<`, `>` in a query and `<`, `>`, `` ` `` in a
//! path, and hyper then answers a bare `400` with no body; neither crate
//! has an option to relax this (httparse's `ParserConfig` only relaxes
//! spaces and header syntax; `http::Uri` has no lenient mode).
//!
//! [`LenientHeads`] wraps each accepted connection (after TLS) and, for
//! every request head on it, percent-encodes the bytes of the request
//! target the URI parser would refuse ([`encode_target`]). Only the first
//! line of each head changes: the wrapper follows HTTP/1.1 framing exactly
//! as hyper does (`Content-Length`, `chunked` with trailers) to know where
//! the next head starts, so keep-alive and pipelining work, and it passes
//! bodies through untouched. A head it cannot frame or that hyper would
//! refuse is replaced by a synthetic request for
//! `GET /_openlmt/refused/{reason}` with `Connection: close`, which the
//! router answers with the JSON error and status of that reason
//! ([`Refusal`]); so hyper's bare refusals (400, 414, 431) become JSON.
//! HTTP/2 (prior knowledge) is passed through unchanged; over TLS only
//! `http/1.1` is offered by ALPN, so clients speak HTTP/1.1.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest request head (request line and headers) read, in bytes.
pub const MAX_HEAD: usize = 96 * 1024;
/// Most header fields in one head (hyper's own limit).
pub const MAX_HEADERS: usize = 100;
/// Longest request target once encoded (the `http` crate's limit).
pub const MAX_TARGET: usize = u16::MAX as usize - 1;
/// Longest method accepted (the longest standard one has 7 letters).
const MAX_METHOD: usize = 32;
/// The path prefix of the synthetic request that answers a refused head.
pub const REFUSED_PATH: &str = "/_openlmt/refused/";

const H2_PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0";
const READ_CHUNK: usize = 16 * 1024;
/// Longest chunk-size line (with extensions) or trailer line followed.
const MAX_CHUNK_LINE: usize = 8 * 1024;

/// Why a request head was refused before reaching the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    RequestLine,
    Target,
    Header,
    ContentLength,
    TransferEncoding,
    TargetTooLong,
    TooManyHeaders,
    HeadTooLarge,
}

impl Refusal {
    pub const ALL: [Refusal; 8] = [
        Refusal::RequestLine,
        Refusal::Target,
        Refusal::Header,
        Refusal::ContentLength,
        Refusal::TransferEncoding,
        Refusal::TargetTooLong,
        Refusal::TooManyHeaders,
        Refusal::HeadTooLarge,
    ];

    /// The last segment of its synthetic path.
    pub fn slug(self) -> &'static str {
        match self {
            Refusal::RequestLine => "request-line",
            Refusal::Target => "target",
            Refusal::Header => "header",
            Refusal::ContentLength => "content-length",
            Refusal::TransferEncoding => "transfer-encoding",
            Refusal::TargetTooLong => "target-too-long",
            Refusal::TooManyHeaders => "too-many-headers",
            Refusal::HeadTooLarge => "head-too-large",
        }
    }

    pub fn from_slug(s: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.slug() == s)
    }

    pub fn status(self) -> u16 {
        match self {
            Refusal::TargetTooLong => 414,
            Refusal::TooManyHeaders | Refusal::HeadTooLarge => 431,
            _ => 400,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::RequestLine => {
                "malformed request line: expected `METHOD /target HTTP/1.1` (or HTTP/1.0)"
            }
            Refusal::Target => {
                "malformed request target: it must start with `/` (or be an absolute URL)"
            }
            Refusal::Header => "malformed header field in the request head",
            Refusal::ContentLength => "invalid Content-Length header",
            Refusal::TransferEncoding => {
                "unsupported Transfer-Encoding: only `chunked` (last), and only with HTTP/1.1"
            }
            Refusal::TargetTooLong => {
                "request target longer than 65,534 bytes once percent-encoded"
            }
            Refusal::TooManyHeaders => "more than 100 header fields in the request head",
            Refusal::HeadTooLarge => "request head (request line and headers) larger than 96 KiB",
        }
    }

    fn synthetic_request(self) -> Vec<u8> {
        format!(
            "GET {REFUSED_PATH}{} HTTP/1.1\r\nhost: openlmt\r\nconnection: close\r\n\r\n",
            self.slug()
        )
        .into_bytes()
    }
}

/// Percent-encodes the bytes of a request target that the `http` crate
/// refuses, leaving every other byte (and existing `%XX`) as it is: in the
/// query `"`, `#`, `<`, `>`, controls, space, DEL and non-ASCII; in the path
/// `<`, `>`, `` ` ``, controls, space and DEL (non-ASCII in a path is left
/// for the URI parser, which accepts UTF-8). `#` in a path still starts a
/// fragment, as a target never holds one. Decoding gives back the bytes the
/// client sent, so a raw and a percent-encoded request mean the same.
pub fn encode_target(target: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(target.len() + 16);
    let mut in_query = false;
    for &b in target {
        let encode = if in_query {
            matches!(b, 0..=0x20 | b'"' | b'#' | b'<' | b'>' | 0x7F..=0xFF)
        } else {
            if b == b'?' {
                in_query = true;
            }
            matches!(b, 0..=0x20 | b'<' | b'>' | b'`' | 0x7F)
        };
        if encode {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            out.push(b);
        }
    }
    out
}

/// What follows the head being read.
#[derive(Debug)]
enum State {
    /// Reading a request head (or the bytes before one).
    Head,
    /// A body of this many bytes left.
    Length(u64),
    /// A chunked body.
    Chunked(Chunked),
    /// No more rewriting on this connection (HTTP/2, an upgrade, a head at
    /// end of stream): bytes pass unchanged.
    Passthrough,
    /// A refused head was replaced by its synthetic request: nothing more is
    /// handed to hyper, which answers it and closes the connection.
    Closed,
}

/// A connection's bytes as hyper reads them, request heads made acceptable.
pub struct LenientHeads<S> {
    inner: S,
    /// Bytes read from the connection, not yet handed on.
    raw: Vec<u8>,
    /// Bytes ready for hyper, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    state: State,
    /// In `Head`: how far `raw` was already searched for the head's end.
    scanned: usize,
    eof: bool,
}

impl<S> LenientHeads<S> {
    pub fn new(inner: S) -> Self {
        LenientHeads {
            inner,
            raw: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            state: State::Head,
            scanned: 0,
            eof: false,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    fn refuse(&mut self, why: Refusal) {
        tracing::debug!(reason = why.slug(), "request head refused");
        self.out.extend_from_slice(&why.synthetic_request());
        self.raw.clear();
        self.state = State::Closed;
    }

    /// Moves the first `n` raw bytes to the output.
    fn pass(&mut self, n: usize) {
        self.out.extend_from_slice(&self.raw[..n]);
        self.raw.drain(..n);
    }

    /// Handles `raw` in state `Head`: `true` when something changed.
    fn step_head(&mut self) -> bool {
        // Empty lines before a request line are passed (httparse skips them).
        let blanks = self
            .raw
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        if blanks > 0 {
            self.pass(blanks);
            self.scanned = 0;
            return true;
        }
        if self.raw.is_empty() {
            return false;
        }
        // Refuse at once what cannot become a request line (e.g. a TLS
        // handshake on the plain port), instead of waiting for a head end.
        // (A method is short: bounding it keeps this check cheap however the
        // head trickles in.)
        let method_len = self
            .raw
            .iter()
            .take(MAX_METHOD + 1)
            .take_while(|&&b| is_token(b))
            .count();
        if method_len > MAX_METHOD
            || (method_len < self.raw.len() && (method_len == 0 || self.raw[method_len] != b' '))
        {
            self.refuse(Refusal::RequestLine);
            return true;
        }
        match find_head_end(&self.raw, self.scanned) {
            Some(end) if end > MAX_HEAD => {
                self.refuse(Refusal::HeadTooLarge);
                true
            }
            Some(end) => {
                let head: Vec<u8> = self.raw.drain(..end).collect();
                self.scanned = 0;
                self.process_head(&head);
                true
            }
            None => {
                self.scanned = self.raw.len().saturating_sub(3);
                if self.raw.len() > MAX_HEAD {
                    let why = if self.raw.contains(&b'\n') {
                        Refusal::HeadTooLarge
                    } else {
                        Refusal::TargetTooLong
                    };
                    self.refuse(why);
                    return true;
                }
                false
            }
        }
    }

    fn process_head(&mut self, head: &[u8]) {
        let nl = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
        let line = head[..nl].strip_suffix(b"\r").unwrap_or(&head[..nl]);
        let rest = &head[(nl + 1).min(head.len())..];
        if line == H2_PREFACE_LINE {
            self.out.extend_from_slice(head);
            self.state = State::Passthrough;
            return;
        }
        match rewrite_head(line, rest) {
            Ok((new_head, next)) => {
                self.out.extend_from_slice(&new_head);
                self.state = next;
            }
            Err(why) => self.refuse(why),
        }
    }

    /// Handles `raw` in a body state: `true` when something changed.
    fn step_body(&mut self) -> bool {
        if self.raw.is_empty() {
            return false;
        }
        match &mut self.state {
            State::Length(n) => {
                let k = usize::try_from(*n)
                    .unwrap_or(usize::MAX)
                    .min(self.raw.len());
                *n -= k as u64;
                if *n == 0 {
                    self.state = State::Head;
                }
                self.pass(k);
            }
            State::Chunked(c) => match c.advance(&self.raw) {
                Ok((k, done)) => {
                    if done {
                        self.state = State::Head;
                    }
                    self.pass(k);
                }
                Err(()) => {
                    // Malformed chunked framing: hyper will refuse the body;
                    // stop interpreting this connection.
                    self.state = State::Passthrough;
                }
            },
            State::Passthrough => {
                let n = self.raw.len();
                self.pass(n);
            }
            State::Head | State::Closed => return false,
        }
        true
    }
}

impl<S: AsyncRead + Unpin> LenientHeads<S> {
    /// Reads more of the connection into `raw`.
    fn fill_raw(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let start = self.raw.len();
        self.raw.resize(start + READ_CHUNK, 0);
        let mut rb = ReadBuf::new(&mut self.raw[start..]);
        let res = Pin::new(&mut self.inner).poll_read(cx, &mut rb);
        let n = rb.filled().len();
        self.raw.truncate(start + n);
        match res {
            Poll::Ready(Ok(())) => {
                if n == 0 {
                    self.eof = true;
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LenientHeads<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.out_pos < this.out.len() {
                let n = (this.out.len() - this.out_pos).min(buf.remaining());
                buf.put_slice(&this.out[this.out_pos..this.out_pos + n]);
                this.out_pos += n;
                if this.out_pos == this.out.len() {
                    this.out.clear();
                    this.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let progressed = match this.state {
                State::Closed => {
                    // Discard what the client still sends; hyper closes the
                    // connection once it has answered the synthetic request.
                    this.raw.clear();
                    if this.eof {
                        return Poll::Pending;
                    }
                    match this.fill_raw(cx) {
                        Poll::Ready(Ok(_)) => continue,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                State::Passthrough if this.raw.is_empty() => {
                    return Pin::new(&mut this.inner).poll_read(cx, buf);
                }
                State::Head => this.step_head(),
                _ => this.step_body(),
            };
            if progressed {
                continue;
            }
            if this.eof {
                // End of stream: a partial head or body goes to hyper as it
                // is (it reports the truncated message); then end of stream.
                if this.raw.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                let n = this.raw.len();
                this.pass(n);
                this.state = State::Passthrough;
                continue;
            }
            match this.fill_raw(cx) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LenientHeads<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The end of a head (just after its empty line) in `raw`, searching from
/// `from`: a line feed followed by an optional carriage return and a line
/// feed.
fn find_head_end(raw: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < raw.len() {
        if raw[i] == b'\n' {
            match raw.get(i + 1) {
                Some(b'\n') => return Some(i + 2),
                Some(b'\r') if raw.get(i + 2) == Some(&b'\n') => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// The head with its request target encoded, and what follows it; or why
/// hyper would refuse it.
fn rewrite_head(line: &[u8], rest: &[u8]) -> Result<(Vec<u8>, State), Refusal> {
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(Refusal::RequestLine)?;
    let method = &line[..sp];
    let after = &line[sp + 1..];
    let last = after
        .iter()
        .rposition(|&b| b == b' ')
        .ok_or(Refusal::RequestLine)?;
    let version = &after[last + 1..];
    if version != b"HTTP/1.1" && version != b"HTTP/1.0" {
        return Err(Refusal::RequestLine);
    }
    let target = after[..last].trim_ascii();
    if target.is_empty() {
        return Err(Refusal::RequestLine);
    }
    let target = encode_target(target);
    if target.len() > MAX_TARGET {
        return Err(Refusal::TargetTooLong);
    }
    let mut head = Vec::with_capacity(line.len() + rest.len() + 32);
    head.extend_from_slice(method);
    head.push(b' ');
    head.extend_from_slice(&target);
    head.push(b' ');
    head.extend_from_slice(version);
    head.extend_from_slice(b"\r\n");
    head.extend_from_slice(rest);

    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(Refusal::Header),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::TooManyHeaders),
        Err(httparse::Error::Token) if req.method.is_none() => return Err(Refusal::RequestLine),
        // hyper's reading: a bad token after the method is the target's.
        Err(httparse::Error::Token) if req.path.is_none() => return Err(Refusal::Target),
        Err(_) if req.version.is_none() => return Err(Refusal::RequestLine),
        Err(_) => return Err(Refusal::Header),
    }
    if axum::http::Method::from_bytes(method).is_err() {
        return Err(Refusal::RequestLine);
    }
    if axum::http::Uri::try_from(target.as_slice()).is_err() {
        return Err(Refusal::Target);
    }
    let http11 = req.version == Some(1);
    let next = framing(req.headers, http11, method == b"CONNECT")?;
    Ok((head, next))
}

/// How the body after a head is framed, by hyper's rules (`proto::h1::role`):
/// `Transfer-Encoding` (HTTP/1.1 only, `chunked` last) wins over
/// `Content-Length`; several `Content-Length` must agree; no framing header
/// means no body. An upgrade or `CONNECT` ends the rewriting.
fn framing(
    headers: &[httparse::Header<'_>],
    http11: bool,
    connect: bool,
) -> Result<State, Refusal> {
    let mut te: Option<bool> = None;
    let mut len: Option<u64> = None;
    let mut upgrade = connect;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !http11 {
                return Err(Refusal::TransferEncoding);
            }
            let chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            te = Some(chunked);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if te.is_some() {
                continue;
            }
            let v = content_length(h.value).ok_or(Refusal::ContentLength)?;
            if len.is_some_and(|l| l != v) {
                return Err(Refusal::ContentLength);
            }
            len = Some(v);
        } else if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade |= http11;
        }
    }
    let body = match te {
        Some(false) => return Err(Refusal::TransferEncoding),
        Some(true) => State::Chunked(Chunked::default()),
        None => match len {
            Some(n) if n > 0 => State::Length(n),
            _ => State::Head,
        },
    };
    Ok(if upgrade { State::Passthrough } else { body })
}

/// A `Content-Length` value: digits, or a comma-separated list of equal
/// ones (as hyper accepts).
fn content_length(v: &[u8]) -> Option<u64> {
    let mut out: Option<u64> = None;
    for part in v.split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n: u64 = std::str::from_utf8(part).ok()?.parse().ok()?;
        if n > u64::MAX - 2 || out.is_some_and(|o| o != n) {
            return None;
        }
        out = Some(n);
    }
    out
}

/// Where a chunked body is.
#[derive(Debug, Default)]
struct Chunked {
    phase: Phase,
    /// Bytes of the current size or trailer line seen.
    line: usize,
    size: u64,
    digits: usize,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Phase {
    /// The chunk-size digits.
    #[default]
    Size,
    /// A chunk extension, up to the line feed.
    Ext,
    /// Data bytes left (`size`).
    Data,
    /// The line end after the data.
    DataEnd,
    /// The start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer line.
    Trailer,
}

impl Chunked {
    /// Follows `bytes`: how many belong to this body, and whether it ended
    /// there. `Err` on framing hyper would refuse.
    fn advance(&mut self, bytes: &[u8]) -> Result<(usize, bool), ()> {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.phase {
                Phase::Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        self.digits += 1;
                        if self.digits > 16 {
                            return Err(());
                        }
                        let d = (b as char).to_digit(16).ok_or(())?;
                        self.size = self.size * 16 + u64::from(d);
                    }
                    b'\n' if self.digits > 0 => self.end_size_line(),
                    b'\r' | b';' | b' ' | b'\t' if self.digits > 0 => self.phase = Phase::Ext,
                    _ => return Err(()),
                },
                Phase::Ext => {
                    if b == b'\n' {
                        self.end_size_line();
                    } else {
                        self.line += 1;
                        if self.line > MAX_CHUNK_LINE {
                            return Err(());
                        }
                    }
                }
                Phase::Data => {
                    let k = usize::try_from(self.size)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    self.size -= k as u64;
                    i += k;
                    if self.size == 0 {
                        self.phase = Phase::DataEnd;
                    }
                    continue;
                }
                Phase::DataEnd => match b {
                    b'\r' => {}
                    b'\n' => self.phase = Phase::Size,
                    _ => return Err(()),
                },
                Phase::TrailerStart => match b {
                    b'\r' => {}
                    b'\n' => return Ok((i + 1, true)),
                    _ => {
                        self.line = 1;
                        self.phase = Phase::Trailer;
                    }
                },
                Phase::Trailer => {
                    if b == b'\n' {
                        self.phase = Phase::TrailerStart;
                    } else {
                        self.line += 1;
                        if self.line > MAX_CHUNK_LINE {
                            return Err(());
                        }
                    }
                }
            }
            i += 1;
        }
        Ok((i, false))
    }

    fn end_size_line(&mut self) {
        self.line = 0;
        self.digits = 0;
        self.phase = if self.size == 0 {
            Phase::TrailerStart
        } else {
            Phase::Data
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Everything hyper would read from `input`, fed in pieces of `step`.
    fn through(input: &[u8], step: usize) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut client, server) = tokio::io::duplex(1 << 20);
            let input = input.to_vec();
            let writer = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                for piece in input.chunks(step) {
                    client.write_all(piece).await.unwrap();
                    tokio::task::yield_now().await;
                }
                client.shutdown().await.unwrap();
                client
            });
            let mut heads = LenientHeads::new(server);
            let mut out = Vec::new();
            let mut buf = [0u8; 7];
            loop {
                let n = tokio::time::timeout(
                    std::time::Duration::from_millis(200),
                    heads.read(&mut buf),
                )
                .await;
                match n {
                    Ok(Ok(0)) | Err(_) => break,
                    Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                    Ok(Err(e)) => panic!("{e}"),
                }
            }
            drop(writer.await);
            out
        })
    }

    /// Bytes shown as text, at most 200 characters (assertion messages).
    fn text(b: &[u8]) -> String {
        String::from_utf8_lossy(b).chars().take(200).collect()
    }

    fn all_steps(input: &[u8]) -> Vec<u8> {
        let whole = through(input, input.len().max(1));
        for step in [1, 2, 5, 13] {
            assert_eq!(through(input, step), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn raw_query_bytes_are_encoded_and_everything_else_kept() {
        assert_eq!(
            encode_target(b"/a<b>?c={'and':[['x','<=','\"z\"']]}#|^`{}"),
            b"/a%3Cb%3E?c={'and':[['x','%3C=','%22z%22']]}%23|^`{}".to_vec()
        );
        assert_eq!(encode_target(b"/p%20?q=%41"), b"/p%20?q=%41".to_vec());
        assert_eq!(encode_target("/?n=é".as_bytes()), b"/?n=%C3%A9".to_vec());
        assert_eq!(encode_target(b"/`x?a b"), b"/%60x?a%20b".to_vec());
    }

    #[test]
    fn only_request_lines_change_and_bodies_pass_untouched() {
        let input = b"GET /x?c=<\"> HTTP/1.1\r\nHost: h\r\n\r\n\
POST /y?c=> HTTP/1.1\r\nContent-Length: 23\r\n\r\nGET /z?c=< HTTP/1.1\r\n\r\n\
PUT /w?c=< HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;e=<\r\nGET /\r\n0\r\nT: <\r\n\r\n\
GET /v?a b<c HTTP/1.0\r\n\r\n";
        let out = all_steps(input);
        let expect = b"GET /x?c=%3C%22%3E HTTP/1.1\r\nHost: h\r\n\r\n\
POST /y?c=%3E HTTP/1.1\r\nContent-Length: 23\r\n\r\nGET /z?c=< HTTP/1.1\r\n\r\n\
PUT /w?c=%3C HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;e=<\r\nGET /\r\n0\r\nT: <\r\n\r\n\
GET /v?a%20b%3Cc HTTP/1.0\r\n\r\n";
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(expect)
        );
    }

    #[test]
    fn refused_heads_become_one_synthetic_request_and_the_rest_is_dropped() {
        let cases: &[(&[u8], Refusal)] = &[
            (b"\x16\x03\x01\x02\x00garbage", Refusal::RequestLine),
            (b"GET /x HTTP/9.9\r\n\r\n", Refusal::RequestLine),
            (&[b'G'; 40], Refusal::RequestLine),
            (b"GET /\xff HTTP/1.1\r\n\r\n", Refusal::Target),
            (b"GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", Refusal::Header),
            (
                b"GET /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                Refusal::ContentLength,
            ),
            (
                b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                Refusal::ContentLength,
            ),
            (
                b"GET /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                Refusal::TransferEncoding,
            ),
            (
                b"GET /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                Refusal::TransferEncoding,
            ),
        ];
        for (input, why) in cases {
            let mut input = input.to_vec();
            input.extend_from_slice(b"GET /after HTTP/1.1\r\n\r\n");
            assert_eq!(
                text(&through(&input, input.len())),
                text(&why.synthetic_request()),
                "{}",
                String::from_utf8_lossy(&input)
            );
        }
        let many: String = (0..101).map(|i| format!("h{i}: v\r\n")).collect();
        let input = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            text(&through(input.as_bytes(), 4096)),
            text(&Refusal::TooManyHeaders.synthetic_request())
        );
        let long = format!("GET /?{} HTTP/1.1\r\n\r\n", "<".repeat(30_000));
        assert_eq!(
            text(&through(long.as_bytes(), 4096)),
            text(&Refusal::TargetTooLong.synthetic_request())
        );
        let huge = format!("GET /?{}", "a".repeat(MAX_HEAD + 1));
        assert_eq!(
            text(&through(huge.as_bytes(), 4096)),
            text(&Refusal::TargetTooLong.synthetic_request())
        );
        let big = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(
            text(&through(big.as_bytes(), 4096)),
            text(&Refusal::HeadTooLarge.synthetic_request())
        );
    }

    #[test]
    fn http2_and_upgrades_pass_through() {
        let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04<>\"";
        assert_eq!(all_steps(h2), h2.to_vec());
        let up = b"GET /ws?<> HTTP/1.1\r\nUpgrade: x\r\n\r\nGET /?<> HTTP/1.1\r\n\r\n";
        assert_eq!(
            all_steps(up),
            b"GET /ws?%3C%3E HTTP/1.1\r\nUpgrade: x\r\n\r\nGET /?<> HTTP/1.1\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn a_truncated_head_or_body_reaches_hyper_as_sent() {
        assert_eq!(all_steps(b"GET /?<"), b"GET /?<".to_vec());
        assert_eq!(
            all_steps(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab"),
            b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab".to_vec()
        );
    }
}
