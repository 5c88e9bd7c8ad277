//! An HTTP proxy: `CONNECT` tunnels and absolute-form forward proxying,
//! both to loopback targets only (127.0.0.0/8, ::1, localhost; others get 403).
//!
//! With [`ProxyConfig::auth`] set, every request must carry
//! `Proxy-Authorization: Basic base64(user:pass)`, else 407 with
//! `Proxy-Authenticate: Basic realm="httptrace"`. The proxy strips
//! `Proxy-Authorization` before forwarding.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::http1::wait_until;
use crate::util::{self, lock, BufConn, Framing, Tasks};

const LINGER: Duration = Duration::from_secs(2);

/// Proxy configuration.
#[derive(Debug, Clone, Default)]
pub struct ProxyConfig {
    /// Require `Proxy-Authorization: Basic` with this user and password.
    pub auth: Option<(String, String)>,
    /// Answer every `CONNECT` with this status (and close) instead of tunnelling.
    pub connect_status: Option<u16>,
    /// Wait this long before answering a `CONNECT`.
    pub connect_delay: Duration,
}

/// A request as seen by the proxy.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// The request line, e.g. `CONNECT 127.0.0.1:8443 HTTP/1.1`.
    pub line: String,
    /// Method.
    pub method: String,
    /// Request target as sent.
    pub target: String,
    /// Headers as received (including any `Proxy-Authorization`).
    pub headers: HeaderMap,
    /// Index of the client connection that carried it.
    pub connection: usize,
}

struct ProxyState {
    config: ProxyConfig,
    connections: AtomicUsize,
    tunnels: AtomicUsize,
    requests: Mutex<Vec<ProxyRequest>>,
    changed: watch::Sender<u64>,
}

impl ProxyState {
    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Namespace for starting an HTTP proxy.
#[derive(Debug)]
pub struct Proxy;

impl Proxy {
    /// Listens on 127.0.0.1:0.
    pub async fn start(config: ProxyConfig) -> io::Result<ProxyHandle> {
        let (listener, _) = util::bind_loopback(false).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ProxyState {
            config,
            connections: AtomicUsize::new(0),
            tunnels: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
        });
        let tasks = Tasks::default();
        let st = state.clone();
        tasks.push(util::spawn_accept_loop(listener, move |stream, _| {
            let id = st.connections.fetch_add(1, Ordering::SeqCst);
            st.bump();
            let st = st.clone();
            async move { serve(stream, id, st).await }
        }));
        Ok(ProxyHandle { addr, state, tasks })
    }
}

/// A running proxy; dropping it stops the proxy and its tunnels.
pub struct ProxyHandle {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    tasks: Tasks,
}

impl std::fmt::Debug for ProxyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ProxyHandle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (a proxy URL for clients).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://user:pass@127.0.0.1:PORT` (no percent-encoding is applied).
    pub fn url_with_auth(&self, user: &str, pass: &str) -> String {
        format!("http://{}:{}@{}", user, pass, self.addr)
    }

    /// Request lines seen so far, in order (including rejected ones).
    pub fn requests_seen(&self) -> Vec<String> {
        lock(&self.state.requests)
            .iter()
            .map(|r| r.line.clone())
            .collect()
    }

    /// Requests seen so far, with their headers.
    pub fn requests(&self) -> Vec<ProxyRequest> {
        lock(&self.state.requests).clone()
    }

    /// Client connections accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// CONNECT tunnels established so far.
    pub fn tunnels_opened(&self) -> usize {
        self.state.tunnels.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests were seen; false on timeout.
    pub async fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_until(&self.state.changed, timeout, || {
            lock(&self.state.requests).len() >= n
        })
        .await
    }

    /// Stops accepting and closes every connection and tunnel.
    pub fn shutdown(&self) {
        self.tasks.abort_all();
    }
}

fn simple(status: u16, extra: &str, close: bool) -> Vec<u8> {
    format!(
        "HTTP/1.1 {} {}\r\n{}Content-Length: 0\r\n{}\r\n",
        status,
        util::reason(status),
        extra,
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes()
}

fn auth_ok(headers: &[httparse::Header<'_>], want: &(String, String)) -> bool {
    let expected = util::base64(format!("{}:{}", want.0, want.1).as_bytes());
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("proxy-authorization"))
        .any(|h| {
            let v = util::trim_ascii(h.value);
            match v.iter().position(|&b| b == b' ') {
                Some(p) => {
                    v[..p].eq_ignore_ascii_case(b"basic")
                        && util::trim_ascii(&v[p + 1..]) == expected.as_bytes()
                }
                None => false,
            }
        })
}

enum Next {
    KeepAlive,
    Close,
    Tunnel(TcpStream),
}

async fn serve(stream: TcpStream, id: usize, st: Arc<ProxyState>) {
    let mut conn = BufConn::new(stream);
    loop {
        let head = match conn.read_head().await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let _ = conn.write_all_flush(&simple(431, "", true)).await;
                    conn.lingering_close(LINGER).await;
                }
                return;
            }
        };
        match handle(&mut conn, &head, id, &st).await {
            Ok(Next::KeepAlive) => continue,
            Ok(Next::Close) => {
                conn.lingering_close(LINGER).await;
                return;
            }
            Ok(Next::Tunnel(mut upstream)) => {
                let pending = conn.take_buffered();
                if !pending.is_empty() && upstream.write_all(&pending).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut conn.io, &mut upstream).await;
                return;
            }
            Err(Some(status)) => {
                let _ = conn.write_all_flush(&simple(status, "", true)).await;
                conn.lingering_close(LINGER).await;
                return;
            }
            Err(None) => return,
        }
    }
}

async fn handle(
    conn: &mut BufConn<TcpStream>,
    head: &[u8],
    id: usize,
    st: &ProxyState,
) -> Result<Next, Option<u16>> {
    let mut hbuf = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut hbuf);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err(Some(431)),
        _ => return Err(Some(400)),
    }
    let method = req.method.ok_or(Some(400))?.to_string();
    let target = req.path.ok_or(Some(400))?.to_string();
    let http11 = req.version == Some(1);
    let mut headers = HeaderMap::new();
    for h in req.headers.iter() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            headers.append(n, v);
        }
    }
    let line = format!("{} {} HTTP/1.{}", method, target, req.version.unwrap_or(1));
    lock(&st.requests).push(ProxyRequest {
        line,
        method: method.clone(),
        target: target.clone(),
        headers,
        connection: id,
    });
    st.bump();

    let is_connect = method.eq_ignore_ascii_case("CONNECT");
    let framing = if is_connect {
        Framing::Empty
    } else {
        util::request_framing(req.headers).map_err(|_| Some(400))?
    };
    let client_close = !http11
        || util::has_token(req.headers, "connection", "close")
        || util::has_token(req.headers, "proxy-connection", "close");

    if let Some(want) = &st.config.auth {
        if !auth_ok(req.headers, want) {
            let extra = "Proxy-Authenticate: Basic realm=\"httptrace\"\r\n";
            if is_connect {
                conn.write_all_flush(&simple(407, extra, true))
                    .await
                    .map_err(|_| None)?;
                return Ok(Next::Close);
            }
            // Forward request: discard its body and keep the connection.
            util::read_body(conn, framing).await.map_err(|_| None)?;
            conn.write_all_flush(&simple(407, extra, client_close))
                .await
                .map_err(|_| None)?;
            return Ok(if client_close {
                Next::Close
            } else {
                Next::KeepAlive
            });
        }
    }

    if is_connect {
        if !st.config.connect_delay.is_zero() {
            tokio::time::sleep(st.config.connect_delay).await;
        }
        if let Some(status) = st.config.connect_status {
            return Err(Some(status));
        }
        let (host, port) = util::split_authority(&target, None).ok_or(Some(400))?;
        if !util::is_loopback_host(&host) {
            return Err(Some(403));
        }
        let upstream = util::connect_loopback(&host, port)
            .await
            .map_err(|_| Some(502))?;
        conn.write_all_flush(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .map_err(|_| None)?;
        st.tunnels.fetch_add(1, Ordering::SeqCst);
        st.bump();
        return Ok(Next::Tunnel(upstream));
    }

    // Forward proxying of absolute-form http:// requests.
    let rest = match target.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("http://") => &target[7..],
        _ => return Err(Some(400)),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = util::split_authority(authority, Some(80)).ok_or(Some(400))?;
    if !util::is_loopback_host(&host) {
        util::read_body(conn, framing).await.map_err(|_| None)?;
        return Err(Some(403));
    }
    let body = util::read_body(conn, framing).await.map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            Some(400)
        } else {
            None
        }
    })?;
    let mut out = format!("{} {} HTTP/1.1\r\n", method, path);
    let mut has_host = false;
    for h in req.headers.iter() {
        let n = h.name;
        const DROP: &[&str] = &[
            "proxy-authorization",
            "proxy-connection",
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "content-length",
        ];
        if DROP.iter().any(|d| n.eq_ignore_ascii_case(d)) {
            continue;
        }
        if n.eq_ignore_ascii_case("host") {
            has_host = true;
        }
        out.push_str(n);
        out.push_str(": ");
        out.push_str(&String::from_utf8_lossy(h.value));
        out.push_str("\r\n");
    }
    if !has_host {
        out.push_str(&format!("Host: {}\r\n", authority));
    }
    if framing != Framing::Empty || !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("Connection: close\r\n\r\n");
    let upstream = match util::connect_loopback(&host, port).await {
        Ok(s) => s,
        Err(_) => {
            return if client_close {
                Err(Some(502))
            } else {
                conn.write_all_flush(&simple(502, "", false))
                    .await
                    .map_err(|_| None)?;
                Ok(Next::KeepAlive)
            };
        }
    };
    let mut up = BufConn::new(upstream);
    let mut msg = out.into_bytes();
    msg.extend_from_slice(&body);
    up.write_all_flush(&msg).await.map_err(|_| Some(502))?;
    let head_request = method.eq_ignore_ascii_case("HEAD");
    let keep = relay_response(&mut up, conn, head_request, !client_close)
        .await
        .map_err(|_| None)?;
    Ok(if keep { Next::KeepAlive } else { Next::Close })
}

/// Relays the upstream response (1xx heads, final head, body) to the client,
/// preserving its framing. Returns whether the client connection may be kept.
async fn relay_response<U, C>(
    up: &mut BufConn<U>,
    client: &mut BufConn<C>,
    head_request: bool,
    mut keep: bool,
) -> io::Result<bool>
where
    U: AsyncRead + AsyncWrite + Unpin,
    C: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let head = up.read_head().await?.ok_or_else(util::unexpected_eof)?;
        let mut hbuf = [httparse::EMPTY_HEADER; 128];
        let mut resp = httparse::Response::new(&mut hbuf);
        if !matches!(resp.parse(&head), Ok(httparse::Status::Complete(_))) {
            return Err(util::invalid("bad upstream response"));
        }
        let code = resp.code.unwrap_or(502);
        if (100..200).contains(&code) && code != 101 {
            client.write_all_flush(&head).await?;
            continue;
        }
        let framing = if head_request || code == 204 || code == 304 {
            Framing::Empty
        } else if util::has_token(resp.headers, "transfer-encoding", "chunked") {
            Framing::Chunked
        } else {
            let cl = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| util::parse_decimal(util::trim_ascii(h.value)));
            match cl {
                Some(Some(n)) => Framing::Length(n),
                Some(None) => return Err(util::invalid("bad upstream Content-Length")),
                None => Framing::UntilEof,
            }
        };
        if framing == Framing::UntilEof {
            keep = false;
        }
        let mut out = String::new();
        out.push_str(&format!(
            "HTTP/1.1 {} {}\r\n",
            code,
            resp.reason.unwrap_or("")
        ));
        for h in resp.headers.iter() {
            if ["connection", "keep-alive", "proxy-connection"]
                .iter()
                .any(|d| h.name.eq_ignore_ascii_case(d))
            {
                continue;
            }
            out.push_str(h.name);
            out.push_str(": ");
            out.push_str(&String::from_utf8_lossy(h.value));
            out.push_str("\r\n");
        }
        if !keep {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        client.write_all_flush(out.as_bytes()).await?;
        match framing {
            Framing::Empty => {}
            Framing::Length(mut n) => {
                while n > 0 {
                    let piece = up.read_some(n.min(64 * 1024)).await?;
                    if piece.is_empty() {
                        return Err(util::unexpected_eof());
                    }
                    n -= piece.len();
                    client.write_all_flush(&piece).await?;
                }
            }
            Framing::Chunked => {
                while let Some(chunk) = up.read_chunk().await? {
                    let mut b = format!("{:x}\r\n", chunk.len()).into_bytes();
                    b.extend_from_slice(&chunk);
                    b.extend_from_slice(b"\r\n");
                    client.write_all_flush(&b).await?;
                }
                client.write_all_flush(b"0\r\n\r\n").await?;
            }
            Framing::UntilEof => loop {
                let piece: Bytes = up.read_some(64 * 1024).await?;
                if piece.is_empty() {
                    break;
                }
                client.write_all_flush(&piece).await?;
            },
        }
        return Ok(keep);
    }
}
