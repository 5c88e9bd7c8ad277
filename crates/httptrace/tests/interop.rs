//! Interop: the client against real servers from Debian packages (nginx, tinyproxy, microsocks),
//! each started here on 127.0.0.1 with an ephemeral port, its config and logs in a temp dir, and
//! killed when the test ends. A test whose binary is missing prints `SKIP ...` and passes.
//!
//! Run by `scripts/interop.sh` with `--test-threads=1`; every test starts its own servers, so
//! parallel runs work too.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Version;
use httptrace::{Protocol, TlsVersion};
use httptrace_peers::TestCa;
use support::{
    bounded, builder, builder_trusting, fresh_tcp_h1, fresh_tls_h1, fresh_tls_h2, get,
    get_concurrently, post_expecting_continue, reused_h1, reused_h2, Recorder,
};
#[cfg(feature = "proxy")]
use support::{ok_or_dump, proxied_client, seq, TCP_DIAL, TLS_PAIR};

const NGINX: &str = "/usr/sbin/nginx";
#[cfg(feature = "proxy")]
const TINYPROXY: &str = "/usr/bin/tinyproxy";
#[cfg(feature = "proxy")]
const MICROSOCKS: &str = "/usr/bin/microsocks";
const HELLO: &[u8] = b"Hello, world!";

// ---------------------------------------------------------------------------------------------
// Process and temp-dir plumbing
// ---------------------------------------------------------------------------------------------

/// True when `bin` exists; otherwise prints the skip line.
fn have(test: &str, bin: &str) -> bool {
    if Path::new(bin).exists() {
        true
    } else {
        println!("SKIP {test}: {bin} not installed (run scripts/install-deps.sh)");
        false
    }
}

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "httptrace-interop-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) on drop.
struct Proc {
    child: Child,
    name: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn read_logs(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let is_log = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".log") || n.ends_with(".out"));
            if is_log {
                if let Ok(s) = std::fs::read_to_string(&p) {
                    out.push_str(&format!("--- {}\n{}\n", p.display(), s));
                }
            }
        }
    }
    out
}

/// Spawn `cmd` (stdout/stderr to `<dir>/<name>.out`) and wait until every port accepts TCP
/// connections (5 s bound). `Err` if the process exits first or the ports never open.
async fn spawn_and_wait(
    mut cmd: Command,
    name: &str,
    dir: &Path,
    ports: &[u16],
) -> Result<Proc, String> {
    let out = std::fs::File::create(dir.join(format!("{name}.out"))).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let child = cmd.spawn().map_err(|e| format!("spawn {name}: {e}"))?;
    let mut proc = Proc {
        child,
        name: name.to_string(),
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    for &port in ports {
        loop {
            if let Ok(Some(status)) = proc.child.try_wait() {
                return Err(format!(
                    "{} exited early ({status}):\n{}",
                    proc.name,
                    read_logs(dir)
                ));
            }
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not accepting on {port} after 5 s:\n{}",
                    proc.name,
                    read_logs(dir)
                ));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    Ok(proc)
}

/// Start a server whose config needs `nports` fresh ports, retrying with new ports when it
/// fails to start (e.g. a port was taken between picking and binding).
async fn start_with_ports<F>(name: &str, dir: &Path, nports: usize, mut make: F) -> (Proc, Vec<u16>)
where
    F: FnMut(&[u16]) -> Command,
{
    let mut last = String::new();
    for _ in 0..5 {
        let ports: Vec<u16> = (0..nports).map(|_| free_port()).collect();
        let cmd = make(&ports);
        match spawn_and_wait(cmd, name, dir, &ports).await {
            Ok(p) => return (p, ports),
            Err(e) => last = e,
        }
    }
    panic!("could not start {name}: {last}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------------

struct Nginx {
    _proc: Proc,
    plain: u16,
    tls: u16,
    ca: TestCa,
    dir: TempDir,
}

impl Nginx {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.plain, path)
    }
    fn https(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{}", self.tls, path)
    }
    fn client(&self) -> httptrace::ClientBuilder {
        builder_trusting(&self.ca)
    }
    fn logs(&self) -> String {
        read_logs(self.dir.path())
    }
}

async fn nginx() -> Nginx {
    let dir = TempDir::new("nginx");
    let ca = TestCa::new();
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.file("www")).unwrap();
    std::fs::write(dir.file("www/hello.txt"), HELLO).unwrap();
    std::fs::write(dir.file("www/big.bin"), vec![b'x'; 2 * 1024 * 1024]).unwrap();
    let chain = format!("{}{}", ca.leaf().cert_pem(), ca.ca_pem());
    std::fs::write(dir.file("cert.pem"), chain).unwrap();
    std::fs::write(dir.file("key.pem"), ca.leaf().key_pem()).unwrap();
    let conf_path = dir.file("nginx.conf");
    // Single process (`master_process off`): killing the child stops everything, and no
    // worker changes user (so root-owned temp files stay usable).
    let user = if is_root() { "user root root;\n" } else { "" };
    let (proc, ports) = start_with_ports("nginx", dir.path(), 2, |p| {
        let conf = format!(
            r#"{user}worker_processes 1;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy_temp;
    fastcgi_temp_path {d}/fastcgi_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;
    types {{ text/plain txt; application/octet-stream bin; }}
    default_type application/octet-stream;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{plain};
        root {d}/www;
        location /upload {{ client_max_body_size 10m; return 200 "ok"; }}
    }}
    server {{
        listen 127.0.0.1:{tls} ssl http2;
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root {d}/www;
        location /upload {{ client_max_body_size 10m; return 200 "ok"; }}
    }}
}}
"#,
            plain = p[0],
            tls = p[1],
        );
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(NGINX);
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.file("error.log"))
            .arg("-g")
            .arg("daemon off;");
        cmd
    })
    .await;
    Nginx {
        _proc: proc,
        plain: ports[0],
        tls: ports[1],
        ca,
        dir,
    }
}

#[tokio::test]
async fn nginx_plain_get_and_keepalive_reuse() {
    if !have("nginx_plain_get_and_keepalive_reuse", NGINX) {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let c = support::client();
        let (r1, rec1) = get(&c, &ng.url("/hello.txt")).await;
        let (status, body) = r1.unwrap_or_else(|e| panic!("{e:?}\n{}", ng.logs()));
        assert_eq!(status, 200);
        assert_eq!(body, HELLO);
        assert_eq!(rec1.go_names(), fresh_tcp_h1(), "{}", rec1.dump());
        assert_eq!(rec1.count("put_idle_conn nil"), 1);
        let (r2, rec2) = get(&c, &ng.url("/hello.txt")).await;
        assert_eq!(r2.unwrap().1, HELLO);
        assert_eq!(rec2.go_names(), reused_h1(), "{}", rec2.dump());
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        assert_eq!(rec1.got_conns()[0].conn.id, rec2.got_conns()[0].conn.id);
        // A 404 from nginx keeps the connection too.
        let (r3, rec3) = get(&c, &ng.url("/missing")).await;
        assert_eq!(r3.unwrap().0, 404);
        assert!(rec3.has("got_conn reused=true was_idle=true"));
    })
    .await;
}

#[tokio::test]
async fn nginx_https_http1_with_reuse() {
    if !have("nginx_https_http1_with_reuse", NGINX) {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let c = ng.client().http1_only().build().unwrap();
        let (r1, rec1) = get(&c, &ng.https("/hello.txt")).await;
        let (status, body) = r1.unwrap_or_else(|e| panic!("{e:?}\n{}", ng.logs()));
        assert_eq!((status, body.as_slice()), (200, HELLO));
        assert_eq!(rec1.go_names(), fresh_tls_h1(), "{}", rec1.dump());
        let (st, _) = &rec1.tls()[0];
        assert_eq!(st.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(st.version, Some(TlsVersion::Tls13));
        assert_eq!(st.server_name, None);
        assert_eq!(st.peer_certificates.len(), 2);
        let (r2, rec2) = get(&c, &ng.https("/hello.txt")).await;
        assert_eq!(r2.unwrap().1, HELLO);
        assert_eq!(rec2.go_names(), reused_h1(), "{}", rec2.dump());
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        // Larger body over TLS.
        let resp = c.get(&ng.https("/big.bin")).send().await.unwrap();
        assert_eq!(resp.into_body().drain().await.unwrap(), 2 * 1024 * 1024);
    })
    .await;
}

#[tokio::test]
async fn nginx_https_h2_sequential_and_concurrent() {
    if !have("nginx_https_h2_sequential_and_concurrent", NGINX) {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let c = ng.client().build().unwrap();
        let rec1 = Recorder::new();
        let resp = c
            .get(&ng.https("/hello.txt"))
            .trace(rec1.trace())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}\n{}", ng.logs()));
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(&resp.into_body().bytes().await.unwrap()[..], HELLO);
        assert_eq!(rec1.go_names(), fresh_tls_h2(), "{}", rec1.dump());
        assert_eq!(rec1.tls()[0].0.alpn.as_deref(), Some("h2"));
        assert_eq!(rec1.field_names()[0], ":authority");
        let conn_id = rec1.got_conns()[0].conn.id;
        assert_eq!(rec1.got_conns()[0].conn.protocol, Protocol::Http2);

        let (r2, rec2) = get(&c, &ng.https("/hello.txt")).await;
        assert_eq!(r2.unwrap().1, HELLO);
        assert_eq!(rec2.go_names(), reused_h2(), "{}", rec2.dump());
        assert!(rec2.has("got_conn reused=true was_idle=true"));
        assert_eq!(rec2.got_conns()[0].conn.id, conn_id);

        for (r, rec) in get_concurrently(&c, &ng.https("/hello.txt"), 5).await {
            assert_eq!(r.unwrap().1, HELLO);
            let gc = &rec.got_conns()[0];
            assert_eq!(gc.conn.id, conn_id, "all on one connection: {}", rec.dump());
            assert!(gc.reused);
            assert_eq!(rec.count("connect_start"), 0);
        }
        // Download on h2 through nginx.
        let resp = c.get(&ng.https("/big.bin")).send().await.unwrap();
        assert_eq!(resp.into_body().drain().await.unwrap(), 2 * 1024 * 1024);
    })
    .await;
}

/// POST with `Expect: 100-continue` to a location that discards the body (`return 200`).
/// The sequence must be consistent: wait_100_continue after wrote_headers, then either a 100
/// (h1: got_100_continue then got_1xx 100) or the final status straight away.
#[tokio::test]
async fn nginx_expect_100_continue_h1() {
    if !have("nginx_expect_100_continue_h1", NGINX) {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let c = builder()
            .expect_continue_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        for round in 0..2 {
            let rec = Recorder::new();
            let started = Instant::now();
            let resp = post_expecting_continue(
                &c,
                &ng.url("/upload"),
                Bytes::from_static(b"some body"),
                &rec,
            )
            .await
            .unwrap_or_else(|e| panic!("{e:?}\n{}", ng.logs()));
            let status = resp.status().as_u16();
            let body = resp.into_body().bytes().await.unwrap();
            println!(
                "nginx expect round {round}: status {status}\n  {}",
                rec.dump()
            );
            assert_eq!(status, 200);
            assert_eq!(&body[..], b"ok");
            assert!(
                started.elapsed() < Duration::from_secs(4),
                "waited for the timer"
            );
            let ev = rec.events();
            let w = rec.pos("wait_100_continue").expect("wait_100_continue");
            assert!(rec.pos("wrote_headers").unwrap() < w);
            assert_eq!(rec.count("wait_100_continue"), 1);
            assert_eq!(rec.count("wrote_request"), 1);
            if let Some(g) = rec.pos("got_100_continue") {
                assert!(g > w);
                assert_eq!(
                    ev[g + 1],
                    "got_1xx 100",
                    "h1: got_100_continue before got_1xx"
                );
                assert!(rec.pos("got_first_response_byte").unwrap() < g);
                assert!(rec.pos("wrote_request").unwrap() > g, "body after the 100");
            } else {
                assert_eq!(rec.count("got_1xx"), 0);
            }
            assert_eq!(rec.count("wrote_request nil"), 1, "{}", rec.dump());
            if round == 1 {
                // The connection survived round 0 when it went back to the pool.
                if rec.count("put_idle_conn nil") == 1 {
                    assert!(ev.iter().any(|e| e.starts_with("got_conn")));
                }
            }
        }
    })
    .await;
}

/// The same POST over HTTP/2 (h2 order: got_1xx 100 before got_100_continue).
#[tokio::test]
async fn nginx_expect_100_continue_h2() {
    if !have("nginx_expect_100_continue_h2", NGINX) {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let c = ng
            .client()
            .expect_continue_timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let rec = Recorder::new();
        let started = Instant::now();
        let resp = post_expecting_continue(
            &c,
            &ng.https("/upload"),
            Bytes::from_static(b"some body"),
            &rec,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}\n{}", ng.logs()));
        assert_eq!(resp.version(), Version::HTTP_2);
        let status = resp.status().as_u16();
        let body = resp.into_body().bytes().await.unwrap();
        println!("nginx h2 expect: status {status}\n  {}", rec.dump());
        assert_eq!(status, 200);
        assert_eq!(&body[..], b"ok");
        let w = rec.pos("wait_100_continue").expect("wait_100_continue");
        assert!(rec.pos("wrote_headers").unwrap() < w);
        if let Some(g) = rec.pos("got_100_continue") {
            assert_eq!(
                rec.events()[g - 1],
                "got_1xx 100",
                "h2: got_1xx before got_100"
            );
        } else {
            assert_eq!(rec.count("got_1xx"), 0);
        }
        // Without a 100 the body waits for the expect timer on the upload task, after the
        // response came back (Go's writeRequest goroutine): wrote_request comes then.
        let deadline = Instant::now() + Duration::from_secs(10);
        while rec.count("wrote_request") == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(rec.count("wrote_request"), 1, "{}", rec.dump());
        assert!(started.elapsed() < Duration::from_secs(20));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// tinyproxy
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "proxy")]
struct Tinyproxy {
    _proc: Proc,
    port: u16,
    dir: TempDir,
}

#[cfg(feature = "proxy")]
impl Tinyproxy {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

#[cfg(feature = "proxy")]
async fn tinyproxy(connect_port: u16) -> Tinyproxy {
    let dir = TempDir::new("tinyproxy");
    let d = dir.path().display().to_string();
    let conf_path = dir.file("tinyproxy.conf");
    let (proc, ports) = start_with_ports("tinyproxy", dir.path(), 1, |p| {
        let conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\nConnectPort {connect_port}\n\
             DisableViaHeader Yes\nLogFile \"{d}/tinyproxy.log\"\nLogLevel Info\n\
             PidFile \"{d}/tinyproxy.pid\"\nMaxClients 32\n",
            port = p[0],
        );
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(TINYPROXY);
        cmd.arg("-d").arg("-c").arg(&conf_path);
        cmd
    })
    .await;
    Tinyproxy {
        _proc: proc,
        port: ports[0],
        dir,
    }
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn tinyproxy_forward_http_to_nginx() {
    if !have("tinyproxy_forward_http_to_nginx", TINYPROXY)
        || !have("tinyproxy_forward_http_to_nginx", NGINX)
    {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let tp = tinyproxy(ng.tls).await;
        let c = proxied_client(&tp.url());
        let (r, rec) = get(&c, &ng.url("/hello.txt")).await;
        let (status, body) =
            r.unwrap_or_else(|e| panic!("{e:?}\n{}\n{}", read_logs(tp.dir.path()), ng.logs()));
        assert_eq!((status, body.as_slice()), (200, HELLO), "{}", rec.dump());
        let ev = rec.go_events();
        assert_eq!(ev[0], format!("get_conn {}", tp.addr()));
        assert_eq!(ev[1], format!("connect_start tcp {}", tp.addr()));
        assert_eq!(rec.count_prefix("tls_"), 0);
        assert_eq!(
            rec.fields()[0],
            ("Host".to_string(), vec![format!("127.0.0.1:{}", ng.plain)])
        );
        assert!(rec.got_conns()[0].conn.proxy.is_some());
        // nginx logged an origin-form request that came through the proxy. nginx writes the
        // line in its log phase, which can run after the client has the whole response: wait
        // for it (bounded by the test's timeout).
        let mut access = String::new();
        for _ in 0..100 {
            access = std::fs::read_to_string(ng.dir.file("access.log")).unwrap_or_default();
            if access.contains("GET /hello.txt HTTP/1.") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            access.contains("GET /hello.txt HTTP/1."),
            "access log:\n{access}"
        );
        // A second request works whether or not tinyproxy kept the connection.
        let (r2, rec2) = get(&c, &ng.url("/hello.txt")).await;
        assert_eq!(ok_or_dump(r2, &rec2).1, HELLO);
    })
    .await;
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn tinyproxy_connect_https_to_nginx() {
    if !have("tinyproxy_connect_https_to_nginx", TINYPROXY)
        || !have("tinyproxy_connect_https_to_nginx", NGINX)
    {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let tp = tinyproxy(ng.tls).await;
        // HTTP/1.1 in the tunnel.
        let c = ng.client().proxy(&tp.url()).http1_only().build().unwrap();
        let (r, rec) = get(&c, &ng.https("/hello.txt")).await;
        let (status, body) = r.unwrap_or_else(|e| panic!("{e:?}\n{}", read_logs(tp.dir.path())));
        assert_eq!((status, body.as_slice()), (200, HELLO));
        assert_eq!(rec.go_names(), fresh_tls_h1(), "{}", rec.dump());
        assert_eq!(rec.go_events()[0], format!("get_conn {}", tp.addr()));
        assert_eq!(
            rec.go_events()[1],
            format!("connect_start tcp {}", tp.addr())
        );
        assert_eq!(rec.tls()[0].0.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(rec.fields()[0].1, vec![format!("127.0.0.1:{}", ng.tls)]);
        let (r2, rec2) = get(&c, &ng.https("/hello.txt")).await;
        assert_eq!(r2.unwrap().1, HELLO);
        assert!(
            rec2.has("got_conn reused=true was_idle=true"),
            "{}",
            rec2.dump()
        );

        // HTTP/2 in the tunnel (default client).
        let c2 = ng.client().proxy(&tp.url()).build().unwrap();
        let rec3 = Recorder::new();
        let resp = c2
            .get(&ng.https("/hello.txt"))
            .trace(rec3.trace())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.version(), Version::HTTP_2);
        assert_eq!(&resp.into_body().bytes().await.unwrap()[..], HELLO);
        assert_eq!(rec3.tls()[0].0.alpn.as_deref(), Some("h2"));
        assert!(rec3.pos("tls_handshake_start").unwrap() > rec3.pos("connect_done").unwrap());
        assert_eq!(
            rec3.go_events()[1],
            format!("connect_start tcp {}", tp.addr())
        );
        assert_eq!(rec3.field_names()[0], ":authority");
        assert_eq!(
            rec3.go_events()[0],
            format!("get_conn {}", tp.addr()),
            "{}",
            rec3.dump()
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// microsocks
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "proxy")]
async fn microsocks(auth: Option<(&str, &str)>) -> (Proc, u16, TempDir) {
    let dir = TempDir::new("microsocks");
    let (proc, ports) = start_with_ports("microsocks", dir.path(), 1, |p| {
        let mut cmd = Command::new(MICROSOCKS);
        cmd.arg("-i")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(p[0].to_string());
        if let Some((u, pw)) = auth {
            cmd.arg("-u").arg(u).arg("-P").arg(pw);
        }
        cmd
    })
    .await;
    (proc, ports[0], dir)
}

#[cfg(feature = "proxy")]
async fn socks_round(ng: &Nginx, proxy_url: &str, socks_port: u16) {
    // http via socks5
    let c = proxied_client(proxy_url);
    let (r, rec) = get(&c, &ng.url("/hello.txt")).await;
    assert_eq!(ok_or_dump(r, &rec).1, HELLO);
    assert_eq!(
        rec.go_events()[0],
        format!("get_conn 127.0.0.1:{socks_port}")
    );
    assert_eq!(
        rec.go_events()[1],
        format!("connect_start tcp 127.0.0.1:{socks_port}")
    );
    assert_eq!(rec.fields()[0].1, vec![format!("127.0.0.1:{}", ng.plain)]);
    let (r, rec) = get(&c, &ng.url("/hello.txt")).await;
    assert_eq!(r.unwrap().1, HELLO);
    assert!(
        rec.has("got_conn reused=true was_idle=true"),
        "{}",
        rec.dump()
    );

    // https (h2 and http/1.1) via socks5
    for h1 in [false, true] {
        let b = ng.client().proxy(proxy_url);
        let c = if h1 { b.http1_only() } else { b }.build().unwrap();
        let (r, rec) = get(&c, &ng.https("/hello.txt")).await;
        assert_eq!(ok_or_dump(r, &rec).1, HELLO);
        assert_eq!(
            rec.go_names()[..6],
            seq(&[TCP_DIAL, TLS_PAIR, &["got_conn"]])[..],
            "{}",
            rec.dump()
        );
        assert_eq!(
            rec.go_events()[0],
            format!("get_conn 127.0.0.1:{socks_port}")
        );
        assert_eq!(
            rec.tls()[0].0.alpn.as_deref(),
            Some(if h1 { "http/1.1" } else { "h2" })
        );
    }
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn microsocks_http_and_https_to_nginx() {
    if !have("microsocks_http_and_https_to_nginx", MICROSOCKS)
        || !have("microsocks_http_and_https_to_nginx", NGINX)
    {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let (_p, port, _d) = microsocks(None).await;
        socks_round(&ng, &format!("socks5://127.0.0.1:{port}"), port).await;
        socks_round(&ng, &format!("socks5h://127.0.0.1:{port}"), port).await;
    })
    .await;
}

#[cfg(feature = "proxy")]
#[tokio::test]
async fn microsocks_with_auth() {
    if !have("microsocks_with_auth", MICROSOCKS) || !have("microsocks_with_auth", NGINX) {
        return;
    }
    bounded(async {
        let ng = nginx().await;
        let (_p, port, _d) = microsocks(Some(("user", "s3cret"))).await;
        socks_round(&ng, &format!("socks5://user:s3cret@127.0.0.1:{port}"), port).await;
        // Wrong password: a proxy error, no connection handed out.
        let c = proxied_client(&format!("socks5://user:wrong@127.0.0.1:{port}"));
        let (r, rec) = get(&c, &ng.url("/hello.txt")).await;
        let err = r.expect_err("wrong password");
        assert!(err.is_proxy(), "{err:?}");
        assert_eq!(rec.count("got_conn"), 0);
    })
    .await;
}
