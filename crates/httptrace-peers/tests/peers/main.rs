//! Integration tests for httptrace-peers, using raw tokio clients.

mod common;
mod http1;
mod proxy;
mod raw;
mod socks;
mod tls_h2;
