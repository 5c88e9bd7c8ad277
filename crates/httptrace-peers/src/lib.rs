//! In-process HTTP peers for httptrace's offline demo and integration tests.
//!
//! Every peer is written directly on tokio, listens on `127.0.0.1:0` (some
//! optionally also on `[::1]`), and is torn down when its handle is dropped.
//! Nothing a client sends can make a peer panic: bad input just closes the
//! connection (after an error response where HTTP allows one).
//!
//! - [`ca`]: a throw-away CA and leaf certificates ([`TestCa`]).
//! - [`http1`]: an HTTP/1.1 server (TLS, ALPN h2, h2c prior knowledge).
//! - [`mod@h2`]: HTTP/2 serving of one connection.
//! - [`raw`]: a scripted raw-TCP peer for exact-byte edge cases.
//! - [`proxy`]: an HTTP proxy (CONNECT tunnels and forward proxying).
//! - [`socks`]: a SOCKS5 proxy.

#![deny(missing_docs)]

pub mod ca;
pub mod h2;
pub mod http1;
pub mod proxy;
pub mod raw;
pub mod socks;
mod util;

pub use ca::{Leaf, TestCa};
pub use http1::{
    Body, ContinuePolicy, Handler, Request, Response, Server, ServerBuilder, ServerHandle,
};
pub use proxy::{Proxy, ProxyConfig, ProxyHandle, ProxyRequest};
pub use raw::{PeerHandle, Script, ScriptedPeer, Step};
pub use socks::{Socks5Handle, Socks5Proxy, SocksRequest};
