//! Internal plumbing shared by the peers: buffered reading with optional
//! recording, request-head parsing helpers, chunked decoding and accept loops.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};

/// Largest request/response head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Largest body any peer buffers.
pub(crate) const MAX_BODY: usize = 64 * 1024 * 1024;
/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

/// Callback invoked with every byte slice read from the socket.
pub(crate) type Recorder = Box<dyn FnMut(&[u8]) + Send>;

/// Locks a mutex, ignoring poisoning (a panicking test must not cascade).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

pub(crate) fn unexpected_eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection")
}

/// A stream with a read buffer.
pub(crate) struct BufConn<S> {
    pub(crate) io: S,
    pub(crate) buf: BytesMut,
    recorder: Option<Recorder>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> BufConn<S> {
    pub(crate) fn new(io: S) -> Self {
        BufConn {
            io,
            buf: BytesMut::with_capacity(8 * 1024),
            recorder: None,
        }
    }

    pub(crate) fn with_recorder(io: S, recorder: Recorder) -> Self {
        BufConn {
            io,
            buf: BytesMut::with_capacity(8 * 1024),
            recorder: Some(recorder),
        }
    }

    /// Reads more bytes into the buffer; returns how many (0 = EOF).
    pub(crate) async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        let n = self.io.read_buf(&mut self.buf).await?;
        if n > 0 {
            if let Some(rec) = self.recorder.as_mut() {
                let start = self.buf.len() - n;
                rec(&self.buf[start..]);
            }
        }
        Ok(n)
    }

    /// Reads until the buffer holds a full head ending in an empty line.
    /// Returns `None` on a clean EOF before any byte of the head.
    pub(crate) async fn read_head(&mut self) -> io::Result<Option<Bytes>> {
        let mut searched = 0usize;
        loop {
            if let Some(end) = find_head_end(&self.buf, searched) {
                return Ok(Some(self.buf.split_to(end).freeze()));
            }
            searched = self.buf.len().saturating_sub(3);
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("head too large"));
            }
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(unexpected_eof());
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub(crate) async fn read_exact_bytes(&mut self, n: usize) -> io::Result<Bytes> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(unexpected_eof());
            }
        }
        Ok(self.buf.split_to(n).freeze())
    }

    /// Reads up to `max` bytes that are available (reading more if the buffer is empty).
    /// Returns an empty `Bytes` on EOF.
    pub(crate) async fn read_some(&mut self, max: usize) -> io::Result<Bytes> {
        if self.buf.is_empty() && self.fill().await? == 0 {
            return Ok(Bytes::new());
        }
        let n = self.buf.len().min(max);
        Ok(self.buf.split_to(n).freeze())
    }

    /// Reads one line (terminated by LF, optional CR stripped), without the terminator.
    pub(crate) async fn read_line(&mut self) -> io::Result<Bytes> {
        let mut searched = 0usize;
        loop {
            if let Some(pos) = self.buf[searched..].iter().position(|&b| b == b'\n') {
                let mut line = self.buf.split_to(searched + pos + 1);
                line.truncate(line.len() - 1);
                if line.last() == Some(&b'\r') {
                    line.truncate(line.len() - 1);
                }
                return Ok(line.freeze());
            }
            searched = self.buf.len();
            if searched > MAX_LINE {
                return Err(invalid("line too long"));
            }
            if self.fill().await? == 0 {
                return Err(unexpected_eof());
            }
        }
    }

    /// Reads the next chunk of a chunked body. Returns `None` after the last
    /// chunk and the trailer section have been consumed.
    pub(crate) async fn read_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let line = self.read_line().await?;
        let size = parse_chunk_size(&line)?;
        if size == 0 {
            // Trailer section: lines until an empty one.
            let mut total = 0usize;
            loop {
                let l = self.read_line().await?;
                if l.is_empty() {
                    return Ok(None);
                }
                total += l.len();
                if total > MAX_HEAD {
                    return Err(invalid("trailers too large"));
                }
            }
        }
        if size > MAX_BODY {
            return Err(invalid("chunk too large"));
        }
        let data = self.read_exact_bytes(size).await?;
        let crlf = self.read_line().await?;
        if !crlf.is_empty() {
            return Err(invalid("missing CRLF after chunk data"));
        }
        Ok(Some(data))
    }

    /// Reads a whole chunked body, de-chunked.
    pub(crate) async fn read_chunked_body(&mut self) -> io::Result<Bytes> {
        let mut body = BytesMut::new();
        while let Some(chunk) = self.read_chunk().await? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(invalid("body too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// Reads and discards until EOF (or error).
    pub(crate) async fn drain_to_eof(&mut self) {
        loop {
            self.buf.clear();
            match self.fill().await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Writes everything and flushes.
    pub(crate) async fn write_all_flush(&mut self, data: &[u8]) -> io::Result<()> {
        self.io.write_all(data).await?;
        self.io.flush().await
    }

    /// Half-closes the write side, then reads and discards for at most
    /// `linger` so that unread client bytes do not turn the close into a reset.
    pub(crate) async fn lingering_close(&mut self, linger: Duration) {
        let _ = self.io.flush().await;
        let _ = self.io.shutdown().await;
        let _ = tokio::time::timeout(linger, self.drain_to_eof()).await;
    }

    /// Takes whatever is buffered (for relaying after a protocol switch).
    pub(crate) fn take_buffered(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

/// Finds the end of a head (index just past the empty line), accepting
/// CRLFCRLF as well as bare LFLF.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

fn parse_chunk_size(line: &[u8]) -> io::Result<usize> {
    let hex = match line.iter().position(|&b| b == b';') {
        Some(p) => &line[..p],
        None => line,
    };
    let hex = trim_ascii(hex);
    if hex.is_empty() || hex.len() > 15 {
        return Err(invalid("bad chunk size"));
    }
    let mut n: usize = 0;
    for &b in hex {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(invalid("bad chunk size")),
        };
        n = n
            .checked_mul(16)
            .and_then(|n| n.checked_add(d as usize))
            .ok_or_else(|| invalid("chunk size overflow"))?;
    }
    Ok(n)
}

pub(crate) fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// How a message body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Read until EOF (responses only).
    UntilEof,
}

/// Determines request body framing from parsed headers.
/// Errors mean the request is malformed (400).
pub(crate) fn request_framing(headers: &[httparse::Header<'_>]) -> Result<Framing, &'static str> {
    let mut te: Option<Vec<u8>> = None;
    let mut cl: Option<usize> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = te.get_or_insert_with(Vec::new);
            if !v.is_empty() {
                v.push(b',');
            }
            v.extend_from_slice(h.value);
        } else if h.name.eq_ignore_ascii_case("content-length") {
            for part in h.value.split(|&b| b == b',') {
                let n = parse_decimal(trim_ascii(part)).ok_or("bad Content-Length")?;
                match cl {
                    Some(prev) if prev != n => return Err("conflicting Content-Length"),
                    _ => cl = Some(n),
                }
            }
        }
    }
    if let Some(te) = te {
        let last = te
            .split(|&b| b == b',')
            .map(trim_ascii)
            .rfind(|s| !s.is_empty())
            .unwrap_or(b"");
        if last.eq_ignore_ascii_case(b"chunked") {
            return Ok(Framing::Chunked);
        }
        if last.eq_ignore_ascii_case(b"identity") || last.is_empty() {
            // Treat as absent.
        } else {
            return Err("unsupported Transfer-Encoding");
        }
    }
    match cl {
        Some(0) | None => Ok(Framing::Empty),
        Some(n) if n > MAX_BODY => Err("body too large"),
        Some(n) => Ok(Framing::Length(n)),
    }
}

pub(crate) fn parse_decimal(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 18 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Reads a request body with the given framing.
pub(crate) async fn read_body<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufConn<S>,
    framing: Framing,
) -> io::Result<Bytes> {
    match framing {
        Framing::Empty => Ok(Bytes::new()),
        Framing::Length(n) => conn.read_exact_bytes(n).await,
        Framing::Chunked => conn.read_chunked_body().await,
        Framing::UntilEof => {
            let mut body = BytesMut::new();
            loop {
                let b = conn.read_some(64 * 1024).await?;
                if b.is_empty() {
                    return Ok(body.freeze());
                }
                if body.len() + b.len() > MAX_BODY {
                    return Err(invalid("body too large"));
                }
                body.extend_from_slice(&b);
            }
        }
    }
}

/// Returns true if some header named `name` has a comma-separated token
/// equal (case-insensitively) to `token`.
pub(crate) fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|t| trim_ascii(t).eq_ignore_ascii_case(token.as_bytes()))
}

/// Aborts the tasks it holds when dropped.
#[derive(Debug, Default)]
pub(crate) struct Tasks(Mutex<Vec<AbortHandle>>);

impl Tasks {
    pub(crate) fn push(&self, h: AbortHandle) {
        lock(&self.0).push(h);
    }
    pub(crate) fn abort_all(&self) {
        for h in lock(&self.0).drain(..) {
            h.abort();
        }
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.abort_all();
    }
}

/// Spawns an accept loop; each connection's future runs in a `JoinSet`
/// owned by the loop, so aborting the loop aborts every connection.
pub(crate) fn spawn_accept_loop<F, Fut>(listener: TcpListener, mut on_conn: F) -> AbortHandle
where
    F: FnMut(TcpStream, SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut set: JoinSet<()> = JoinSet::new();
        loop {
            tokio::select! {
                res = listener.accept() => match res {
                    Ok((stream, addr)) => {
                        let _ = stream.set_nodelay(true);
                        set.spawn(on_conn(stream, addr));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                Some(_) = set.join_next(), if !set.is_empty() => {}
            }
        }
    })
    .abort_handle()
}

/// Binds 127.0.0.1:0 and, if `dual`, `[::1]` on the same port (best effort,
/// retrying a few ports). Returns the v4 listener and the optional v6 one.
pub(crate) async fn bind_loopback(dual: bool) -> io::Result<(TcpListener, Option<TcpListener>)> {
    let v4 = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    if !dual {
        return Ok((v4, None));
    }
    let mut v4 = v4;
    for attempt in 0..16 {
        let port = v4.local_addr()?.port();
        if let Ok(v6) = TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, port)).await {
            return Ok((v4, Some(v6)));
        }
        if attempt == 15 {
            break;
        }
        v4 = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    }
    Ok((v4, None))
}

/// Is this host (a name or an IP literal, brackets allowed) a loopback target?
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match h.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

/// Connects to a loopback host:port (names resolved with the system resolver;
/// only loopback addresses are tried).
pub(crate) async fn connect_loopback(host: &str, port: u16) -> io::Result<TcpStream> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost")
    {
        vec![
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)),
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        ]
    } else {
        Vec::new()
    };
    let mut last = io::Error::new(io::ErrorKind::PermissionDenied, "not a loopback target");
    for a in addrs {
        if !a.ip().is_loopback() {
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        }
    }
    Err(last)
}

/// Splits "host:port" / "[v6]:port" authority. Port defaults to `default_port`
/// when absent (only if `default_port` is `Some`).
pub(crate) fn split_authority(auth: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    if let Some(rest) = auth.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = if after.is_empty() {
            default_port?
        } else {
            after.strip_prefix(':')?.parse().ok()?
        };
        return Some((host.to_string(), port));
    }
    match auth.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h.to_string(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((auth.to_string(), default_port?)),
    }
}

/// Standard base64 (with padding).
pub(crate) fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for c in input.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The canonical reason phrase for a status code, or "".
pub(crate) fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn authority() {
        assert_eq!(
            split_authority("127.0.0.1:80", None),
            Some(("127.0.0.1".into(), 80))
        );
        assert_eq!(
            split_authority("[::1]:8080", None),
            Some(("::1".into(), 8080))
        );
        assert_eq!(
            split_authority("localhost", Some(80)),
            Some(("localhost".into(), 80))
        );
        assert_eq!(split_authority("localhost", None), None);
        assert_eq!(split_authority("::1", Some(80)), None);
    }

    #[test]
    fn chunk_size() {
        assert_eq!(parse_chunk_size(b"1a;ext=1").unwrap(), 26);
        assert!(parse_chunk_size(b"zz").is_err());
        assert!(parse_chunk_size(b"ffffffffffffffffffff").is_err());
    }

    #[test]
    fn loopback() {
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("127.0.0.2"));
        assert!(is_loopback_host("[::1]"));
        assert!(!is_loopback_host("example.com"));
        assert!(!is_loopback_host("10.0.0.1"));
    }
}
