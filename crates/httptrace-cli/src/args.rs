//! Command-line arguments (clap derive).
//!
//! The flag set is the one the conformance runner drives (`-X`, `-H`, `--data-binary`, `--repeat`,
//! `--concurrency`, `--proxy`, `--cacert`, `--http2`/`--http1.1`, `--expect-100-timeout`,
//! `--no-keepalive`, `--max-idle-per-host`, `--abort-on-1xx`, `--dns`, `--events`) plus what curl
//! users expect (`-d`, `-o`, `-k`, `-L`, `--max-redirs`, `--resolve`, `--connect-timeout`, `-m`,
//! `--json`, `-v`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Trace an HTTP request hook by hook, the way Go's net/http/httptrace sees it.
#[derive(Parser, Debug)]
#[command(
    name = "httptrace",
    version,
    about,
    long_about = "Trace an HTTP request hook by hook (DNS, connect, TLS, pool, every header \
                  written, 100-continue, 1xx, first byte), the way Go's net/http/httptrace \
                  sees it.\n\nDefault output is a per-request summary with the phases in \
                  milliseconds; `--events ndjson` prints one JSON object per hook; `--json` \
                  prints one JSON summary per request. `httptrace demo` tours every hook \
                  against local servers.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// A subcommand (`demo`); without one, URL is requested.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The request options.
    #[command(flatten)]
    pub request: RequestArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start local servers (HTTP/1.1, HTTPS, HTTP/2, 100-continue, 103 Early Hints, a CONNECT
    /// proxy) and trace a tour of requests against them. Nothing leaves the machine.
    Demo,
}

/// Machine-readable event streams.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventsFormat {
    /// Go's sixteen hooks plus one `result` line per request (the conformance contract).
    Ndjson,
    /// Go's hooks, `result`, and httptrace's beyond-Go events (request_start, request_done,
    /// retry, redirect, got_response_headers, response_body_done, conn_closed,
    /// pool_wait_start, pool_wait_done, new_conn).
    NdjsonAll,
}

/// Where names are resolved.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DnsMode {
    /// The operating system's resolver (getaddrinfo).
    #[default]
    System,
    /// /etc/hosts only: other names fail at once, no DNS packet is sent.
    Hosts,
}

/// Options of a traced request run.
#[derive(Args, Debug, Default)]
pub struct RequestArgs {
    /// The URL to request (`http://` is assumed when no scheme is given).
    #[arg(required = true, value_name = "URL")]
    pub url: Option<String>,

    /// Request method (default GET, or POST when data is given).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<String>,

    /// Add a request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Send DATA as the body, curl's `-d`: `@FILE` reads a file (`@-` stdin) and strips CR and
    /// LF; several are joined with `&`. Implies POST and `Content-Type:
    /// application/x-www-form-urlencoded` unless given.
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATA",
        conflicts_with = "data_binary"
    )]
    pub data: Vec<String>,

    /// Send DATA exactly as given (`@FILE` reads a file byte for byte, `@-` stdin); several are
    /// joined with `&`. Implies POST unless -X is given. No Content-Type is added.
    #[arg(long = "data-binary", value_name = "DATA")]
    pub data_binary: Vec<String>,

    /// Write the response body to FILE (`-` for stdout) instead of discarding it. With
    /// `--repeat`, only the first request's body is written.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Perform N requests one after another on one client (connections are reused).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,

    /// Run the `--repeat` requests on N concurrent workers sharing the client.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// Send every request through this proxy (`http://`, `https://`, `socks5://`,
    /// `socks5h://`), loopback targets included. An empty string disables proxies. Without
    /// it, HTTP_PROXY / HTTPS_PROXY / NO_PROXY apply.
    #[arg(short = 'x', long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Trust only the CA certificates in this PEM file (instead of the system roots).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Accept any server certificate (testing only: removes TLS's protection).
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// Resume TLS sessions across the run's connections. Off by default, as in Go's client
    /// (which resumes only when given a session cache), so traces compare with Go's.
    #[arg(long = "tls-resume")]
    pub tls_resume: bool,

    /// HTTP/1.1 only (no ALPN h2).
    #[arg(long = "http1.1", group = "http_version")]
    pub http1_1: bool,

    /// Allow HTTP/2 when the server selects it by ALPN over TLS (the default).
    #[arg(long = "http2", group = "http_version")]
    pub http2: bool,

    /// HTTP/2 without negotiation (h2c over cleartext, ALPN h2 only over TLS).
    #[arg(long = "http2-prior-knowledge", group = "http_version")]
    pub http2_prior_knowledge: bool,

    /// How long to wait for `100 Continue` before sending the body anyway, in milliseconds.
    #[arg(long = "expect-100-timeout", value_name = "MS", default_value_t = 1000)]
    pub expect_100_timeout: u64,

    /// Disable keep-alive: every request dials and sends `Connection: close`.
    #[arg(long = "no-keepalive")]
    pub no_keepalive: bool,

    /// Idle connections kept per host, with Go's meaning: 0 is Go's default (2), a negative
    /// number turns pooling off (connections close after each response, no put_idle_conn).
    #[arg(
        long = "max-idle-per-host",
        value_name = "N",
        default_value_t = 2,
        allow_negative_numbers = true
    )]
    pub max_idle_per_host: i64,

    /// Make the got_1xx_response hook return an error, which aborts the request.
    #[arg(long = "abort-on-1xx")]
    pub abort_on_1xx: bool,

    /// Name resolution: `system` (getaddrinfo) or `hosts` (/etc/hosts only, no DNS packet).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = DnsMode::System)]
    pub dns: DnsMode,

    /// Resolve HOST to ADDR (curl's `HOST:PORT:ADDR[,ADDR]...`; repeatable). The port is
    /// accepted for compatibility but ignored: HOST resolves to ADDR for every port.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,

    /// Follow redirects.
    #[arg(short = 'L', long = "location")]
    pub location: bool,

    /// Redirects followed at most with -L; -1 for no limit (as curl).
    #[arg(long = "max-redirs", value_name = "N", default_value_t = 10,
          allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-1..=i64::from(u32::MAX)))]
    pub max_redirs: i64,

    /// Limit on establishing each TCP connection, in seconds (fractions allowed).
    #[arg(long = "connect-timeout", value_name = "SECS")]
    pub connect_timeout: Option<f64>,

    /// Limit on each whole request, body included, in seconds (fractions allowed).
    #[arg(short = 'm', long = "max-time", value_name = "SECS")]
    pub max_time: Option<f64>,

    /// Print every hook as one JSON object per line on stdout: `ndjson` (Go's sixteen hooks
    /// and one `result` per request) or `ndjson-all` (plus httptrace's own events).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
    pub events: Option<EventsFormat>,

    /// Print one JSON summary object per request (status, phases, connection facts).
    #[arg(long)]
    pub json: bool,

    /// Also list every hook with its time offset, and the response headers.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}
