//! Group cards: what the DHT says about a public or listed group.
//!
//! A card is signed by the group's current owner or one of its admins, and stored under
//! [`record_key`]`(group id)` as a [`ProvenCard`]: the signed card and the signer's
//! [`Authority`] (the transfers from the genesis owner, the owner's roster of admins; see
//! [`super::authority`] for what a stranger can and cannot check). The card carries the
//! signed genesis, so anyone can check that it names the group it is stored under and
//! that its signer may sign for it. Members republish the newest card they hold; a DHT
//! node keeps the newest valid one ([`ProvenCard::is_newer_than`]): the one whose
//! authority ranks higher (more transfers, then a newer roster), then the later
//! `issued_ms`, ties broken by the signature bytes, so every node picks the same one.
//!
//! A bare [`SignedCard`] (the record format before admins could sign) is read as proven
//! by an empty authority: only the genesis owner's.
//!
//! A public card carries the current epoch's secret: finding the card is enough to join.
//! A listed card does not: joining takes an approval ([`super::join`]). A private group
//! never has a card; [`SignedCard::verify`] refuses one.

use serde::{Deserialize, Serialize};

use super::authority::{Authority, Proven, Standing};
use super::{Error, Signed, check_addrs, check_time, check_version};
use crate::group::{SignedGenesis, Visibility};
use crate::id::{AuthorId, GroupId};
use crate::identity::{DOMAIN_CARD, Identity};
use crate::limits::*;
use crate::message::{Meta, validate_meta};
use crate::secret::GroupSecret;

/// Prefix of card record keys.
pub const KEY_PREFIX: &[u8] = b"/qun/card/";

/// The DHT record key of a group's card: `/qun/card/` followed by the 32 id bytes.
pub fn record_key(group: &GroupId) -> Vec<u8> {
    let mut k = KEY_PREFIX.to_vec();
    k.extend_from_slice(group.as_bytes());
    k
}

/// The content of a card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// Format version ([`super::VERSION`]).
    pub version: u8,
    /// The group's signed genesis (id, name, owner, visibility).
    pub genesis: SignedGenesis,
    /// Description and tags, as the group's latest meta set them.
    pub meta: Meta,
    /// Members when the card was signed.
    pub members: u32,
    /// A few member addresses (binary multiaddrs ending in `/p2p/<peer id>`).
    pub addrs: Vec<Vec<u8>>,
    /// For a public group: the current epoch and its secret.
    pub secret: Option<(u64, GroupSecret)>,
    /// When the card was signed, ms since the Unix epoch.
    pub issued_ms: u64,
}

/// A card with its signer's signature.
pub type SignedCard = Signed<Card>;

/// A signed card with its signer's authority: what the DHT stores and searches return.
pub type ProvenCard = Proven<Card>;

impl Card {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.genesis.genesis.name
    }

    /// The group's visibility.
    pub fn visibility(&self) -> Visibility {
        self.genesis.genesis.visibility
    }

    /// The group id.
    pub fn group(&self) -> Result<GroupId, Error> {
        Ok(self.genesis.id()?)
    }

    fn validate(&self) -> Result<(), Error> {
        check_version(self.version)?;
        // The genesis check includes the name's.
        self.genesis.verify().map_err(|e| match e {
            crate::message::Error::Name(n) => Error::Name(n),
            e => Error::Invalid(format!("genesis: {e}")),
        })?;
        validate_meta(&self.meta).map_err(|e| match e {
            crate::message::Error::Name(n) => Error::Name(n),
            e => Error::Invalid(e.to_string()),
        })?;
        check_addrs(&self.addrs, MAX_CARD_ADDRS)?;
        match (self.visibility(), &self.secret) {
            (Visibility::Public, Some(_)) | (Visibility::Listed, None) => Ok(()),
            (Visibility::Public, None) => Err(Error::Invalid(
                "a public group's card must carry its secret".into(),
            )),
            (Visibility::Listed, Some(_)) => Err(Error::Invalid(
                "a listed group's card must not carry its secret".into(),
            )),
            (Visibility::Private, _) => Err(Error::Invalid("a private group has no card".into())),
        }
    }
}

impl Signed<Card> {
    /// Checks and signs a bare card (no authority); only the genesis owner may. Admins and
    /// later owners sign with [`ProvenCard::create`].
    pub fn create(owner: &Identity, card: Card) -> Result<Self, Error> {
        card.validate()?;
        if owner.author() != card.genesis.genesis.owner {
            return Err(Error::NotAllowed {
                signer: owner.author(),
            });
        }
        let signed = Signed::sign(owner, DOMAIN_CARD, card)?;
        signed.encode(MAX_CARD_BYTES)?;
        Ok(signed)
    }

    /// Decodes and checks a card: limits, signature, signer is the owner, version,
    /// visibility rules, and a time not in the future.
    pub fn decode_card(bytes: &[u8], now_ms: u64) -> Result<Self, Error> {
        let signed: Self = crate::codec::decode(bytes, MAX_CARD_BYTES)?;
        signed.check(now_ms)?;
        Ok(signed)
    }

    /// The checks of [`Self::decode_card`] on a decoded card.
    pub fn check(&self, now_ms: u64) -> Result<(), Error> {
        self.check_content(now_ms)?;
        if self.signer != self.value.genesis.genesis.owner {
            return Err(Error::NotAllowed {
                signer: self.signer,
            });
        }
        Ok(())
    }

    /// Everything but who signed: signature, version, visibility rules, time.
    fn check_content(&self, now_ms: u64) -> Result<(), Error> {
        self.verify(DOMAIN_CARD)?;
        self.value.validate()?;
        check_time(self.value.issued_ms, now_ms)
    }

    /// Whether this card should replace `other` (both for the same group).
    pub fn is_newer_than(&self, other: &Self) -> bool {
        (self.value.issued_ms, &self.signature.0[..])
            > (other.value.issued_ms, &other.signature.0[..])
    }

    /// The card's signer as the group owner's author id.
    pub fn owner(&self) -> AuthorId {
        self.value.genesis.genesis.owner
    }
}

impl Proven<Card> {
    /// Checks and signs a card as the owner or an admin that `authority` proves.
    pub fn create(signer: &Identity, card: Card, authority: Authority) -> Result<Self, Error> {
        card.validate()?;
        authority.verify(
            &card.genesis,
            &card.group()?,
            &signer.author(),
            card.issued_ms,
        )?;
        let proven = Self {
            signed: Signed::sign(signer, DOMAIN_CARD, card)?,
            authority,
        };
        proven.signed.encode(MAX_CARD_BYTES)?;
        proven.encode()?;
        Ok(proven)
    }

    /// Decodes and checks a card record: a [`ProvenCard`], or a bare [`SignedCard`] (only
    /// the genesis owner's), with [`Self::check`].
    pub fn decode_record(bytes: &[u8], now_ms: u64) -> Result<Self, Error> {
        // Neither form decodes into the other (trailing bytes are refused); when neither
        // decodes, the bare form's error says it (a bare card over its limit is too large).
        let proven: Self = match crate::codec::decode::<Self>(bytes, MAX_CARD_RECORD_BYTES) {
            // One encoding per record: an empty authority is written bare.
            Ok(p) if p.authority == Authority::default() => {
                return Err(Error::Invalid(
                    "a card with an empty authority is encoded bare".into(),
                ));
            }
            Ok(p) => p,
            Err(_) => crate::codec::decode::<SignedCard>(bytes, MAX_CARD_BYTES)?.into(),
        };
        proven.check(now_ms)?;
        Ok(proven)
    }

    /// Checks the card (signature, limits, visibility rules, time) and its authority:
    /// the signer is the group's current owner or an admin on the owner's roster.
    pub fn check(&self, now_ms: u64) -> Result<Standing, Error> {
        self.signed.check_content(now_ms)?;
        let card = &self.signed.value;
        self.authority
            .verify(&card.genesis, &card.group()?, &self.signed.signer, now_ms)
    }

    /// The record's encoding, within [`MAX_CARD_RECORD_BYTES`]. A card with an empty
    /// authority is encoded bare (the format older nodes read).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        if self.authority == Authority::default() {
            return self.signed.encode(MAX_CARD_BYTES);
        }
        let bytes = crate::codec::encode(self)?;
        if bytes.len() > MAX_CARD_RECORD_BYTES {
            return Err(crate::codec::Error::TooLarge {
                len: bytes.len(),
                max: MAX_CARD_RECORD_BYTES,
            }
            .into());
        }
        Ok(bytes)
    }

    /// Whether this card should replace `other` (both checked, for the same group): the
    /// higher authority ([`Authority::rank`]), then the later card, then the signature.
    pub fn is_newer_than(&self, other: &Self) -> bool {
        (
            self.authority.rank(),
            self.signed.value.issued_ms,
            &self.signed.signature.0[..],
        ) > (
            other.authority.rank(),
            other.signed.value.issued_ms,
            &other.signed.signature.0[..],
        )
    }

    /// The group's current owner by the card's authority (the genesis owner when it
    /// names no transfer). Assumes the card was checked.
    pub fn current_owner(&self) -> AuthorId {
        self.authority
            .transfers
            .last()
            .and_then(|e| e.clone().verify().ok())
            .and_then(|m| match m.body.kind {
                crate::message::Kind::Transfer(t) => Some(t.to),
                _ => None,
            })
            .unwrap_or(self.signed.value.genesis.genesis.owner)
    }

    /// The admins named by the card's roster.
    pub fn admins(&self) -> &[AuthorId] {
        self.authority
            .roster
            .as_ref()
            .map_or(&[], |r| &r.value.admins[..])
    }
}
