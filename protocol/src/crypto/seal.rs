//! Sealing bytes to an author's key (ECIES-style, from RustCrypto and dalek parts).
//!
//! The recipient's X25519 public key is the Montgomery form of their ed25519 author key;
//! their X25519 secret is the scalar of their ed25519 key (what `ed25519-dalek` provides
//! for this use). The sender picks an ephemeral X25519 secret (random bytes passed in),
//! computes the shared secret with the recipient's key, derives a key with HKDF-SHA256
//! (salt = ephemeral public ‖ recipient public, info = a context naming what is sealed),
//! and seals with XChaCha20-Poly1305 (associated data = the context). Only the recipient
//! can open it; a low-order (non-contributory) exchange is refused on both sides.
//!
//! ## One key to many recipients
//! [`seal_key_to_many`] seals one 32-byte key to many authors (a re-key to every member)
//! with one ephemeral key and one nonce for all. Each recipient's AEAD key is derived from
//! its own Diffie-Hellman output and its own public key (the HKDF salt), so the keys are
//! independent and each encrypts exactly one message: sharing the nonce is safe. Each
//! recipient costs [`SEALED_KEY_BYTES`] (its author id, the encrypted key and the tag), and
//! the entries are sorted by author id, so a recipient finds its own by binary search and
//! opens it with one exchange ([`SealedKeys::open`]).

use chacha20poly1305::aead::{Aead, AeadInOut, KeyInit, Payload};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use ed25519_dalek::VerifyingKey;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::codec;
use crate::id::AuthorId;
use crate::identity::Identity;

/// Largest sealed plaintext for one recipient (a few secrets).
pub const MAX_SEALED_BYTES: usize = 1024;

/// Bytes one recipient adds to a [`SealedKeys`]: author id (32), encrypted key (32), tag
/// (16).
pub const SEALED_KEY_BYTES: usize = 80;

/// Why sealing or opening failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The recipient's author id is not an ed25519 public key.
    #[error("{author} is not an ed25519 key")]
    NotAKey {
        /// The recipient.
        author: AuthorId,
    },
    /// More plaintext than [`MAX_SEALED_BYTES`].
    #[error("{len} bytes to seal; at most {max}")]
    TooLarge {
        /// Bytes given.
        len: usize,
        /// The limit, [`MAX_SEALED_BYTES`].
        max: usize,
    },
    /// Recipients for [`seal_key_to_many`] that are not strictly ascending (or repeat).
    #[error("recipients must be sorted by author id, without repeats (at {author})")]
    Unsorted {
        /// The first recipient out of order.
        author: AuthorId,
    },
    /// Not sealed to us, tampered with, or a low-order exchange.
    #[error("sealed bytes do not open: not sealed to us, or tampered with")]
    Seal,
}

/// Bytes sealed to one author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The sender's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
    /// The AEAD nonce.
    pub nonce: [u8; 24],
    /// The ciphertext with its tag.
    #[serde(with = "codec::bytes")]
    pub ciphertext: Vec<u8>,
}

/// One recipient's entry in a [`SealedKeys`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    /// The recipient.
    pub to: AuthorId,
    /// The key, encrypted.
    pub key: [u8; 32],
    /// The AEAD tag.
    pub tag: [u8; 16],
}

/// A 32-byte key sealed to many authors with one ephemeral key ([`seal_key_to_many`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKeys {
    /// The sender's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
    /// The AEAD nonce, the same for every recipient (each has its own AEAD key).
    pub nonce: [u8; 24],
    /// One entry per recipient, strictly ascending by author id.
    pub to: Vec<SealedKey>,
}

fn x25519_public(author: &AuthorId) -> Result<PublicKey, Error> {
    let key = VerifyingKey::from_bytes(author.as_bytes())
        .map_err(|_| Error::NotAKey { author: *author })?;
    Ok(PublicKey::from(key.to_montgomery().to_bytes()))
}

fn aead(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
    context: &[u8],
) -> XChaCha20Poly1305 {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit.
    if hk.expand(context, &mut key).is_err() {
        key.fill(0);
    }
    XChaCha20Poly1305::new(&key.into())
}

/// The sender's side of the exchange with `their`: the AEAD for that recipient.
fn sender_aead(
    secret: &StaticSecret,
    eph_pub: &PublicKey,
    their: &PublicKey,
    context: &[u8],
) -> Result<XChaCha20Poly1305, Error> {
    let shared = secret.diffie_hellman(their);
    if !shared.was_contributory() {
        return Err(Error::Seal);
    }
    Ok(aead(
        shared.as_bytes(),
        eph_pub.as_bytes(),
        their.as_bytes(),
        context,
    ))
}

/// The recipient's side of the exchange: the AEAD for what `ephemeral` sealed to `me`.
fn recipient_aead(
    me: &Identity,
    ephemeral: &[u8; 32],
    context: &[u8],
) -> Result<XChaCha20Poly1305, Error> {
    let secret = StaticSecret::from(me.x25519_secret());
    let mine = PublicKey::from(&secret);
    let shared = secret.diffie_hellman(&PublicKey::from(*ephemeral));
    if !shared.was_contributory() {
        return Err(Error::Seal);
    }
    Ok(aead(shared.as_bytes(), ephemeral, mine.as_bytes(), context))
}

/// Seals `plaintext` (at most [`MAX_SEALED_BYTES`]) to `recipient`; `ephemeral` and
/// `nonce` are random bytes from the caller; `context` names what is sealed and must be the
/// same when opening.
pub fn seal(
    recipient: &AuthorId,
    plaintext: &[u8],
    context: &[u8],
    ephemeral: [u8; 32],
    nonce: [u8; 24],
) -> Result<Sealed, Error> {
    seal_within(
        recipient,
        plaintext,
        context,
        ephemeral,
        nonce,
        MAX_SEALED_BYTES,
    )
}

/// [`seal`] with another plaintext limit, `max` bytes (for what is larger than a few
/// secrets: the epoch secrets handed to a joiner). [`Error::TooLarge`] above it.
pub fn seal_within(
    recipient: &AuthorId,
    plaintext: &[u8],
    context: &[u8],
    ephemeral: [u8; 32],
    nonce: [u8; 24],
    max: usize,
) -> Result<Sealed, Error> {
    if plaintext.len() > max {
        return Err(Error::TooLarge {
            len: plaintext.len(),
            max,
        });
    }
    let their = x25519_public(recipient)?;
    let secret = StaticSecret::from(ephemeral);
    let eph_pub = PublicKey::from(&secret);
    let cipher = sender_aead(&secret, &eph_pub, &their, context)?;
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: context,
            },
        )
        .map_err(|_| Error::Seal)?;
    Ok(Sealed {
        ephemeral: eph_pub.to_bytes(),
        nonce,
        ciphertext,
    })
}

/// Opens what was sealed to `me` with `context`.
pub fn open(me: &Identity, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, Error> {
    open_within(me, sealed, context, MAX_SEALED_BYTES)
}

/// [`open`] for a plaintext of at most `max` bytes (what [`seal_within`] took): a longer
/// ciphertext is refused ([`Error::Seal`]) before any work.
pub fn open_within(
    me: &Identity,
    sealed: &Sealed,
    context: &[u8],
    max: usize,
) -> Result<Vec<u8>, Error> {
    if sealed.ciphertext.len() > max.saturating_add(16) {
        return Err(Error::Seal);
    }
    recipient_aead(me, &sealed.ephemeral, context)?
        .decrypt(
            &XNonce::from(sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: context,
            },
        )
        .map_err(|_| Error::Seal)
}

/// Seals one 32-byte `key` to each of `recipients` (strictly ascending by author id, else
/// [`Error::Unsorted`]) with one ephemeral key: `ephemeral` and `nonce` are random bytes
/// from the caller, `context` names what is sealed. Costs one exchange per recipient and
/// [`SEALED_KEY_BYTES`] of output each.
pub fn seal_key_to_many(
    recipients: &[AuthorId],
    key: &[u8; 32],
    context: &[u8],
    ephemeral: [u8; 32],
    nonce: [u8; 24],
) -> Result<SealedKeys, Error> {
    if let Some(w) = recipients.windows(2).find(|w| w[0] >= w[1]) {
        return Err(Error::Unsorted { author: w[1] });
    }
    let secret = StaticSecret::from(ephemeral);
    let eph_pub = PublicKey::from(&secret);
    let xnonce = XNonce::from(nonce);
    let mut to = Vec::with_capacity(recipients.len());
    for r in recipients {
        let cipher = sender_aead(&secret, &eph_pub, &x25519_public(r)?, context)?;
        let mut buf = *key;
        let tag = cipher
            .encrypt_inout_detached(&xnonce, context, buf.as_mut_slice().into())
            .map_err(|_| Error::Seal)?;
        to.push(SealedKey {
            to: *r,
            key: buf,
            tag: tag.into(),
        });
    }
    Ok(SealedKeys {
        ephemeral: eph_pub.to_bytes(),
        nonce,
        to,
    })
}

impl SealedKeys {
    /// The recipients, ascending.
    pub fn recipients(&self) -> impl Iterator<Item = &AuthorId> {
        self.to.iter().map(|s| &s.to)
    }

    /// Whether `author` is a recipient (binary search).
    pub fn is_sealed_to(&self, author: &AuthorId) -> bool {
        self.to.binary_search_by(|s| s.to.cmp(author)).is_ok()
    }

    /// Whether the entries are strictly ascending by author id (what
    /// [`seal_key_to_many`] writes and a receiver checks).
    pub fn is_sorted(&self) -> bool {
        self.to.windows(2).all(|w| w[0].to < w[1].to)
    }

    /// Opens the key sealed to `me` with `context`: finds its entry (binary search) and
    /// opens it with one exchange. [`Error::Seal`] when there is none for `me` or it does
    /// not open.
    pub fn open(&self, me: &Identity, context: &[u8]) -> Result<[u8; 32], Error> {
        let mine = me.author();
        let i = self
            .to
            .binary_search_by(|s| s.to.cmp(&mine))
            .map_err(|_| Error::Seal)?;
        let entry = &self.to[i];
        let mut buf = entry.key;
        recipient_aead(me, &self.ephemeral, context)?
            .decrypt_inout_detached(
                &XNonce::from(self.nonce),
                context,
                buf.as_mut_slice().into(),
                &Tag::from(entry.tag),
            )
            .map_err(|_| Error::Seal)?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_opens() {
        let alice = Identity::from_seed([1; 32]);
        let eve = Identity::from_seed([2; 32]);
        let s = seal(&alice.author(), b"secret", b"ctx", [7; 32], [9; 24]).unwrap();
        assert_eq!(open(&alice, &s, b"ctx").unwrap(), b"secret");
        assert_eq!(open(&eve, &s, b"ctx"), Err(Error::Seal));
        assert_eq!(open(&alice, &s, b"other"), Err(Error::Seal));
        let mut t = s.clone();
        t.ciphertext[0] ^= 1;
        assert_eq!(open(&alice, &t, b"ctx"), Err(Error::Seal));
        let mut z = s;
        z.ephemeral = [0; 32];
        assert_eq!(open(&alice, &z, b"ctx"), Err(Error::Seal));
    }

    #[test]
    fn each_of_many_opens_its_own_and_no_one_else_does() {
        let ids: Vec<Identity> = (1..=5).map(|s| Identity::from_seed([s; 32])).collect();
        let eve = Identity::from_seed([9; 32]);
        let mut to: Vec<AuthorId> = ids.iter().map(|i| i.author()).collect();
        to.sort();
        let s = seal_key_to_many(&to, &[42; 32], b"ctx", [7; 32], [9; 24]).unwrap();
        assert!(s.is_sorted());
        for i in &ids {
            assert!(s.is_sealed_to(&i.author()));
            assert_eq!(s.open(i, b"ctx").unwrap(), [42; 32]);
            assert_eq!(s.open(i, b"other"), Err(Error::Seal));
        }
        assert_eq!(s.open(&eve, b"ctx"), Err(Error::Seal));
        // Eve copies Alice's entry under her own id: it does not open for her.
        let mut forged = s.clone();
        let mut e = forged.to[0].clone();
        e.to = eve.author();
        forged.to.push(e);
        forged.to.sort_by_key(|a| a.to);
        assert_eq!(forged.open(&eve, b"ctx"), Err(Error::Seal));
        let mut t = s;
        t.to[2].tag[0] ^= 1;
        let who = ids.iter().find(|i| i.author() == t.to[2].to).unwrap();
        assert_eq!(t.open(who, b"ctx"), Err(Error::Seal));
        to.reverse();
        assert!(matches!(
            seal_key_to_many(&to, &[42; 32], b"ctx", [7; 32], [9; 24]),
            Err(Error::Unsorted { .. })
        ));
    }
}
