//! The message kinds: one file per kind, each a [`Def`] (its tag, name, whether it is a
//! control op, its validation and its fold step into [`crate::group::State`]).
//!
//! ## Adding a kind
//! Write `kinds/<name>.rs` with the payload struct and its [`Def`], declare the module below,
//! and add one line to the registry in [`crate::message`] (`kinds! { ... }`). The registry
//! macro writes the [`crate::message::Kind`] variant and every dispatch (`tag`, `name`,
//! `is_control`, encoding, decoding, validation, fold, preview) from that line.
//!
//! ## Tags
//! A tag is never reused and its payload never changes shape (a new shape is a new tag).
//! Tags in [`CONTROL_TAGS`] (`0x8000..=0xFFFF`) are reserved for control kinds, and every
//! other tag for kinds that do not change group state, so that a node classifies a tag it
//! does not know: see [`unknown`]. Tags 2 to 5 (announcement, join, leave, meta) are control
//! kinds from before the range was reserved; every version knows them. Tags 0x8000 to
//! 0x800F stay unassigned (tests use them for a control kind from a newer version); the
//! governance kinds (role, transfer, remove, ban, unban, mute, unmute, pin, unpin, rekey)
//! take 0x8010 to 0x8019.

use std::ops::RangeInclusive;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec;
use crate::group::{Action, State};
use crate::id::{AuthorId, MsgId};
use crate::limits::MAX_BODY_BYTES;
use crate::message::{Error, Verified};

pub mod announcement;
pub mod ban;
pub mod join;
pub mod leave;
pub mod meta;
pub mod mute;
pub mod pin;
pub mod rekey;
pub mod remove;
pub mod role;
pub mod text;
pub mod transfer;
pub mod unban;
pub mod unknown;
pub mod unmute;
pub mod unpin;

/// Tags reserved for control kinds (ops that change group state). A tag below this range
/// that is not one of the legacy control tags (2 to 5) is a kind that does not.
pub const CONTROL_TAGS: RangeInclusive<u16> = 0x8000..=u16::MAX;

/// The control tags from before [`CONTROL_TAGS`] was reserved: announcement, join, leave,
/// meta.
pub const LEGACY_CONTROL_TAGS: RangeInclusive<u16> = 2..=5;

/// Whether a tag, known or not, names a control kind.
pub fn is_control_tag(tag: u16) -> bool {
    CONTROL_TAGS.contains(&tag) || LEGACY_CONTROL_TAGS.contains(&tag)
}

/// What one message kind is: implemented once, in the kind's own file.
pub trait Def: Sized {
    /// The wire tag, unique among kinds; in [`CONTROL_TAGS`] exactly when [`Def::CONTROL`]
    /// (legacy control kinds aside), which a test of the registry checks.
    const TAG: u16;
    /// A short lowercase name (`text`, `join`, ...), as the API shows it.
    const NAME: &'static str;
    /// Whether an op of this kind changes group state, and so is kept among the group's
    /// control ops and folded by [`State`].
    const CONTROL: bool;
    /// Whether only the group's admins may author it: the sender refuses to sign it for
    /// anyone else (a coarse check; the fold's rule is [`Def::action`] and
    /// [`State::may`]).
    const ADMIN_ONLY: bool = false;
    /// Whether it is a post (what counts as a member speaking, for activity figures).
    const POST: bool = false;
    /// Whether it is a membership op (join, leave): taken whatever its author's earlier
    /// membership ops say ([`State::admits`]).
    const MEMBERSHIP: bool = false;

    /// The payload bytes (canonical encoding).
    fn encode(&self) -> Result<Vec<u8>, codec::Error>;
    /// Decodes a payload of at most [`MAX_BODY_BYTES`] bytes.
    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error>;
    /// Checks the protocol's limits and rules for this kind (run by sender and receivers).
    fn validate(&self) -> Result<(), Error> {
        Ok(())
    }
    /// What `msg` (whose kind is `self`) asks to do, for [`State::may`].
    fn action(&self, msg: &Verified) -> Action<'_>;
    /// The fold step: applies `msg` (whose kind is `self`) to `state`. Called by
    /// [`State::apply`] in group order, once [`State::admits`] took the message and
    /// [`State::may`] allowed [`Def::action`].
    fn fold(&self, state: &mut State, msg: &Verified);
    /// What a user sees of it.
    fn preview(&self) -> Preview;
}

/// What a user sees of a message: its text (or a short description), what it replies to,
/// whom it mentions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    /// The text, or a short description of what the op did.
    pub text: String,
    /// The message replied to.
    pub reply_to: Option<MsgId>,
    /// Authors mentioned.
    pub mentions: Vec<AuthorId>,
}

impl Preview {
    /// A preview that is just a text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}

/// Encodes a payload struct with the canonical codec (for [`Def::encode`]).
pub fn encode<T: Serialize>(payload: &T) -> Result<Vec<u8>, codec::Error> {
    codec::encode(payload)
}

/// Decodes a payload struct with the canonical codec (for [`Def::decode`]).
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, codec::Error> {
    codec::decode(payload, MAX_BODY_BYTES)
}

/// The object-safe face of a [`Def`], so that [`crate::message::Kind`] dispatches with
/// one `match`.
pub(crate) trait Op {
    fn tag(&self) -> u16;
    fn name(&self) -> &'static str;
    fn control(&self) -> bool;
    fn admin_only(&self) -> bool;
    fn post(&self) -> bool;
    fn membership(&self) -> bool;
    fn payload(&self) -> Result<Vec<u8>, codec::Error>;
    fn check(&self) -> Result<(), Error>;
    fn act(&self, msg: &Verified) -> Action<'_>;
    fn fold_into(&self, state: &mut State, msg: &Verified);
    fn show(&self) -> Preview;
}

impl<T: Def> Op for T {
    fn tag(&self) -> u16 {
        T::TAG
    }
    fn name(&self) -> &'static str {
        T::NAME
    }
    fn control(&self) -> bool {
        T::CONTROL
    }
    fn admin_only(&self) -> bool {
        T::ADMIN_ONLY
    }
    fn post(&self) -> bool {
        T::POST
    }
    fn membership(&self) -> bool {
        T::MEMBERSHIP
    }
    fn payload(&self) -> Result<Vec<u8>, codec::Error> {
        self.encode()
    }
    fn check(&self) -> Result<(), Error> {
        self.validate()
    }
    fn act(&self, msg: &Verified) -> Action<'_> {
        self.action(msg)
    }
    fn fold_into(&self, state: &mut State, msg: &Verified) {
        self.fold(state, msg)
    }
    fn show(&self) -> Preview {
        self.preview()
    }
}

/// The pattern of a registry entry's [`crate::message::Kind`] variant, binding its payload
/// to `$k` (a unit variant binds nothing).
macro_rules! kind_pat {
    ($v:ident $k:ident) => {
        Kind::$v
    };
    ($v:ident $k:ident $t:ty) => {
        Kind::$v($k)
    };
}

/// The [`Def`] value of a registry entry matched by [`kind_pat`]: the bound payload, or
/// the unit struct named like the variant.
macro_rules! kind_def {
    ($v:ident $k:ident) => {
        &$v
    };
    ($v:ident $k:ident $t:ty) => {
        $k
    };
}

/// The [`Def`] type of a registry entry.
macro_rules! kind_ty {
    ($v:ident) => {
        $v
    };
    ($v:ident $t:ty) => {
        $t
    };
}

/// The variant of a registry entry built from its decoded [`Def`] value.
macro_rules! kind_new {
    ($v:ident $x:ident) => {{
        let _: $v = $x;
        Kind::$v
    }};
    ($v:ident $x:ident $t:ty) => {
        Kind::$v($x)
    };
}

/// The registry: from one line per kind (`Variant(PayloadType)`, or `Variant` for a kind
/// without payload whose [`Def`] is a unit struct of the same name), writes the
/// [`crate::message::Kind`] enum (plus `Unknown`), the list of known tags and the
/// dispatch from a `Kind` to its [`Def`].
macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident $(($payload:ty))?, )*) => {
        /// What a message is: one variant per kind in [`kinds`], and the kinds this
        /// version does not know.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Kind {
            $( $(#[$doc])* $variant $(($payload))?, )*
            /// A kind this version does not know, kept verbatim (see [`kinds::unknown`]).
            Unknown {
                /// Its tag.
                tag: u16,
                /// Its payload, undecoded.
                payload: Vec<u8>,
            },
        }

        /// The tags of every kind in the registry.
        pub const KNOWN_TAGS: &[u16] = &[ $( <kind_ty!($variant $($payload)?) as kinds::Def>::TAG, )* ];

        /// `(tag, name, control)` of every kind in the registry, for its tests.
        #[cfg(test)]
        const REGISTRY: &[(u16, &str, bool)] = &[ $( (
            <kind_ty!($variant $($payload)?) as kinds::Def>::TAG,
            <kind_ty!($variant $($payload)?) as kinds::Def>::NAME,
            <kind_ty!($variant $($payload)?) as kinds::Def>::CONTROL,
        ), )* ];

        impl Kind {
            /// The kind's [`kinds::Def`], or `None` for an unknown kind.
            fn op(&self) -> Option<&dyn kinds::Op> {
                match self {
                    $( kind_pat!($variant k $($payload)?) => Some(kind_def!($variant k $($payload)?)), )*
                    Kind::Unknown { .. } => None,
                }
            }

            /// Decodes a known tag's payload; keeps any other tag as [`Kind::Unknown`].
            fn from_parts(tag: u16, payload: Vec<u8>) -> Result<Self, codec::Error> {
                $(
                    if tag == <kind_ty!($variant $($payload)?) as kinds::Def>::TAG {
                        let x = <kind_ty!($variant $($payload)?) as kinds::Def>::decode(payload)?;
                        return Ok(kind_new!($variant x $($payload)?));
                    }
                )*
                Ok(Kind::Unknown { tag, payload })
            }
        }
    };
}

pub(crate) use {kind_def, kind_new, kind_pat, kind_ty, kinds};
