//! History catch-up over `/qun/sync/1` (the simple baseline; see `qun_protocol::sync`).
//!
//! When a peer subscribes to one of our group topics we ask it for the group's messages,
//! page by page. Every frame it returns goes through `frame::open`, like gossip; one bad
//! frame and the rest of the page is dropped, the peer is disconnected and not asked
//! again this session. Inbound requests are served from the store, sealed with the epoch
//! keys (only members can read them), at most [`MAX_REQUESTS_PER_WINDOW`] per peer per
//! [`RATE_WINDOW`].

use std::time::{Duration, Instant};

use libp2p::PeerId;
use libp2p::request_response::{self, Message, ResponseChannel};
use qun_protocol::frame::{self, seal_verified};
use qun_protocol::sync::{MAX_PAGE, MAX_PAGE_BYTES, Request, Response};
use qun_protocol::{GroupId, OrderKey};

use super::{EventLoop, nonce};
use crate::NodeEvent;

/// Length of the inbound rate-limit window.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Inbound sync requests served per peer per window; more are answered empty.
pub const MAX_REQUESTS_PER_WINDOW: u32 = 100;

impl EventLoop {
    /// Asks `peer` for `group`'s messages after `after`.
    pub(crate) fn request_sync(&mut self, peer: PeerId, group: GroupId, after: Option<OrderKey>) {
        if self.bad_sync_peers.contains(&peer) {
            return;
        }
        let req = Request {
            group,
            after,
            limit: MAX_PAGE,
        };
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, req);
        self.sync_pending.insert(id, (peer, group));
    }

    pub(crate) fn handle_sync(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request, channel, ..
                } => self.serve_sync(peer, request, channel),
                Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((peer, group)) = self.sync_pending.remove(&request_id) {
                        self.apply_sync(peer, group, response);
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                self.sync_pending.remove(&request_id);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "sync response failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn rate_ok(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        let entry = self.sync_rate.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) > RATE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= MAX_REQUESTS_PER_WINDOW
    }

    fn serve_sync(&mut self, peer: PeerId, req: Request, channel: ResponseChannel<Response>) {
        let mut resp = Response {
            frames: Vec::new(),
            more: false,
        };
        if self.rate_ok(peer) {
            if let Err(e) = self.fill_page(&req, &mut resp) {
                tracing::warn!(%peer, error = %e, "could not serve sync");
            }
        } else {
            tracing::debug!(%peer, "sync rate limit");
        }
        let _ = self.swarm.behaviour_mut().sync.send_response(channel, resp);
    }

    fn fill_page(&self, req: &Request, resp: &mut Response) -> Result<(), crate::Error> {
        let Some(rt) = self.groups.get(&req.group) else {
            return Ok(());
        };
        let limit = req.limit.clamp(1, MAX_PAGE) as usize;
        let page = self
            .store
            .page_after(&req.group, req.after.as_ref(), limit + 1)?;
        let mut bytes = 0;
        for (i, msg) in page.iter().enumerate() {
            if i == limit || bytes > MAX_PAGE_BYTES {
                resp.more = true;
                break;
            }
            let Some(key) = rt.keys.get(&msg.body.epoch) else {
                continue;
            };
            let f = seal_verified(msg, key, nonce()?)
                .and_then(|f| f.encode())
                .map_err(|e| crate::Error::Invalid(e.to_string()))?;
            bytes += f.len();
            resp.frames.push(f);
        }
        Ok(())
    }

    fn apply_sync(&mut self, peer: PeerId, group: GroupId, resp: Response) {
        let Some(rt) = self.groups.get(&group) else {
            return;
        };
        let keys = rt.keys.clone();
        let mut last = None;
        let mut new = 0usize;
        for bytes in &resp.frames {
            let msg = match frame::open(bytes, &group, |e| keys.get(&e).cloned()) {
                Ok(m) => m,
                Err(e) if !e.is_sender_fault() => continue,
                Err(e) => {
                    tracing::warn!(%peer, %group, error = %e, "sync peer served an invalid frame");
                    self.emit(NodeEvent::Rejected {
                        peer: peer.to_string(),
                        reason: e.to_string(),
                    });
                    self.bad_sync_peers.insert(peer);
                    let _ = self.swarm.disconnect_peer_id(peer);
                    return;
                }
            };
            last = Some(msg.order_key());
            match self.accept(&msg) {
                Ok(true) => new += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "could not store synced message"),
            }
        }
        tracing::debug!(%peer, %group, new, more = resp.more, "sync page applied");
        if resp.more && last.is_some() {
            self.request_sync(peer, group, last);
        }
    }
}
