//! Admission of the report channel's connections: the listening socket (with a backlog deep
//! enough for a fleet connecting at once), and the accepted connections, at most a fixed number
//! open at once, each after its handshake. Does I/O (binds, accepts, TLS handshakes).
//!
//! Decision: a connection costs its TLS session and HTTP/2 buffers (tens of KiB) from its
//! handshake until it closes, whatever it carries. Thousands of agents connecting at once (after
//! an operator restart, say) would hold thousands of them while their reports wait for the API
//! server, so the memory of a burst would grow with the fleet. A connection is only accepted
//! once one of [`MAX_OPEN`] slots is free; the others wait in the kernel's accept queue (no
//! memory of ours) and are taken in turn as reports finish, at the pace the API server sets.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

/// How many connections are open at most (handshaking or serving): twice the report path's
/// default API concurrency keeps every API slot busy while the next reports shake hands, and
/// bounds a burst's memory to a few MiB.
pub const MAX_OPEN: usize = 64;
/// The accept queue's length asked of the kernel (which caps it at `net.core.somaxconn`).
const BACKLOG: u32 = 4096;
/// How long a handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr` with a deep accept queue.
///
/// # Errors
/// When the address cannot be bound.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// An accepted connection holding one of the open slots until it is dropped.
#[derive(Debug)]
pub struct Admitted<IO> {
    io: IO,
    _slot: OwnedSemaphorePermit,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Admitted<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Admitted<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl<IO: Connected> Connected for Admitted<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// The connections of `listener`, at most `max_open` open at once, each once `handshake` (TLS,
/// or none) has completed within [`HANDSHAKE_TIMEOUT`]; handshakes run side by side, so a slow
/// client holds up no other. Ends when `stop` turns true.
pub fn incoming<IO, H, F>(
    listener: TcpListener,
    max_open: usize,
    handshake: H,
    mut stop: watch::Receiver<bool>,
) -> ReceiverStream<io::Result<Admitted<IO>>>
where
    IO: Send + 'static,
    H: Fn(TcpStream) -> F + Send + 'static,
    F: Future<Output = io::Result<IO>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    let slots = Arc::new(Semaphore::new(max_open.max(1)));
    tokio::spawn(async move {
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return,
                },
                () = super::stopped(&mut stop) => return,
            };
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "failed to accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = super::stopped(&mut stop) => return,
            };
            let (shaking, tx) = (handshake(tcp), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, shaking).await {
                    Ok(Ok(io)) => {
                        let _ = tx.send(Ok(Admitted { io, _slot: slot })).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "handshake failed"),
                    Err(_) => tracing::debug!(%peer, "handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests;
