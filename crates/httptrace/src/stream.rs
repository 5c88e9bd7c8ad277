//! The byte stream under a connection: TCP, or TLS over a stream (TLS to the target, possibly
//! inside a CONNECT tunnel that itself runs over TLS to an HTTPS proxy).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connected stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over another stream, behind a vtable: the rustls connection's code (reads, writes,
    /// and above all its drop glue, which rustc copies into every codegen unit that drops a
    /// `Stream` or anything holding one) is then compiled once, in the vtable. Its cost, an
    /// indirect call per read or write, is nothing beside the record's cryptography.
    Tls(Box<dyn TlsIo>),
}

/// A TLS stream over a [`Stream`] (object-safe, for [`Stream::Tls`]).
pub(crate) trait TlsIo: AsyncRead + AsyncWrite + Unpin + Send + Sync + fmt::Debug {
    /// The TCP socket under the TLS layers.
    #[cfg(target_os = "linux")]
    fn tcp(&self) -> &TcpStream;

    /// Queue a `close_notify` alert and write it out now, without waiting: see
    /// [`Stream`]'s `Drop`.
    fn close_notify(&mut self);

    /// Encrypt `buf` and write the records out now, without waiting (best effort): the
    /// stream is the transport of another TLS stream that is closing.
    fn write_now(&mut self, buf: &[u8]) -> io::Result<usize>;
}

impl TlsIo for tokio_rustls::client::TlsStream<Stream> {
    #[cfg(target_os = "linux")]
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0.tcp()
    }

    fn close_notify(&mut self) {
        let (io, tls) = self.get_mut();
        // Once per connection: rustls sends it at most once (a clean shutdown through
        // `poll_shutdown`, as `h2` does, already sent it).
        tls.send_close_notify();
        write_tls_now(io, tls);
    }

    fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (io, tls) = self.get_mut();
        let n = io::Write::write(&mut tls.writer(), buf)?;
        write_tls_now(io, tls);
        Ok(n)
    }
}

/// Write the records `tls` has queued to `io` until it has none or `io` would block.
fn write_tls_now(io: &mut Stream, tls: &mut rustls::ClientConnection) {
    struct Now<'a>(&'a mut Stream);
    impl io::Write for Now<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.write_now(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = Now(io);
    while tls.wants_write() {
        match tls.write_tls(&mut w) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

impl Stream {
    /// The TCP socket at the bottom of the stream (under any TLS layers, including TLS inside
    /// a CONNECT tunnel over TLS).
    #[cfg(target_os = "linux")]
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            Stream::Tls(s) => s.tcp(),
        }
    }

    /// Ask the kernel to send any delayed ACK now (`TCP_QUICKACK`), best effort.
    ///
    /// Called when a response body read stalls mid-body. A sender that holds its last short
    /// segment under Nagle until everything before it is acknowledged (nginx with
    /// `sendfile on; tcp_nopush on;`) otherwise waits for our delayed ACK, ~40 ms on Linux once
    /// the receive MSS estimate has grown large. The option is not sticky (the kernel leaves
    /// quick-ack mode again on its own), so it is set at each stall; errors are ignored. One
    /// `setsockopt` on Linux; a no-op elsewhere.
    #[inline]
    pub(crate) fn ack_now(&self) {
        #[cfg(target_os = "linux")]
        {
            let _ = socket2::SockRef::from(self.tcp()).set_tcp_quickack(true);
        }
    }
}

impl Stream {
    /// Write `buf` now if the socket takes it, without waiting.
    fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Tls(s) => s.write_now(buf),
        }
    }
}

/// Closing a TLS stream sends TLS's `close_notify` first, as Go's `tls.Conn.Close` and
/// hyper-util's clients (through `poll_shutdown`) do: without it the server sees a TCP EOF
/// that a truncation attack would also produce (rustls reports `UnexpectedEof`, OpenSSL
/// "unexpected eof while reading"). Best effort and without waiting, as a drop cannot wait: the
/// alert (31 bytes) is written if the socket takes it now, which an idle connection's always
/// does; a connection whose send buffer is full, or already broken, closes without it. One
/// write a TLS connection (two system calls on Linux, see below); nothing for TCP.
impl Drop for Stream {
    fn drop(&mut self) {
        if let Stream::Tls(s) = self {
            #[cfg(target_os = "linux")]
            cork_if_closing_cleanly(s.tcp());
            s.close_notify();
        }
    }
}

/// Linux: hold the alert back (TCP_CORK) so that the close right after sends it with the FIN,
/// in one segment: in its own segment it would wake the server once more. Measured over 2,100
/// new TLS connections on loopback: 14.3 segments a connection (both directions) with the alert
/// alone, 13.3 corked, as many as without the alert.
///
/// Only when nothing received is left unread (a peek finds nothing; tokio's sockets are
/// non-blocking, so it does not wait): closing a
/// socket with unread data sends a reset instead of the FIN and drops what is still queued to
/// send, which a corked alert would be; uncorked, it is on its way before the reset. That is
/// the case of a response dropped before its end, or of a server that wrote after the response.
#[cfg(target_os = "linux")]
fn cork_if_closing_cleanly(tcp: &TcpStream) {
    let sock = socket2::SockRef::from(tcp);
    let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    let nothing_unread = match sock.peek(&mut probe) {
        // The peer's FIN, and nothing before it: the close sends a FIN, not a reset.
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    };
    if nothing_unread {
        let _ = sock.set_tcp_cork(true);
    }
}

impl AsyncRead for Stream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ack_now_sets_tcp_quickack() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let _server = accepted.unwrap();
        let client = client.unwrap();
        let sock = socket2::SockRef::from(&client);
        // Start from a known state: quick-ack mode off.
        sock.set_tcp_quickack(false).unwrap();
        assert!(!sock.tcp_quickack().unwrap());
        let stream = Stream::Tcp(client);
        stream.ack_now();
        // Read back at once: the kernel may leave quick-ack mode again on its own later.
        let sock = socket2::SockRef::from(stream.tcp());
        assert!(
            sock.tcp_quickack().unwrap(),
            "TCP_QUICKACK is 1 after ack_now"
        );
    }

    /// Through TLS, `tcp` reaches the socket under the TLS layer (the vtable's `TlsIo::tcp`),
    /// and `ack_now` sets the option there.
    #[tokio::test]
    async fn ack_now_reaches_the_socket_under_tls() {
        use crate::dial::tls::test_certs::{pki, server_config, tls_server};
        use crate::dial::tls::{TlsConnector, TlsOptions};
        use crate::trace::Tracer;
        let p = pki(&["localhost"]);
        let addr = tls_server("127.0.0.1:0", server_config(&p, &[])).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        socket2::SockRef::from(&tcp)
            .set_tcp_quickack(false)
            .unwrap();
        let local = tcp.local_addr().unwrap();
        let c = TlsConnector::new(&TlsOptions {
            use_native_roots: false,
            extra_roots_der: vec![p.ca_der.clone()],
            ..TlsOptions::default()
        })
        .unwrap();
        let (stream, _) = c
            .handshake(
                Stream::Tcp(tcp),
                "localhost",
                crate::dial::tls::Alpn::Http1,
                &Tracer::none(),
            )
            .await
            .unwrap();
        assert!(matches!(stream, Stream::Tls(_)));
        assert_eq!(stream.tcp().local_addr().unwrap(), local);
        stream.ack_now();
        assert!(socket2::SockRef::from(stream.tcp()).tcp_quickack().unwrap());
    }

    /// A TLS server on loopback that accepts one connection and reports how its reads ended:
    /// `Ok(0)` after a `close_notify`, `UnexpectedEof` on a bare TCP EOF.
    async fn one_tls_conn() -> (
        std::net::SocketAddr,
        crate::dial::tls::test_certs::TestPki,
        tokio::sync::oneshot::Receiver<io::Result<usize>>,
    ) {
        use crate::dial::tls::test_certs::{pki, server_config};
        use tokio::io::AsyncReadExt;
        let p = pki(&["localhost"]);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&p, &[]));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut buf = [0u8; 64];
            let _ = tx.send(tls.read(&mut buf).await);
        });
        (addr, p, rx)
    }

    async fn tls_client(
        addr: std::net::SocketAddr,
        ca: &rustls::pki_types::CertificateDer<'static>,
    ) -> Stream {
        use crate::dial::tls::{TlsConnector, TlsOptions};
        let c = TlsConnector::new(&TlsOptions {
            use_native_roots: false,
            extra_roots_der: vec![ca.clone()],
            ..TlsOptions::default()
        })
        .unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        c.handshake(
            Stream::Tcp(tcp),
            "localhost",
            crate::dial::tls::Alpn::Http1,
            &crate::trace::Tracer::none(),
        )
        .await
        .unwrap()
        .0
    }

    /// Dropping a TLS stream sends `close_notify`: the server's read ends cleanly, not with an
    /// unexpected EOF.
    #[tokio::test]
    async fn dropping_a_tls_stream_sends_close_notify() {
        let (addr, p, ended) = one_tls_conn().await;
        let stream = tls_client(addr, &p.ca_der).await;
        drop(stream);
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), ended)
            .await
            .expect("the server's read ends")
            .unwrap();
        assert_eq!(
            r.ok(),
            Some(0),
            "a clean TLS close (close_notify), not a bare EOF"
        );
    }

    /// With received data left unread, closing resets the connection instead of sending a
    /// FIN: the alert is still sent first (not held back for a FIN that never comes).
    #[tokio::test]
    async fn close_notify_is_sent_even_with_unread_data() {
        use crate::dial::tls::test_certs::{pki, server_config};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let p = pki(&["localhost"]);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(&p, &[]));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (wrote_tx, wrote_rx) = tokio::sync::oneshot::channel();
        let (tx, ended) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (tcp, _) = l.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            // Data the client never reads (a server writing after its response).
            tls.write_all(b"late bytes").await.unwrap();
            tls.flush().await.unwrap();
            let _ = wrote_tx.send(());
            let mut buf = [0u8; 64];
            let _ = tx.send(tls.read(&mut buf).await);
        });
        let stream = tls_client(addr, &p.ca_der).await;
        wrote_rx.await.unwrap();
        // Let the bytes reach the client's socket (loopback delivers them within the write;
        // this is margin).
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        drop(stream);
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), ended)
            .await
            .expect("the server's read ends")
            .unwrap();
        assert_eq!(
            r.map_err(|e| e.kind()).ok(),
            Some(0),
            "the alert arrives before the reset"
        );
    }

    /// The check above can fail: a TLS stream closed without `close_notify` (its TCP socket
    /// shut down under it) is an unexpected EOF to the server.
    #[tokio::test]
    async fn a_bare_tcp_close_is_an_unexpected_eof_to_the_server() {
        let (addr, p, ended) = one_tls_conn().await;
        let stream = tls_client(addr, &p.ca_der).await;
        socket2::SockRef::from(stream.tcp())
            .shutdown(std::net::Shutdown::Both)
            .unwrap();
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), ended)
            .await
            .expect("the server's read ends")
            .unwrap();
        assert_eq!(
            r.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::UnexpectedEof)
        );
        drop(stream);
    }
}
