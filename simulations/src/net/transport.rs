//! [`SimTransport`]: libp2p's `Transport` over the simulated network.
//!
//! It speaks `/memory/<port>` addresses (an optional `/p2p/<peer id>` suffix is ignored), so
//! the swarm dials and listens as it would on any transport; noise (or plaintext) and yamux
//! are layered on top by the usual upgrade, in [`crate::sim`].

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::{BoxFuture, Ready};
use futures::io::{AsyncRead, AsyncWrite};
use libp2p::Multiaddr;
use libp2p::core::transport::{DialOpts, ListenerId, Transport, TransportError, TransportEvent};
use libp2p::multiaddr::Protocol;
use tokio::sync::mpsc;

use super::pipe::{Reader, Writer};
use super::{Incoming, Network, handshake_delay};

/// A connection: one pipe to read, one to write.
pub struct SimConn {
    reader: Reader,
    writer: Writer,
}

impl SimConn {
    pub(crate) fn new(reader: Reader, writer: Writer) -> Self {
        Self { reader, writer }
    }
}

impl AsyncRead for SimConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_close(cx)
    }
}

struct Listening {
    id: ListenerId,
    port: u64,
    token: u64,
    rx: mpsc::UnboundedReceiver<Incoming>,
}

/// One node's transport on a [`Network`].
pub struct SimTransport {
    net: Network,
    node: usize,
    listeners: Vec<Listening>,
    events: VecDeque<TransportEvent<Ready<Result<SimConn, io::Error>>, io::Error>>,
}

impl SimTransport {
    pub(crate) fn new(net: Network, node: usize) -> Self {
        Self {
            net,
            node,
            listeners: Vec::new(),
            events: VecDeque::new(),
        }
    }
}

fn memory_addr(port: u64) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Memory(port))
}

/// The port of `/memory/<port>[/p2p/<id>]`.
fn parse(addr: &Multiaddr) -> Option<u64> {
    let mut it = addr.iter();
    let Some(Protocol::Memory(port)) = it.next() else {
        return None;
    };
    match it.next() {
        None | Some(Protocol::P2p(_)) => {}
        Some(_) => return None,
    }
    it.next().is_none().then_some(port)
}

impl Drop for SimTransport {
    fn drop(&mut self) {
        for l in &self.listeners {
            self.net.unlisten(l.port, l.token);
        }
    }
}

impl Transport for SimTransport {
    type Output = SimConn;
    type Error = io::Error;
    type ListenerUpgrade = Ready<Result<SimConn, io::Error>>;
    type Dial = BoxFuture<'static, Result<SimConn, io::Error>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let Some(port) = parse(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let (port, token, rx) = self
            .net
            .listen(self.node, port)
            .map_err(TransportError::Other)?;
        self.listeners.push(Listening {
            id,
            port,
            token,
            rx,
        });
        self.events.push_back(TransportEvent::NewAddress {
            listener_id: id,
            listen_addr: memory_addr(port),
        });
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        let Some(i) = self.listeners.iter().position(|l| l.id == id) else {
            return false;
        };
        let l = self.listeners.remove(i);
        self.net.unlisten(l.port, l.token);
        self.events.push_back(TransportEvent::ListenerClosed {
            listener_id: id,
            reason: Ok(()),
        });
        true
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let Some(port) = parse(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let net = self.net.clone();
        let node = self.node;
        let delay = handshake_delay(&net.link());
        Ok(Box::pin(async move {
            tokio::time::sleep(delay).await;
            net.connect(node, port)
        }))
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        if let Some(ev) = self.events.pop_front() {
            return Poll::Ready(ev);
        }
        for l in &mut self.listeners {
            if let Poll::Ready(Some(inc)) = l.rx.poll_recv(cx) {
                return Poll::Ready(TransportEvent::Incoming {
                    listener_id: l.id,
                    upgrade: futures::future::ready(Ok(inc.conn)),
                    local_addr: memory_addr(l.port),
                    send_back_addr: memory_addr(inc.from_port),
                });
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_memory_addresses_only() {
        let a: Multiaddr = "/memory/42".parse().unwrap();
        assert_eq!(parse(&a), Some(42));
        let b: Multiaddr = "/memory/42/p2p/12D3KooWGRUVh4ZhvhZ7CswxACGDEt9JtRnB1scbBttyS9Ev4Kx7"
            .parse()
            .unwrap();
        assert_eq!(parse(&b), Some(42));
        let c: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        assert_eq!(parse(&c), None);
    }
}
