//! Profiles: a person's signed record in the DHT.
//!
//! Stored under [`record_key`]`(author)`, signed by that author. Only the display name is
//! expected; bio, gender and birth year are there only if the person chose to share them,
//! and only the groups they chose to show appear (group id and name). Newest wins, as for
//! cards.

use serde::{Deserialize, Serialize};

use super::{Error, Signed, check_text, check_time, check_version};
use crate::id::{AuthorId, GroupId};
use crate::identity::DOMAIN_PROFILE;
use crate::identity::Identity;
use crate::limits::*;
use crate::text::{NameKind, validate_name};

/// Prefix of profile record keys.
pub const KEY_PREFIX: &[u8] = b"/qun/profile/";

/// Earliest birth year accepted.
pub const MIN_BIRTH_YEAR: u16 = 1900;

/// The DHT record key of an author's profile: `/qun/profile/` + the 32 key bytes.
pub fn record_key(author: &AuthorId) -> Vec<u8> {
    let mut k = KEY_PREFIX.to_vec();
    k.extend_from_slice(author.as_bytes());
    k
}

/// Self-declared gender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Anything else the person prefers.
    Other,
}

impl Gender {
    /// Lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Other => "other",
        }
    }
}

impl std::str::FromStr for Gender {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "female" | "f" => Ok(Gender::Female),
            "male" | "m" => Ok(Gender::Male),
            "other" => Ok(Gender::Other),
            other => Err(format!(
                "unknown gender {other:?}: use female, male or other"
            )),
        }
    }
}

/// A group shown on a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownGroup {
    /// Its id.
    pub group: GroupId,
    /// Its name (from its genesis).
    pub name: String,
}

/// The content of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Format version ([`super::VERSION`]).
    pub version: u8,
    /// Display name (required).
    pub name: String,
    /// Free text, if shared.
    pub bio: Option<String>,
    /// Gender, if shared.
    pub gender: Option<Gender>,
    /// Birth year, if shared.
    pub birth_year: Option<u16>,
    /// Groups the person chose to show.
    pub groups: Vec<ShownGroup>,
    /// When it was signed, ms since the Unix epoch.
    pub updated_ms: u64,
}

/// A profile with its author's signature.
pub type SignedProfile = Signed<Profile>;

/// The calendar year (UTC) of a time in ms since the Unix epoch.
pub fn year_of(ms: u64) -> u16 {
    // Days to civil date (Howard Hinnant's algorithm), year part only.
    let days = (ms / 86_400_000) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    year.clamp(0, i64::from(u16::MAX)) as u16
}

impl Profile {
    /// Checks limits; `now_ms` bounds the birth year.
    pub fn validate(&self, now_ms: u64) -> Result<(), Error> {
        check_version(self.version)?;
        validate_name(NameKind::Display, &self.name, MAX_DISPLAY_NAME_BYTES)?;
        if let Some(bio) = &self.bio {
            check_text("bio", bio, MAX_BIO_BYTES, false)?;
        }
        if let Some(y) = self.birth_year {
            let this_year = year_of(now_ms);
            if y < MIN_BIRTH_YEAR || y > this_year {
                return Err(Error::Invalid(format!(
                    "birth year {y}; it must be {MIN_BIRTH_YEAR}..={this_year}"
                )));
            }
        }
        if self.groups.len() > MAX_PROFILE_GROUPS {
            return Err(Error::Invalid(format!(
                "{} groups shown; at most {MAX_PROFILE_GROUPS}",
                self.groups.len()
            )));
        }
        for g in &self.groups {
            crate::group::validate_name(&g.name)?;
        }
        Ok(())
    }

    /// Age in whole years at `now_ms` (by calendar year), if the birth year is shared.
    pub fn age(&self, now_ms: u64) -> Option<u16> {
        self.birth_year.map(|y| year_of(now_ms).saturating_sub(y))
    }
}

impl Signed<Profile> {
    /// Checks and signs a profile.
    pub fn create(author: &Identity, profile: Profile, now_ms: u64) -> Result<Self, Error> {
        profile.validate(now_ms)?;
        let signed = Signed::sign(author, DOMAIN_PROFILE, profile)?;
        signed.encode(MAX_PROFILE_BYTES)?;
        Ok(signed)
    }

    /// Decodes and checks a profile: limits, signature, version, time.
    pub fn decode_profile(bytes: &[u8], now_ms: u64) -> Result<Self, Error> {
        let signed: Self = crate::codec::decode(bytes, MAX_PROFILE_BYTES)?;
        signed.check(now_ms)?;
        Ok(signed)
    }

    /// The checks of [`Self::decode_profile`] on a decoded profile.
    pub fn check(&self, now_ms: u64) -> Result<(), Error> {
        self.verify(DOMAIN_PROFILE)?;
        self.value.validate(now_ms)?;
        check_time(self.value.updated_ms, now_ms)
    }

    /// Whether this profile should replace `other` (same author).
    pub fn is_newer_than(&self, other: &Self) -> bool {
        (self.value.updated_ms, &self.signature.0[..])
            > (other.value.updated_ms, &other.signature.0[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years() {
        assert_eq!(year_of(0), 1970);
        // 2026-11-25T00:00:00Z
        assert_eq!(year_of(1_795_564_800_000), 2026);
        // 2000-02-29T12:00:00Z and 1999-12-31T23:59:59Z
        assert_eq!(year_of(951_825_600_000), 2000);
        assert_eq!(year_of(946_684_799_000), 1999);
    }
}
