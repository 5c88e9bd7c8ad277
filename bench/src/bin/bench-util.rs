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
//! - `bench-util turns TURNS STEP_TIMEOUT_SECS SEED -- LABEL CMD ARG... [::: LABEL CMD ARG...]...`:
//!   run the client commands (each of which must have been given `--turns TURNS`) so that they
//!   take turns on the core instead of running one after another: see [`turns_run`].

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
        Some("turns") => {
            let turns: usize = args
                .get(1)
                .and_then(|s| s.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| fail("turns TURNS STEP_TIMEOUT_SECS SEED -- LABEL CMD..."));
            let step: f64 = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .filter(|&s: &f64| s.is_finite() && s > 0.0 && s < 1e6)
                .unwrap_or_else(|| fail("turns TURNS STEP_TIMEOUT_SECS SEED -- LABEL CMD..."));
            let seed: u64 = args
                .get(3)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| fail("turns TURNS STEP_TIMEOUT_SECS SEED -- LABEL CMD..."));
            if args.get(4).map(String::as_str) != Some("--") {
                fail("turns TURNS STEP_TIMEOUT_SECS SEED -- LABEL CMD...");
            }
            let cmds: Vec<Vec<String>> = args[5..]
                .split(|a| a == ":::")
                .map(<[String]>::to_vec)
                .collect();
            if cmds.iter().any(|c| c.len() < 2) {
                fail("turns: every client needs a LABEL and a command");
            }
            turns_run(turns, Duration::from_secs_f64(step), seed, &cmds);
        }
        Some("evict") => {
            for path in &args[1..] {
                evict(path).unwrap_or_else(|e| fail(&format!("evict {path}: {e}")));
            }
        }
        _ => fail(
            "usage: bench-util certs DIR | ports N | wait SECS PORT... | gen FILE BYTES | evict FILE... \
             | turns TURNS STEP_TIMEOUT_SECS SEED -- LABEL CMD... [::: LABEL CMD...]...",
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

/// One client under `turns`: its process, the lines it prints, what its stderr said.
struct Turner {
    label: String,
    child: Option<std::process::Child>,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    /// What it wrote to stderr (the first 600 bytes), once the pipe closes.
    stderr: Option<std::sync::mpsc::Receiver<String>>,
    /// Why it is out of the run, once it is.
    failed: Option<String>,
    /// Its last line: the JSON report after its last turn.
    last: String,
}

impl Turner {
    fn spawn(cmd: &[String]) -> Turner {
        use std::io::{BufRead, Read};
        use std::process::{Command, Stdio};
        let label = cmd[0].clone();
        let (tx, lines) = std::sync::mpsc::channel();
        let child = Command::new(&cmd[1])
            .args(&cmd[2..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                return Turner {
                    label,
                    child: None,
                    stdin: None,
                    lines,
                    stderr: None,
                    failed: Some(format!("cannot start {}: {e}", cmd[1])),
                    last: String::new(),
                }
            }
        };
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = child.stderr.take().map(|mut err| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                // Keep the first 600 bytes; read (and drop) the rest until the client exits, so
                // that it never blocks on a full pipe.
                let mut kept = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let room = 600usize.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                let _ = tx.send(String::from_utf8_lossy(&kept).into_owned());
            });
            rx
        });
        Turner {
            label,
            stdin: child.stdin.take(),
            child: Some(child),
            lines,
            stderr,
            failed: None,
            last: String::new(),
        }
    }

    /// Wait for the client's next line (after giving it a turn when `go`); a client that says
    /// nothing within `timeout`, or exits, is out of the run.
    fn step(&mut self, go: bool, timeout: Duration) {
        use std::io::Write;
        if self.failed.is_some() {
            return;
        }
        if go {
            let sent = self
                .stdin
                .as_mut()
                .map(|i| i.write_all(b"go\n").and_then(|()| i.flush()));
            if !matches!(sent, Some(Ok(()))) {
                self.fail("its stdin is closed");
                return;
            }
        }
        match self.lines.recv_timeout(timeout) {
            Ok(line) => self.last = line,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                self.fail(&format!("no answer in {:.0} s", timeout.as_secs_f64()))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => self.fail("exited"),
        }
    }

    /// After its last turn: the client has printed its report; close its stdin and wait (at
    /// most `timeout`) for it to exit successfully.
    fn finish(&mut self, timeout: Duration) {
        drop(self.stdin.take());
        if self.failed.is_some() {
            return;
        }
        if !self.last.starts_with('{') {
            let l = self.last.clone();
            self.fail(&format!("said {l:?} instead of its report"));
            return;
        }
        let Some(child) = self.child.as_mut() else {
            self.fail("not started");
            return;
        };
        let end = std::time::Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(s)) if s.success() => return,
                Ok(Some(s)) => {
                    let why = format!("ended with {s} after its report");
                    self.fail(&why);
                    return;
                }
                Ok(None) if std::time::Instant::now() < end => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(None) => {
                    let why = format!("did not exit within {:.0} s", timeout.as_secs_f64());
                    self.fail(&why);
                    return;
                }
                Err(e) => {
                    self.fail(&e.to_string());
                    return;
                }
            }
        }
    }

    fn fail(&mut self, why: &str) {
        let status = match &mut self.child {
            Some(c) => {
                let _ = c.kill();
                c.wait().map(|s| s.to_string()).unwrap_or_default()
            }
            None => String::new(),
        };
        // The stderr pipe closes when the process exits (unless it left a child holding it:
        // then what it said is given up on after a second).
        let err = self
            .stderr
            .take()
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok())
            .unwrap_or_default();
        self.failed = Some(format!("{why} ({status}): {}", one_line(&err)));
    }
}

/// `bench-util turns`: the clients of one rep take turns on the core (the caller pins this
/// process, and so its children, to it). Each is started in turn and says `ready` when it has
/// set up; then each gets a turn for its probe and warm-up; then `turns` rounds in which each
/// runs one slice of its measured window, in an order shuffled every round. A turn is a
/// `go` line on the client's stdin and ends with its next line on stdout (`ready`, or its JSON
/// report after its last slice, and then its exit, waited for before the next turn); between
/// turns a client is blocked reading its stdin (a Go client's runtime may still finish work in
/// the background, e.g. closing its last connection; that time counts as Go's CPU). So every
/// client's window is spread over the same stretch of time as the others' instead of lying
/// after or before them, and a same-rep ratio compares clients under the same conditions of a
/// machine whose speed drifts. Prints, in the order given, each client's report, or
/// `FAIL<TAB>LABEL<TAB>why` for one that failed (it is then left out of the remaining turns).
fn turns_run(turns: usize, step: Duration, seed: u64, cmds: &[Vec<String>]) {
    let mut ts: Vec<Turner> = Vec::with_capacity(cmds.len());
    for c in cmds {
        let mut t = Turner::spawn(c);
        t.step(false, step);
        if t.failed.is_none() && t.last != "ready" {
            let l = t.last.clone();
            t.fail(&format!("said {l:?} when started"));
        }
        ts.push(t);
    }
    // Probe and warm-up, then the slices.
    for t in &mut ts {
        t.step(true, step);
        if t.failed.is_none() && t.last != "ready" {
            let l = t.last.clone();
            t.fail(&format!("said {l:?} after its probe and warm-up"));
        }
    }
    let n = ts.len();
    // The order of each round is a shuffle (xorshift64*, seeded by the rep, so a run can be
    // repeated): a fixed cyclic order would give every client the same predecessor in every
    // round, and whatever one client leaves behind (sockets closing, caches) would always land
    // on the same other one.
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for round in 0..turns {
        for i in (1..n).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for &k in &order {
            let t = &mut ts[k];
            t.step(true, step);
            if round + 1 < turns {
                if t.failed.is_none() && t.last != "ready" {
                    let l = t.last.clone();
                    t.fail(&format!("said {l:?} between turns"));
                }
            } else {
                // Its last slice: it prints its report and exits. Wait for the exit before the
                // next client's turn, so that its teardown (closing its connections, freeing its
                // runtime) does not run during another client's measured slice.
                t.finish(step);
            }
        }
    }
    for t in &ts {
        match &t.failed {
            None => println!("{}", t.last),
            Some(why) => println!("FAIL\t{}\t{}", t.label, one_line(why)),
        }
    }
}

/// `s` on one line of printable text (control characters as spaces), for a `FAIL` line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
