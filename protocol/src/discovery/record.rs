//! The one validation path for DHT records and provider announcements.
//!
//! A qun node runs Kademlia with `StoreInserts::FilterBoth`: every record put to it
//! (by a publisher or by replication) and every provider announcement comes here first,
//! and only what passes is stored. Records we fetch pass here too before we use them.
//!
//! * `/qun/card/<group id>` → a [`ProvenCard`] whose genesis hashes to that id, signed by
//!   the owner or an admin its authority proves ([`super::authority`]); a bare
//!   [`super::card::SignedCard`] is read as the genesis owner's;
//! * `/qun/profile/<author>` → a [`SignedProfile`] signed by that author;
//! * `/qun/invite/<locator key>` → a short invite's sealed record, signed by that key
//!   ([`crate::invite::short::validate`]);
//! * provider keys → only the keyword key shape ([`super::keywords::is_provider_key`]);
//! * any other key is refused.

use super::Error;
use super::card::{self, ProvenCard};
use super::keywords;
use super::profile::{self, SignedProfile};
use crate::id::{AuthorId, GroupId};
use crate::invite::short::{self, SignedInviteRecord};

/// A validated DHT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A group card.
    Card(Box<ProvenCard>),
    /// A profile.
    Profile(Box<SignedProfile>),
    /// A short invite's sealed record.
    Invite(Box<SignedInviteRecord>),
}

impl Record {
    /// Whether this record should replace `other` under the same key (newest wins; a
    /// record of another type never replaces).
    pub fn is_newer_than(&self, other: &Record) -> bool {
        match (self, other) {
            (Record::Card(a), Record::Card(b)) => a.is_newer_than(b),
            (Record::Profile(a), Record::Profile(b)) => a.is_newer_than(b),
            // Only holders of the code can sign one; the later expiry wins.
            (Record::Invite(a), Record::Invite(b)) => a.value.expires_ms > b.value.expires_ms,
            _ => false,
        }
    }
}

/// Decodes and checks a record stored under `key`.
pub fn validate(key: &[u8], value: &[u8], now_ms: u64) -> Result<Record, Error> {
    if let Some(rest) = key.strip_prefix(card::KEY_PREFIX) {
        let id = GroupId::from_bytes(rest.try_into().map_err(|_| Error::WrongKey)?);
        let card = ProvenCard::decode_record(value, now_ms)?;
        if card.value.group()? != id {
            return Err(Error::WrongKey);
        }
        return Ok(Record::Card(Box::new(card)));
    }
    if let Some(rest) = key.strip_prefix(profile::KEY_PREFIX) {
        let bytes: [u8; 32] = rest.try_into().map_err(|_| Error::WrongKey)?;
        let author = AuthorId::from_bytes(bytes).map_err(|_| Error::WrongKey)?;
        let profile = SignedProfile::decode_profile(value, now_ms)?;
        if profile.signer != author {
            return Err(Error::WrongKey);
        }
        return Ok(Record::Profile(Box::new(profile)));
    }
    if key.starts_with(short::KEY_PREFIX) {
        return Ok(Record::Invite(Box::new(short::validate(
            key, value, now_ms,
        )?)));
    }
    Err(Error::Invalid("not a qun record key".into()))
}

/// Checks a provider announcement's key.
pub fn validate_provider_key(key: &[u8]) -> Result<(), Error> {
    if keywords::is_provider_key(key) {
        Ok(())
    } else {
        Err(Error::Invalid("not a keyword provider key".into()))
    }
}
