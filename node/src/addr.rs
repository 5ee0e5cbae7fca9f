//! [`Addr`]: a network address as the node's clients write it. A leaf module (it
//! imports nothing of the node), so the configuration and the network both use it.
//!
//! The node speaks libp2p, whose addresses are multiaddrs (`/ip4/192.0.2.1/tcp/4001/p2p/
//! 12D3KooW…`). Clients (the CLI's `--listen` and `--bootstrap`, a [`crate::Config`] built
//! by an embedder) only parse and print them, so they get this newtype with `FromStr` and
//! `Display` and never name a libp2p type; the node reads the parts. The simulator, which
//! builds memory addresses, converts from a multiaddr through [`crate::testing`].

use std::fmt;
use std::str::FromStr;

use libp2p::Multiaddr;

/// A network address of a node, e.g. `/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW…` (the text
/// form of a libp2p multiaddr; `/p2p/PEER` names the node to expect there).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Addr(Multiaddr);

/// Why a text is not an address.
#[derive(Debug, Clone, thiserror::Error)]
#[error("not a network address ({reason}): write it as /ip4/IP/tcp/PORT[/p2p/PEER]")]
pub struct AddrError {
    /// What the parser said.
    pub reason: String,
}

impl Addr {
    /// The multiaddr (inside the node).
    pub(crate) fn multiaddr(&self) -> &Multiaddr {
        &self.0
    }

    /// `/ip4/IP/tcp/0`: TCP on `ip`, any free port.
    pub(crate) fn tcp_any_port(ip: std::net::Ipv4Addr) -> Addr {
        use libp2p::multiaddr::Protocol;
        Addr(
            Multiaddr::empty()
                .with(Protocol::Ip4(ip))
                .with(Protocol::Tcp(0)),
        )
    }
}

impl FromStr for Addr {
    type Err = AddrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .parse::<Multiaddr>()
            .map(Addr)
            .map_err(|e| AddrError {
                reason: e.to_string(),
            })
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Addr({})", self.0)
    }
}

impl From<Multiaddr> for Addr {
    fn from(m: Multiaddr) -> Self {
        Addr(m)
    }
}

impl From<Addr> for Multiaddr {
    fn from(a: Addr) -> Self {
        a.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_same_text() {
        let text = "/ip4/127.0.0.1/tcp/4001";
        let a: Addr = text.parse().unwrap();
        assert_eq!(a.to_string(), text);
        assert!("not an address".parse::<Addr>().is_err());
    }
}
