//! Sealing a secret to one author's key (ECIES-style, from RustCrypto and dalek parts).
//!
//! The recipient's X25519 public key is the Montgomery form of their ed25519 author key;
//! their X25519 secret is the scalar of their ed25519 key (what `ed25519-dalek` provides
//! for this use). The sender picks an ephemeral X25519 secret (random bytes passed in),
//! computes the shared secret with the recipient's key, derives a key with HKDF-SHA256
//! (salt = ephemeral public ‖ recipient public, info = a context naming what is sealed),
//! and seals with XChaCha20-Poly1305. Only the recipient can open it; a low-order
//! (non-contributory) exchange is refused on both sides.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::VerifyingKey;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use super::Error;
use crate::codec;
use crate::id::AuthorId;
use crate::identity::Identity;

/// Largest sealed plaintext (a few secrets).
pub const MAX_SEALED_BYTES: usize = 1024;

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

fn x25519_public(author: &AuthorId) -> Result<PublicKey, Error> {
    let key = VerifyingKey::from_bytes(author.as_bytes())
        .map_err(|_| Error::Invalid(format!("{author} is not an ed25519 key")))?;
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

/// Seals `plaintext` to `recipient`; `ephemeral` and `nonce` are random bytes from the
/// caller; `context` names what is sealed and must be the same when opening.
pub fn seal(
    recipient: &AuthorId,
    plaintext: &[u8],
    context: &[u8],
    ephemeral: [u8; 32],
    nonce: [u8; 24],
) -> Result<Sealed, Error> {
    if plaintext.len() > MAX_SEALED_BYTES {
        return Err(Error::Invalid(format!(
            "{} bytes to seal; at most {MAX_SEALED_BYTES}",
            plaintext.len()
        )));
    }
    let their = x25519_public(recipient)?;
    let secret = StaticSecret::from(ephemeral);
    let eph_pub = PublicKey::from(&secret);
    let shared = secret.diffie_hellman(&their);
    if !shared.was_contributory() {
        return Err(Error::Seal);
    }
    let cipher = aead(
        shared.as_bytes(),
        eph_pub.as_bytes(),
        their.as_bytes(),
        context,
    );
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
    if sealed.ciphertext.len() > MAX_SEALED_BYTES + 16 {
        return Err(Error::Seal);
    }
    let secret = StaticSecret::from(me.x25519_secret());
    let mine = PublicKey::from(&secret);
    let shared = secret.diffie_hellman(&PublicKey::from(sealed.ephemeral));
    if !shared.was_contributory() {
        return Err(Error::Seal);
    }
    let cipher = aead(
        shared.as_bytes(),
        &sealed.ephemeral,
        mine.as_bytes(),
        context,
    );
    cipher
        .decrypt(
            &XNonce::from(sealed.nonce),
            Payload {
                msg: &sealed.ciphertext,
                aad: context,
            },
        )
        .map_err(|_| Error::Seal)
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
}
