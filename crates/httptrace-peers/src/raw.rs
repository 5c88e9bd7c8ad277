//! A scripted raw-TCP peer for exact-byte edge cases.
//!
//! Connection *i* (in accept order) runs `scripts[i]`; connections beyond
//! the list are closed at once. Every byte read is recorded per connection.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use httptrace_peers::raw::{Script, ScriptedPeer};
//! let peer = ScriptedPeer::start(vec![Script::new()
//!     .read_head()
//!     .write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")])
//! .await?;
//! let url = peer.url("/"); // http://127.0.0.1:PORT/
//! # drop(url); Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::http1::wait_until;
use crate::util::{self, lock, BufConn, Tasks};

/// One step of a [`Script`].
#[derive(Debug, Clone)]
pub enum Step {
    /// Read until the end of a request head (empty line); the head is recorded.
    ReadHead,
    /// Read a head, then its body as framed by Content-Length / chunked.
    ReadRequest,
    /// Read exactly n bytes.
    ReadBody(usize),
    /// Read a chunked body to its end (last chunk and trailers).
    ReadChunkedBody,
    /// Read until the client half-closes (EOF).
    ReadUntilEof,
    /// Write these bytes and flush.
    Write(Bytes),
    /// Pause.
    Sleep(Duration),
    /// Half-close the write side (FIN); reading stays possible.
    Shutdown,
    /// Close the connection (plain close; unread client data may make the
    /// kernel send RST).
    Close,
    /// Close with `SO_LINGER` 0 so the client sees ECONNRESET.
    Reset,
    /// Keep the connection open, reading and discarding, until the client
    /// closes or the peer is dropped.
    Hold,
}

/// A list of steps run on one connection. When the steps run out the
/// connection is closed (as [`Step::Close`]). A read step that hits EOF or an
/// error, or a failed write, ends the script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Script {
    /// An empty script (closes at once).
    pub fn new() -> Script {
        Script::default()
    }

    /// Appends any step.
    pub fn step(mut self, s: Step) -> Script {
        self.steps.push(s);
        self
    }

    /// Appends [`Step::ReadHead`].
    pub fn read_head(self) -> Script {
        self.step(Step::ReadHead)
    }

    /// Appends [`Step::ReadRequest`].
    pub fn read_request(self) -> Script {
        self.step(Step::ReadRequest)
    }

    /// Appends [`Step::ReadBody`].
    pub fn read_body(self, n: usize) -> Script {
        self.step(Step::ReadBody(n))
    }

    /// Appends [`Step::ReadChunkedBody`].
    pub fn read_chunked_body(self) -> Script {
        self.step(Step::ReadChunkedBody)
    }

    /// Appends [`Step::ReadUntilEof`].
    pub fn read_until_eof(self) -> Script {
        self.step(Step::ReadUntilEof)
    }

    /// Appends [`Step::Write`].
    pub fn write(self, data: impl Into<Bytes>) -> Script {
        self.step(Step::Write(data.into()))
    }

    /// Appends [`Step::Sleep`].
    pub fn sleep(self, d: Duration) -> Script {
        self.step(Step::Sleep(d))
    }

    /// Appends [`Step::Shutdown`].
    pub fn shutdown(self) -> Script {
        self.step(Step::Shutdown)
    }

    /// Appends [`Step::Close`].
    pub fn close(self) -> Script {
        self.step(Step::Close)
    }

    /// Appends [`Step::Reset`].
    pub fn reset(self) -> Script {
        self.step(Step::Reset)
    }

    /// Appends [`Step::Hold`].
    pub fn hold(self) -> Script {
        self.step(Step::Hold)
    }
}

#[derive(Debug, Default, Clone)]
struct ConnRecord {
    received: Vec<u8>,
    heads: Vec<String>,
    finished: bool,
    eof: bool,
}

struct PeerState {
    scripts: Vec<Script>,
    conns: Mutex<Vec<ConnRecord>>,
    changed: watch::Sender<u64>,
}

impl PeerState {
    fn update(&self, idx: usize, f: impl FnOnce(&mut ConnRecord)) {
        {
            let mut conns = lock(&self.conns);
            if let Some(c) = conns.get_mut(idx) {
                f(c);
            }
        }
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Namespace for starting scripted peers.
#[derive(Debug)]
pub struct ScriptedPeer;

impl ScriptedPeer {
    /// Listens on 127.0.0.1:0 and runs `scripts[i]` on connection i.
    pub async fn start(scripts: Vec<Script>) -> io::Result<PeerHandle> {
        Self::start_inner(scripts, false).await
    }

    /// Like [`ScriptedPeer::start`] but also listens on `[::1]` with the same
    /// port (best effort); connection indexes are shared across both.
    pub async fn start_dual_stack(scripts: Vec<Script>) -> io::Result<PeerHandle> {
        Self::start_inner(scripts, true).await
    }

    async fn start_inner(scripts: Vec<Script>, dual: bool) -> io::Result<PeerHandle> {
        let (v4, v6) = util::bind_loopback(dual).await?;
        let addr = v4.local_addr()?;
        let addr_v6 = match &v6 {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        let state = Arc::new(PeerState {
            scripts,
            conns: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
        });
        let tasks = Tasks::default();
        for listener in std::iter::once(v4).chain(v6) {
            let state = state.clone();
            tasks.push(util::spawn_accept_loop(listener, move |stream, _remote| {
                let idx = {
                    let mut conns = lock(&state.conns);
                    conns.push(ConnRecord::default());
                    conns.len() - 1
                };
                state.changed.send_modify(|v| *v = v.wrapping_add(1));
                let state = state.clone();
                async move {
                    let script = state.scripts.get(idx).cloned();
                    if let Some(script) = script {
                        run_script(stream, idx, &script, &state).await;
                    }
                    state.update(idx, |c| c.finished = true);
                }
            }));
        }
        Ok(PeerHandle {
            addr,
            addr_v6,
            state,
            tasks,
        })
    }
}

async fn run_script(stream: TcpStream, idx: usize, script: &Script, state: &Arc<PeerState>) {
    let rec_state = state.clone();
    let recorder = Box::new(move |data: &[u8]| {
        rec_state.update(idx, |c| c.received.extend_from_slice(data));
    });
    let mut conn = BufConn::with_recorder(stream, recorder);
    for step in &script.steps {
        let ok = match step {
            Step::ReadHead => read_head(&mut conn, idx, state).await.is_some(),
            Step::ReadRequest => match read_head(&mut conn, idx, state).await {
                Some(head) => read_request_body(&mut conn, &head).await,
                None => false,
            },
            Step::ReadBody(n) => conn.read_exact_bytes(*n).await.is_ok(),
            Step::ReadChunkedBody => conn.read_chunked_body().await.is_ok(),
            Step::ReadUntilEof => {
                let ok = loop {
                    conn.buf.clear();
                    match conn.fill().await {
                        Ok(0) => break true,
                        Ok(_) => {}
                        Err(_) => break false,
                    }
                };
                state.update(idx, |c| c.eof = true);
                ok
            }
            Step::Write(data) => conn.write_all_flush(data).await.is_ok(),
            Step::Sleep(d) => {
                tokio::time::sleep(*d).await;
                true
            }
            Step::Shutdown => conn.io.shutdown().await.is_ok(),
            Step::Close => return,
            Step::Reset => {
                #[allow(deprecated)]
                let _ = conn.io.set_linger(Some(Duration::ZERO));
                return;
            }
            Step::Hold => {
                conn.drain_to_eof().await;
                state.update(idx, |c| c.eof = true);
                false
            }
        };
        if !ok {
            return;
        }
    }
}

async fn read_head(conn: &mut BufConn<TcpStream>, idx: usize, state: &PeerState) -> Option<Bytes> {
    match conn.read_head().await {
        Ok(Some(head)) => {
            let text = String::from_utf8_lossy(&head).into_owned();
            state.update(idx, |c| c.heads.push(text));
            Some(head)
        }
        Ok(None) => {
            state.update(idx, |c| c.eof = true);
            None
        }
        Err(_) => None,
    }
}

async fn read_request_body(conn: &mut BufConn<TcpStream>, head: &[u8]) -> bool {
    let mut hbuf = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut hbuf);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return false;
    }
    match util::request_framing(req.headers) {
        Ok(framing) => util::read_body(conn, framing).await.is_ok(),
        Err(_) => false,
    }
}

/// A running scripted peer; dropping it closes everything.
pub struct PeerHandle {
    addr: SocketAddr,
    addr_v6: Option<SocketAddr>,
    state: Arc<PeerState>,
    tasks: Tasks,
}

impl std::fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerHandle")
            .field("addr", &self.addr)
            .field("addr_v6", &self.addr_v6)
            .finish_non_exhaustive()
    }
}

impl PeerHandle {
    /// The IPv4 listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The IPv6 listening address (dual-stack peers, if binding succeeded).
    pub fn addr_v6(&self) -> Option<SocketAddr> {
        self.addr_v6
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port(), path)
    }

    /// `http://localhost:PORT{path}`.
    pub fn url_localhost(&self, path: &str) -> String {
        format!("http://localhost:{}{}", self.port(), path)
    }

    /// All bytes read so far on connection `conn_index` (empty if unknown).
    pub fn received(&self, conn_index: usize) -> Vec<u8> {
        lock(&self.state.conns)
            .get(conn_index)
            .map(|c| c.received.clone())
            .unwrap_or_default()
    }

    /// [`PeerHandle::received`] as lossy UTF-8.
    pub fn received_string(&self, conn_index: usize) -> String {
        String::from_utf8_lossy(&self.received(conn_index)).into_owned()
    }

    /// The heads recorded by `ReadHead` / `ReadRequest` on a connection.
    pub fn heads(&self, conn_index: usize) -> Vec<String> {
        lock(&self.state.conns)
            .get(conn_index)
            .map(|c| c.heads.clone())
            .unwrap_or_default()
    }

    /// Whether connection `conn_index`'s script has ended (socket closed).
    pub fn finished(&self, conn_index: usize) -> bool {
        lock(&self.state.conns)
            .get(conn_index)
            .is_some_and(|c| c.finished)
    }

    /// Connections accepted so far (including ones beyond the script list).
    pub fn connections_accepted(&self) -> usize {
        lock(&self.state.conns).len()
    }

    /// Waits until at least `n` connections were accepted; false on timeout.
    pub async fn wait_connections(&self, n: usize, timeout: Duration) -> bool {
        wait_until(&self.state.changed, timeout, || {
            self.connections_accepted() >= n
        })
        .await
    }

    /// Waits until connection `conn_index`'s script has ended; false on timeout.
    pub async fn wait_finished(&self, conn_index: usize, timeout: Duration) -> bool {
        wait_until(&self.state.changed, timeout, || self.finished(conn_index)).await
    }

    /// Waits until connection `conn_index` has received at least `n` bytes.
    pub async fn wait_received(&self, conn_index: usize, n: usize, timeout: Duration) -> bool {
        wait_until(&self.state.changed, timeout, || {
            self.received(conn_index).len() >= n
        })
        .await
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(&self) {
        self.tasks.abort_all();
    }
}
