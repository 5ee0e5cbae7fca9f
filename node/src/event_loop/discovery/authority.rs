//! Our authority to sign cards and join approvals for a group
//! ([`qun_protocol::discovery::authority`]).
//!
//! As the owner: the chain of `transfer` ops the fold took (from the group's stored
//! control ops, oldest first) and our roster of the group's admins. The roster held on our
//! card is kept while it names the admins the fold has; when they change (a promotion, a
//! demotion, an admin removed or banned, a transfer) we sign a new one, later than the
//! last, so cards under it supersede those of an admin who lost its rank.
//!
//! As an admin: the authority of the card we hold, if it makes us an admin of the owner
//! our fold has. Until the owner has published a card whose roster names us (its next
//! announcement round after the promotion), we cannot sign: cards and approvals wait.

use qun_protocol::discovery::authority::{Authority, SignedRoster};
use qun_protocol::group::{Role, State};
use qun_protocol::limits::MAX_AUTHORITY_TRANSFERS;
use qun_protocol::{Envelope, GroupId, Kind};

use crate::Error;
use crate::event_loop::{EventLoop, now_ms};

impl EventLoop {
    /// Our authority for `group`; see the module docs.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] when we are not an admin by our fold, when the owner has not
    /// yet published a roster naming us (`no_roster`), or when the group was handed on
    /// more than [`MAX_AUTHORITY_TRANSFERS`] times (`too_many_transfers`).
    pub(crate) fn own_authority(&self, group: &GroupId) -> Result<Authority, Error> {
        let rt = self
            .groups
            .get(group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        let me = self.identity.author();
        let held = self.records.card(group)?;
        match rt.state.role(&me) {
            Role::Member => Err(Error::not_allowed(
                "not_admin",
                "only the owner and admins sign for the group",
            )),
            Role::Admin => {
                let now = now_ms();
                held.filter(|c| {
                    c.authority
                        .verify(&rt.record.genesis, group, &me, now)
                        .is_ok_and(|s| s.role == Role::Admin && s.owner == rt.state.owner)
                })
                .map(|c| c.authority.clone())
                .ok_or_else(|| {
                    Error::not_allowed(
                        "no_roster",
                        "no card of the owner's names you an admin yet: wait for its next card",
                    )
                })
            }
            Role::Owner => {
                let transfers = self.transfer_chain(group)?;
                let held_roster = held.and_then(|c| c.authority.roster.clone());
                let fresh =
                    SignedRoster::create(&self.identity, *group, rt.state.admins.clone(), 0)?;
                let roster = match held_roster {
                    Some(r) if r.signer == me && r.value.admins == fresh.value.admins => r,
                    prev => {
                        let after = prev.map_or(0, |r| r.value.issued_ms + 1);
                        SignedRoster::create(
                            &self.identity,
                            *group,
                            fresh.value.admins,
                            now_ms().max(after),
                        )?
                    }
                };
                Ok(Authority {
                    transfers,
                    roster: Some(roster),
                })
            }
        }
    }

    /// The `transfer` ops of `group` the fold took, in group order.
    fn transfer_chain(&self, group: &GroupId) -> Result<Vec<Envelope>, Error> {
        let rt = self
            .groups
            .get(group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        let ops = self.store.control_ops(group)?;
        let mut chain = Vec::new();
        State::fold_log(&rt.record.genesis.genesis, &ops, |m, verdict| {
            if verdict.is_ok() && matches!(m.body.kind, Kind::Transfer(_)) {
                chain.push(m.envelope.clone());
            }
        });
        if chain.len() > MAX_AUTHORITY_TRANSFERS {
            return Err(Error::not_allowed(
                "too_many_transfers",
                format!(
                    "the group was handed on {} times; cards and approvals prove at most \
                     {MAX_AUTHORITY_TRANSFERS}",
                    chain.len()
                ),
            ));
        }
        Ok(chain)
    }
}
