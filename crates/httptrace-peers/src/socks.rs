//! A SOCKS5 proxy (RFC 1928, with RFC 1929 username/password auth):
//! `CONNECT` only; IPv4, IPv6 and domain-name address types; loopback
//! targets only (others get reply 0x02, "not allowed by ruleset").

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::http1::wait_until;
use crate::util::{self, lock, Tasks};

/// One SOCKS5 CONNECT request as seen by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocksRequest {
    /// The target as sent: `1.2.3.4:80`, `[::1]:80` or `name:80`.
    pub target: String,
    /// Address type byte (1 IPv4, 3 domain name, 4 IPv6).
    pub address_type: u8,
    /// The username given in RFC 1929 auth, if any.
    pub username: Option<String>,
    /// The reply code sent (0 = succeeded).
    pub reply: u8,
}

struct SocksState {
    auth: Option<(String, String)>,
    connections: AtomicUsize,
    requests: Mutex<Vec<SocksRequest>>,
    changed: watch::Sender<u64>,
}

impl SocksState {
    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Namespace for starting a SOCKS5 proxy.
#[derive(Debug)]
pub struct Socks5Proxy;

impl Socks5Proxy {
    /// Listens on 127.0.0.1:0. With `auth`, only username/password (method
    /// 0x02) with these credentials is accepted; without, only no-auth (0x00).
    pub async fn start(auth: Option<(String, String)>) -> io::Result<Socks5Handle> {
        let (listener, _) = util::bind_loopback(false).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SocksState {
            auth,
            connections: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            changed: watch::Sender::new(0),
        });
        let tasks = Tasks::default();
        let st = state.clone();
        tasks.push(util::spawn_accept_loop(listener, move |stream, _| {
            st.connections.fetch_add(1, Ordering::SeqCst);
            st.bump();
            let st = st.clone();
            async move {
                let _ = serve(stream, &st).await;
            }
        }));
        Ok(Socks5Handle { addr, state, tasks })
    }
}

/// A running SOCKS5 proxy; dropping it closes everything.
pub struct Socks5Handle {
    addr: SocketAddr,
    state: Arc<SocksState>,
    tasks: Tasks,
}

impl std::fmt::Debug for Socks5Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socks5Handle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Socks5Handle {
    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `socks5://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("socks5://{}", self.addr)
    }

    /// `socks5h://127.0.0.1:PORT` (the proxy resolves names).
    pub fn url_h(&self) -> String {
        format!("socks5h://{}", self.addr)
    }

    /// Client connections accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// CONNECT requests seen so far.
    pub fn requests(&self) -> Vec<SocksRequest> {
        lock(&self.state.requests).clone()
    }

    /// Targets of the CONNECT requests seen so far.
    pub fn targets(&self) -> Vec<String> {
        lock(&self.state.requests)
            .iter()
            .map(|r| r.target.clone())
            .collect()
    }

    /// Waits until at least `n` CONNECT requests were seen; false on timeout.
    pub async fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        wait_until(&self.state.changed, timeout, || {
            lock(&self.state.requests).len() >= n
        })
        .await
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(&self) {
        self.tasks.abort_all();
    }
}

async fn read_vec(s: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).await?;
    Ok(v)
}

fn reply(code: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let mut r = vec![5, code, 0];
    match bound {
        Some(SocketAddr::V6(a)) => {
            r.push(4);
            r.extend_from_slice(&a.ip().octets());
            r.extend_from_slice(&a.port().to_be_bytes());
        }
        Some(SocketAddr::V4(a)) => {
            r.push(1);
            r.extend_from_slice(&a.ip().octets());
            r.extend_from_slice(&a.port().to_be_bytes());
        }
        None => r.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0]),
    }
    r
}

async fn serve(mut s: TcpStream, st: &SocksState) -> io::Result<()> {
    // Greeting.
    let hdr = read_vec(&mut s, 2).await?;
    if hdr[0] != 5 {
        return Ok(());
    }
    let methods = read_vec(&mut s, hdr[1] as usize).await?;
    let wanted = if st.auth.is_some() { 2u8 } else { 0u8 };
    if !methods.contains(&wanted) {
        s.write_all(&[5, 0xFF]).await?;
        return Ok(());
    }
    s.write_all(&[5, wanted]).await?;

    // RFC 1929 username/password.
    let mut username = None;
    if let Some((user, pass)) = &st.auth {
        let ver_ulen = read_vec(&mut s, 2).await?;
        let uname = read_vec(&mut s, ver_ulen[1] as usize).await?;
        let plen = read_vec(&mut s, 1).await?;
        let passwd = read_vec(&mut s, plen[0] as usize).await?;
        let ok = ver_ulen[0] == 1 && uname == user.as_bytes() && passwd == pass.as_bytes();
        username = Some(String::from_utf8_lossy(&uname).into_owned());
        s.write_all(&[1, if ok { 0 } else { 1 }]).await?;
        if !ok {
            return Ok(());
        }
    }

    // Request.
    let req = read_vec(&mut s, 4).await?;
    if req[0] != 5 {
        return Ok(());
    }
    let (cmd, atyp) = (req[1], req[3]);
    let host: String = match atyp {
        1 => {
            let b = read_vec(&mut s, 4).await?;
            Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
        }
        3 => {
            let len = read_vec(&mut s, 1).await?;
            let name = read_vec(&mut s, len[0] as usize).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let b = read_vec(&mut s, 16).await?;
            let mut o = [0u8; 16];
            o.copy_from_slice(&b);
            Ipv6Addr::from(o).to_string()
        }
        _ => {
            s.write_all(&reply(8, None)).await?;
            return Ok(());
        }
    };
    let p = read_vec(&mut s, 2).await?;
    let port = u16::from_be_bytes([p[0], p[1]]);
    let target = if atyp == 4 {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let record = |code: u8| {
        lock(&st.requests).push(SocksRequest {
            target: target.clone(),
            address_type: atyp,
            username: username.clone(),
            reply: code,
        });
        st.bump();
    };
    if cmd != 1 {
        record(7);
        s.write_all(&reply(7, None)).await?;
        return Ok(());
    }
    if !util::is_loopback_host(&host) {
        record(2);
        s.write_all(&reply(2, None)).await?;
        return Ok(());
    }
    let mut upstream = match util::connect_loopback(&host, port).await {
        Ok(u) => u,
        Err(e) => {
            let code = if e.kind() == io::ErrorKind::ConnectionRefused {
                5
            } else {
                1
            };
            record(code);
            s.write_all(&reply(code, None)).await?;
            return Ok(());
        }
    };
    let bound = upstream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    record(0);
    s.write_all(&reply(0, Some(bound))).await?;
    let _ = tokio::io::copy_bidirectional(&mut s, &mut upstream).await;
    Ok(())
}
