//! SOCKS5 client: RFC 1928 CONNECT, with RFC 1929 username/password authentication.
//!
//! The SOCKS exchange fires no trace hooks (Go: "The CONNECT tunnel and SOCKS handshake fire no
//! Connect events"). Failures are `Kind::Proxy(None)` naming the reply code.

use std::io;
use std::net::IpAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dial::resolve::parse_ip_literal;
use crate::error::{msg, Error, Kind};
use crate::stream::Stream;

const VER: u8 = 0x05;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;
const CMD_CONNECT: u8 = 0x01;
const ATYP_V4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

fn err(s: impl Into<String>) -> Error {
    Error::with(Kind::Proxy(None), msg(s))
}

fn io_err(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        err("SOCKS5 proxy closed the connection during the handshake")
    } else {
        let kind = e.kind();
        Error::with(
            Kind::Proxy(None),
            io::Error::new(kind, format!("SOCKS5 handshake: {e}")),
        )
    }
}

/// The RFC 1928 §6 meaning of a reply code.
fn reply_text(code: u8) -> &'static str {
    match code {
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unknown error",
    }
}

/// Ask the SOCKS5 proxy at the other end of `stream` to connect to `target_host:port`.
///
/// The destination is sent as `resolve_locally` when given (socks5://, the client resolved the
/// name), else as an IP when `target_host` is an IP literal, else as a domain name (socks5h://).
/// With `auth`, username/password authentication is offered besides "no authentication".
pub(crate) async fn socks5_connect(
    mut stream: Stream,
    target_host: &str,
    port: u16,
    resolve_locally: Option<IpAddr>,
    auth: Option<&(String, String)>,
) -> Result<Stream, Error> {
    // Build the CONNECT request first so a bad target fails before any byte is sent.
    let mut req = vec![VER, CMD_CONNECT, 0x00];
    match resolve_locally.or_else(|| parse_ip_literal(target_host)) {
        Some(IpAddr::V4(v4)) => {
            req.push(ATYP_V4);
            req.extend_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            req.push(ATYP_V6);
            req.extend_from_slice(&v6.octets());
        }
        None => {
            let name = target_host.as_bytes();
            let len = u8::try_from(name.len())
                .ok()
                .filter(|&l| l > 0)
                .ok_or_else(|| {
                    err(format!(
                        "SOCKS5: host name {target_host:?} is empty or longer than 255 bytes"
                    ))
                })?;
            req.push(ATYP_DOMAIN);
            req.push(len);
            req.extend_from_slice(name);
        }
    }
    req.extend_from_slice(&port.to_be_bytes());

    // Method negotiation.
    let greeting: &[u8] = if auth.is_some() {
        &[VER, 2, NO_AUTH, USER_PASS]
    } else {
        &[VER, 1, NO_AUTH]
    };
    stream.write_all(greeting).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;
    let mut sel = [0u8; 2];
    stream.read_exact(&mut sel).await.map_err(io_err)?;
    if sel[0] != VER {
        return Err(err(format!(
            "SOCKS5: proxy answered with version {} (not a SOCKS5 proxy?)",
            sel[0]
        )));
    }
    match (sel[1], auth) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some((user, pass))) => {
            let (u, p) = (user.as_bytes(), pass.as_bytes());
            let (Ok(ul), Ok(pl)) = (u8::try_from(u.len()), u8::try_from(p.len())) else {
                return Err(err("SOCKS5: username or password longer than 255 bytes"));
            };
            let mut a = Vec::with_capacity(3 + u.len() + p.len());
            a.extend_from_slice(&[0x01, ul]);
            a.extend_from_slice(u);
            a.push(pl);
            a.extend_from_slice(p);
            stream.write_all(&a).await.map_err(io_err)?;
            stream.flush().await.map_err(io_err)?;
            let mut r = [0u8; 2];
            stream.read_exact(&mut r).await.map_err(io_err)?;
            if r[1] != 0x00 {
                return Err(err(format!(
                    "SOCKS5: username/password authentication failed (status {})",
                    r[1]
                )));
            }
        }
        (NO_ACCEPTABLE, _) => {
            return Err(err(if auth.is_some() {
                "SOCKS5: proxy accepted none of the offered authentication methods"
            } else {
                "SOCKS5: proxy requires authentication (no acceptable methods)"
            }))
        }
        (m, _) => {
            return Err(err(format!(
                "SOCKS5: proxy chose an authentication method that was not offered ({m:#04x})"
            )))
        }
    }

    // CONNECT.
    stream.write_all(&req).await.map_err(io_err)?;
    stream.flush().await.map_err(io_err)?;
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).await.map_err(io_err)?;
    if head[0] != VER {
        return Err(err(format!(
            "SOCKS5: malformed reply (version {})",
            head[0]
        )));
    }
    if head[1] != 0x00 {
        return Err(err(format!(
            "SOCKS5 proxy could not connect to {}: {} (reply code {})",
            crate::route::join_host_port(target_host, port),
            reply_text(head[1]),
            head[1]
        )));
    }
    // Consume BND.ADDR and BND.PORT.
    let addr_len = match head[3] {
        ATYP_V4 => 4,
        ATYP_V6 => 16,
        ATYP_DOMAIN => {
            let mut l = [0u8; 1];
            stream.read_exact(&mut l).await.map_err(io_err)?;
            usize::from(l[0])
        }
        t => return Err(err(format!("SOCKS5: malformed reply (address type {t})"))),
    };
    let mut rest = vec![0u8; addr_len + 2];
    stream.read_exact(&mut rest).await.map_err(io_err)?;
    Ok(stream)
}

#[cfg(test)]
pub(crate) mod test_server {
    //! A tiny SOCKS5 server for tests: one connection per spawned task, optional user/pass,
    //! connects to the requested IPv4/IPv6 or to `127.0.0.1` for any domain name, then relays.

    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// What the server saw: "domain host:port" or "ip addr".
    pub(crate) type Seen = Arc<Mutex<Vec<String>>>;

    pub(crate) async fn socks_server(
        creds: Option<(&'static str, &'static str)>,
        fail_code: Option<u8>,
    ) -> (SocketAddr, Seen) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = l.accept().await else { return };
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let _ = serve(s, creds, fail_code, seen).await;
                });
            }
        });
        (addr, seen)
    }

    async fn serve(
        mut s: TcpStream,
        creds: Option<(&'static str, &'static str)>,
        fail_code: Option<u8>,
        seen: Seen,
    ) -> std::io::Result<()> {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).await?;
        let mut methods = vec![0u8; h[1] as usize];
        s.read_exact(&mut methods).await?;
        match creds {
            None => s.write_all(&[5, 0]).await?,
            Some((u, p)) => {
                if !methods.contains(&2) {
                    s.write_all(&[5, 0xff]).await?;
                    return Ok(());
                }
                s.write_all(&[5, 2]).await?;
                let mut v = [0u8; 2];
                s.read_exact(&mut v).await?;
                let mut user = vec![0u8; v[1] as usize];
                s.read_exact(&mut user).await?;
                let mut pl = [0u8; 1];
                s.read_exact(&mut pl).await?;
                let mut pass = vec![0u8; pl[0] as usize];
                s.read_exact(&mut pass).await?;
                let ok = user == u.as_bytes() && pass == p.as_bytes();
                s.write_all(&[1, if ok { 0 } else { 1 }]).await?;
                if !ok {
                    return Ok(());
                }
            }
        }
        let mut r = [0u8; 4];
        s.read_exact(&mut r).await?;
        let (ip, label): (std::net::IpAddr, String) = match r[3] {
            1 => {
                let mut a = [0u8; 4];
                s.read_exact(&mut a).await?;
                (a.into(), "ip".into())
            }
            4 => {
                let mut a = [0u8; 16];
                s.read_exact(&mut a).await?;
                (a.into(), "ip".into())
            }
            _ => {
                let mut l = [0u8; 1];
                s.read_exact(&mut l).await?;
                let mut n = vec![0u8; l[0] as usize];
                s.read_exact(&mut n).await?;
                (
                    std::net::Ipv4Addr::LOCALHOST.into(),
                    format!("domain {}", String::from_utf8_lossy(&n)),
                )
            }
        };
        let mut pb = [0u8; 2];
        s.read_exact(&mut pb).await?;
        let port = u16::from_be_bytes(pb);
        let target = SocketAddr::new(ip, port);
        seen.lock().unwrap().push(if label == "ip" {
            format!("ip {target}")
        } else {
            format!("{label}:{port}")
        });
        if let Some(code) = fail_code {
            s.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
        let mut up = match TcpStream::connect(target).await {
            Ok(u) => u,
            Err(_) => {
                s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
                return Ok(());
            }
        };
        // Reply with a domain-typed BND.ADDR to exercise the parser.
        s.write_all(&[5, 0, 0, 3, 4, b'b', b'n', b'd', b'x', 0x1f, 0x90])
            .await?;
        tokio::io::copy_bidirectional(&mut s, &mut up).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::test_server::socks_server;
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    async fn echo_server() -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        a
    }

    async fn roundtrip(s: &mut Stream) {
        s.write_all(b"ping").await.unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"ping");
    }

    #[tokio::test]
    async fn socks5_domain_ip_and_auth() {
        let echo = echo_server().await;
        let (proxy, seen) = socks_server(None, None).await;
        let tcp = || async { Stream::Tcp(TcpStream::connect(proxy).await.unwrap()) };

        // socks5h: the name goes to the proxy.
        let mut s = socks5_connect(tcp().await, "echo.test", echo.port(), None, None)
            .await
            .unwrap();
        roundtrip(&mut s).await;
        // socks5: resolved locally, sent as an IP.
        let mut s = socks5_connect(tcp().await, "echo.test", echo.port(), Some(echo.ip()), None)
            .await
            .unwrap();
        roundtrip(&mut s).await;
        // IP literal target.
        let mut s = socks5_connect(tcp().await, "127.0.0.1", echo.port(), None, None)
            .await
            .unwrap();
        roundtrip(&mut s).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                format!("domain echo.test:{}", echo.port()),
                format!("ip {echo}"),
                format!("ip {echo}"),
            ]
        );

        let (aproxy, _) = socks_server(Some(("u", "p")), None).await;
        let atcp = || async { Stream::Tcp(TcpStream::connect(aproxy).await.unwrap()) };
        let creds = ("u".to_string(), "p".to_string());
        let mut s = socks5_connect(atcp().await, "x.test", echo.port(), None, Some(&creds))
            .await
            .unwrap();
        roundtrip(&mut s).await;
        let wrong = ("u".to_string(), "nope".to_string());
        let e = socks5_connect(atcp().await, "x.test", echo.port(), None, Some(&wrong))
            .await
            .unwrap_err();
        assert!(
            e.is_proxy() && e.to_string().contains("authentication failed"),
            "{e}"
        );
        let e = socks5_connect(atcp().await, "x.test", echo.port(), None, None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("requires authentication"), "{e}");
    }

    #[tokio::test]
    async fn socks5_reply_codes() {
        let (proxy, _) = socks_server(None, Some(5)).await;
        let s = Stream::Tcp(TcpStream::connect(proxy).await.unwrap());
        let e = socks5_connect(s, "h.test", 443, None, None)
            .await
            .unwrap_err();
        assert!(e.is_proxy() && e.proxy_status().is_none());
        assert!(
            e.to_string()
                .contains("h.test:443: connection refused (reply code 5)"),
            "{e}"
        );
        let (proxy, _) = socks_server(None, Some(2)).await;
        let s = Stream::Tcp(TcpStream::connect(proxy).await.unwrap());
        let e = socks5_connect(s, "::1", 443, None, None).await.unwrap_err();
        assert!(
            e.to_string()
                .contains("[::1]:443: connection not allowed by ruleset"),
            "{e}"
        );
        let long = "a".repeat(256);
        let (proxy, _) = socks_server(None, None).await;
        let s = Stream::Tcp(TcpStream::connect(proxy).await.unwrap());
        assert!(socks5_connect(s, &long, 1, None, None).await.is_err());
    }
}
