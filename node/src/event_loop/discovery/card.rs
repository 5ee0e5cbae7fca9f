//! Signing our groups' cards: the owner and each admin sign a fresh card, with their
//! authority ([`super::authority`]), when what it says changed, when their authority is
//! newer than the held card's, or when it is an hour old. An admin compares the held card
//! without its addresses when another signed it, so the owner and admins do not take turns
//! re-signing for their own addresses; an admin without a roster naming it signs nothing.

use std::time::Duration;

use qun_protocol::GroupId;
use qun_protocol::discovery::VERSION;
use qun_protocol::discovery::card::{Card, ProvenCard};
use qun_protocol::group::Visibility;
use qun_protocol::limits::MAX_CARD_ADDRS;
use qun_protocol::message::Meta;

use crate::event_loop::{EventLoop, now_ms};

/// The owner and admins re-sign a card at least this often, so members and searchers see
/// a recent member count and addresses.
const CARD_REFRESH: Duration = Duration::from_secs(3600);

impl EventLoop {
    /// Addresses for a card: two of ours, then one each of members connected to us and
    /// subscribed to the group (so a joiner reaches the group while we are away).
    fn card_addrs(&self, g: &GroupId) -> Vec<Vec<u8>> {
        let mut out = self.own_addrs_bin(2);
        let Some(rt) = self.groups.get(g) else {
            return out;
        };
        let topics: Vec<_> = rt.topics.iter().map(|(_, t)| t.clone()).collect();
        for p in self.net.subscribers(&topics) {
            if out.len() >= MAX_CARD_ADDRS {
                break;
            }
            let addr = self.net.reported_addrs(&p).and_then(|a| {
                a.iter()
                    .map(|a| crate::peers::with_peer(a, p).to_vec())
                    .find(|b| b.len() <= qun_protocol::limits::MAX_ADDR_BYTES)
            });
            out.extend(addr);
        }
        out
    }

    /// Signs a new card for a group we own or administer if what it says changed, our
    /// authority is newer than the held card's, or it is old (see the module docs). An
    /// admin without a roster naming it yet signs nothing.
    pub(crate) fn refresh_card(&mut self, g: GroupId) -> Result<(), crate::Error> {
        let authority = match self.own_authority(&g) {
            Ok(a) => a,
            Err(crate::Error::NotAllowed { rule, reason }) => {
                tracing::debug!(group = %g, rule, %reason, "not signing a card");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let Some(rt) = self.groups.get(&g) else {
            return Ok(());
        };
        let secret = match rt.record.genesis.genesis.visibility {
            Visibility::Public => rt.record.current().map(|e| (e.epoch, e.secret.clone())),
            _ => None,
        };
        let mut fresh = Card {
            version: VERSION,
            genesis: rt.record.genesis.clone(),
            meta: Meta {
                description: rt.state.description.clone(),
                tags: rt.state.tags.clone(),
            },
            members: rt.state.members.len().min(u32::MAX as usize) as u32,
            addrs: self.card_addrs(&g),
            secret,
            issued_ms: now_ms(),
        };
        if let Some(held) = self.records.card(&g)? {
            let mine = held.signer == self.identity.author();
            let same = Card {
                issued_ms: held.value.issued_ms,
                addrs: if mine {
                    fresh.addrs.clone()
                } else {
                    held.value.addrs.clone()
                },
                ..fresh.clone()
            } == held.value;
            let current = held.authority == authority;
            let age = fresh.issued_ms.saturating_sub(held.value.issued_ms);
            if same && current && age < CARD_REFRESH.as_millis() as u64 {
                return Ok(());
            }
            fresh.issued_ms = fresh.issued_ms.max(held.value.issued_ms + 1);
        }
        let signed = ProvenCard::create(&self.identity, fresh, authority)?;
        self.records.put_card(&g, &signed)?;
        self.disc.found_cards.insert(g, signed);
        Ok(())
    }
}
