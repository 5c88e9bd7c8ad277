//! Helpers for `bench/run`, so the script needs neither openssl nor python:
//!
//! - `bench-util certs DIR`: mint a throw-away CA and a leaf for `127.0.0.1`/`localhost`
//!   (rcgen, via `httptrace-peers`), writing `DIR/ca.pem`, `DIR/leaf.pem`, `DIR/leaf.key`.
//! - `bench-util ports N`: print N free loopback TCP ports (bound to 127.0.0.1:0, then released).
//! - `bench-util wait SECS PORT...`: wait until every port accepts a TCP connection.
//! - `bench-util gen FILE BYTES`: write a file of BYTES bytes (a repeating pattern).
//! - `bench-util evict FILE...`: write each file to disk and drop it from the page cache, so
//!   that every client executable is then read in by the kernel's readahead as a program
//!   started from disk is (a file just written by the linker or `cp` stays cached in folios
//!   whose sizes follow how it was written, and which pages of a mapping are resident, so
//!   counted in peak RSS, follows the folios).

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fail = |m: &str| -> ! {
        eprintln!("bench-util: {m}");
        std::process::exit(2)
    };
    match args.first().map(String::as_str) {
        Some("certs") => {
            let dir = std::path::PathBuf::from(args.get(1).unwrap_or_else(|| fail("certs DIR")));
            let ca = httptrace_peers::TestCa::new();
            let leaf = ca.leaf_for(&["localhost", "127.0.0.1"]);
            std::fs::write(dir.join("ca.pem"), ca.ca_pem())
                .unwrap_or_else(|e| fail(&e.to_string()));
            std::fs::write(dir.join("leaf.pem"), leaf.cert_pem())
                .unwrap_or_else(|e| fail(&e.to_string()));
            std::fs::write(dir.join("leaf.key"), leaf.key_pem())
                .unwrap_or_else(|e| fail(&e.to_string()));
        }
        Some("ports") => {
            let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
            // Hold all listeners until every port is chosen so the N ports differ.
            let ls: Vec<TcpListener> = (0..n)
                .map(|_| TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(&e.to_string())))
                .collect();
            let ports: Vec<String> = ls
                .iter()
                .map(|l| l.local_addr().unwrap().port().to_string())
                .collect();
            println!("{}", ports.join(" "));
        }
        Some("wait") => {
            let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
            let end = Instant::now() + Duration::from_secs_f64(secs);
            for p in &args[2..] {
                loop {
                    if TcpStream::connect(("127.0.0.1", p.parse::<u16>().unwrap())).is_ok() {
                        break;
                    }
                    if Instant::now() > end {
                        fail(&format!("port {p} not accepting connections"));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        Some("gen") => {
            let path = args.get(1).unwrap_or_else(|| fail("gen FILE BYTES"));
            let n: usize = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| fail("gen FILE BYTES"));
            let pat = b"httptrace-bench\n";
            let data: Vec<u8> = (0..n).map(|i| pat[i % pat.len()]).collect();
            std::fs::write(path, data).unwrap_or_else(|e| fail(&e.to_string()));
        }
        Some("evict") => {
            for path in &args[1..] {
                evict(path).unwrap_or_else(|e| fail(&format!("evict {path}: {e}")));
            }
        }
        _ => fail(
            "usage: bench-util certs DIR | ports N | wait SECS PORT... | gen FILE BYTES | evict FILE...",
        ),
    }
}

/// Flush `path` and drop its pages from the page cache (POSIX_FADV_DONTNEED drops clean pages).
fn evict(path: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    f.sync_all()?;
    // SAFETY: a plain system call on a file descriptor this function owns.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(())
}
