//! HTTP/1.1 over a connection: the driver around the sans-IO codec of `httptrace-proto`.

pub(crate) mod conn;
pub(crate) mod round_trip;
