//! Cryptographic constructions built from RustCrypto and dalek parts (no primitives of our
//! own): [`seal`], sealing bytes to an author's key, for one recipient (join approvals,
//! invite admissions) or for many at once (re-keys).

pub mod seal;
