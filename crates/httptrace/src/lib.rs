//! # httptrace
//!
//! An HTTP client whose every request can be traced hook by hook, the way Go's
//! `net/http/httptrace` traces Go's client: DNS, each connect attempt, TLS, pool checkout and
//! return, every header field written, the 100-continue exchange, 1xx responses, the first
//! response byte, and more that Go lacks (whole calls, retries, redirects, body completion with
//! the connection's fate, pool waits).
//!
//! ```no_run
//! # async fn run() -> Result<(), httptrace::Error> {
//! use httptrace::{Client, ClientTrace};
//! let client = Client::new();
//! let trace = ClientTrace::new()
//!     .on_dns_done(|i| println!("dns: {:?}", i.addrs))
//!     .on_got_conn(|i| println!("conn {} reused={}", i.conn.id, i.reused))
//!     .on_got_first_response_byte(|| println!("first byte"));
//! let resp = client.get("http://localhost:8080/").trace(trace).send().await?;
//! println!("{}", resp.status());
//! let body = resp.into_body().bytes().await?;
//! # let _ = body; Ok(()) }
//! ```
//!
//! ## Cargo features
//!
//! - `native-roots` (default): HTTPS trusts the operating system's root certificates
//!   ([`ClientBuilder::native_roots`]), read with `rustls-native-certs`. Without it, a client
//!   trusts only what it is given ([`ClientBuilder::ca_file`],
//!   [`ClientBuilder::add_root_certificate_der`], `webpki-roots`), and its executable carries
//!   no code to find and read the system's certificate files.
//! - `webpki-roots`: the Mozilla roots compiled in ([`ClientBuilder::webpki_roots`]).
//! - `proxy` (default): proxies, as Go's transport has them: `HTTP_PROXY`, `HTTPS_PROXY` and
//!   `NO_PROXY` read from the environment when a client is built (Go's
//!   `ProxyFromEnvironment`), [`ClientBuilder::proxy`], HTTP CONNECT tunnels, forward proxying,
//!   HTTPS proxies and SOCKS5. Without it the environment's proxy variables are ignored
//!   (a `tracing` warning says so, once per process, when they name a proxy),
//!   `ClientBuilder::proxy` makes [`ClientBuilder::build`] fail, and the program carries none
//!   of the proxy code (about 39 KB of machine code in the benchmark's client).
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod error;
pub mod trace;

mod body;
mod client;
mod deadline;
mod dial;
mod h1;
mod h2;
mod incoming;
#[allow(unsafe_code)] // the one exception: see the module docs
mod outlined;
mod pool;
mod redirect;
mod route;
mod stream;
mod timings;

pub use body::Body;
pub use client::{Client, ClientBuilder, RequestBuilder};
pub use error::{BoxError, Error, Result, TimeoutKind};
pub use incoming::Incoming;
pub use timings::{HopTimings, Timings};
pub use trace::{
    BodyDoneInfo, ClientTrace, CloseReason, ConnClosedInfo, ConnInfo, ConnOutcome, DnsDoneInfo,
    DnsStartInfo, GotConnInfo, HeaderValues, NewConnInfo, NewConnReason, PoolWaitDoneInfo,
    PoolWaitReason, PoolWaitStartInfo, Protocol, RedirectInfo, RequestDoneInfo, RequestStartInfo,
    RequestTraceExt, ResponseHeadersInfo, RetryInfo, RetryReason, TlsState, TlsVersion,
    WroteRequestInfo,
};

/// Name resolution: the resolver trait and the resolvers that come with the crate.
pub mod dns {
    pub use crate::dial::{HostsResolver, Resolve, Resolving, StaticResolver, SystemResolver};
}
