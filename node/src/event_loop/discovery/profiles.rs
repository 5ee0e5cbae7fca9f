//! Profiles and group stats.
//!
//! Our profile is signed, kept on disk, and put to the DHT at once and every announcement
//! round. Someone else's is looked up in the DHT (the newest valid copy wins) and kept.
//!
//! Group stats ("persona") count the members, the members who posted (text or
//! announcement) in the last 7 days, and the members online now: us, members connected to
//! us and subscribed to the group, and members whose latest message is under 5 minutes
//! old (in group time, see `crate::skew`; stamps from the future do not count). Gender
//! counts and the average age use only the members whose profile shares them; members'
//! profiles not found in the last 10 minutes are looked up first (all at once, for at
//! most `search_timeout`; a lookup that found nothing never counts as fresh), and each
//! figure says how many members it rests on. The age distribution counts those members in
//! [`AGE_BUCKETS`]; activity over time is posts per UTC day over the last
//! [`ACTIVITY_DAYS`] days, read from the stored messages' stamps.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use qun_protocol::discovery::VERSION;
use qun_protocol::discovery::profile::{self, Gender, Profile, ShownGroup, SignedProfile};
use qun_protocol::order::MAX_SKEW_MS;
use qun_protocol::{AuthorId, GroupId};

use crate::event_loop::{EventLoop, Timer, now_ms};
use crate::net;
use crate::view::{
    AgeBucket, DayCount, GenderCounts, GroupStats, ProfileUpdate, ProfileView, profile_view,
};
use crate::{Error, Reply};

/// A profile looked up this recently is not looked up again for stats.
const PROFILE_FRESH: Duration = Duration::from_secs(600);
/// Found profiles remembered as fresh, at most; stale entries are dropped when it is full.
const MAX_PROFILE_CHECKED: usize = 4096;
/// "Posted in the last 7 days".
const ACTIVE_WINDOW_MS: u64 = 7 * 24 * 3600 * 1000;
/// "Seen recently": a message under 5 minutes old.
const ONLINE_WINDOW_MS: u64 = 5 * 60 * 1000;
/// Most member profiles one stats request looks up.
const MAX_STATS_LOOKUPS: usize = 256;
/// The age ranges of the stats' age distribution, in years (`None`: no upper end).
pub(crate) const AGE_BUCKETS: [(u16, Option<u16>); 6] = [
    (0, Some(17)),
    (18, Some(24)),
    (25, Some(34)),
    (35, Some(44)),
    (45, Some(54)),
    (55, None),
];
/// Days of the stats' posts-per-day series (today included).
pub(crate) const ACTIVITY_DAYS: usize = 30;
/// One day, in ms.
const DAY_MS: u64 = 24 * 3600 * 1000;

/// Who waits for a profile lookup.
pub(crate) enum ProfileWaiter {
    /// `qun profile show AUTHOR`.
    Show(Reply<ProfileView>),
    /// A stats job.
    Stats(u64),
}

/// The profiles room: profile lookups' waiters, fresh lookups, stats jobs.
#[derive(Default)]
pub(crate) struct Profiles {
    /// Profile lookups' waiters.
    pub waiters: HashMap<AuthorId, Vec<ProfileWaiter>>,
    /// When each profile was last found (fresh ones are not looked up again for stats; at
    /// most [`MAX_PROFILE_CHECKED`], stale ones dropped first).
    pub checked: HashMap<AuthorId, Instant>,
    /// Stats waiting for profiles.
    pub stats: HashMap<u64, StatsJob>,
    /// The id of the next stats job.
    pub next_stats: u64,
}

/// Stats waiting for member profiles.
pub(crate) struct StatsJob {
    pub group: GroupId,
    pub waiting: HashSet<AuthorId>,
    pub started: Instant,
    pub reply: Reply<GroupStats>,
}

/// `ages` (years) counted in [`AGE_BUCKETS`], in that order.
pub(crate) fn age_buckets(ages: impl IntoIterator<Item = u16>) -> Vec<AgeBucket> {
    let mut out = AGE_BUCKETS.map(|(min, max)| AgeBucket {
        min,
        max,
        members: 0,
    });
    for a in ages {
        // The buckets are in order: the first whose end is not below `a` holds it.
        if let Some(b) = out.iter_mut().find(|b| b.max.is_none_or(|max| a <= max)) {
            b.members += 1;
        }
    }
    out.to_vec()
}

impl EventLoop {
    pub(crate) fn set_profile(&mut self, u: ProfileUpdate) -> Result<ProfileView, Error> {
        let me = self.identity.author();
        let now = now_ms();
        let old = self.records.profile(&me)?;
        let mut p = match &old {
            Some(o) => o.value.clone(),
            None => Profile {
                version: VERSION,
                name: u.name.clone().ok_or_else(|| {
                    Error::Invalid("a profile needs a name the first time: --name NAME".into())
                })?,
                bio: None,
                gender: None,
                birth_year: None,
                groups: Vec::new(),
                updated_ms: 0,
            },
        };
        if let Some(n) = u.name {
            p.name = qun_protocol::text::normalize_name(&n);
        }
        if let Some(b) = u.bio {
            p.bio = (!b.is_empty()).then_some(b);
        }
        if let Some(g) = u.gender {
            p.gender = if g.is_empty() {
                None
            } else {
                Some(g.parse::<Gender>().map_err(Error::Invalid)?)
            };
        }
        if let Some(y) = u.birth_year {
            p.birth_year = (y != 0).then_some(y);
        }
        for q in &u.show_groups {
            let g = self.groups.resolve(q)?;
            if !p.groups.iter().any(|s| s.group == g)
                && let Some(rt) = self.groups.get(&g)
            {
                p.groups.push(ShownGroup {
                    group: g,
                    name: rt.state.name.clone(),
                });
            }
        }
        for q in &u.hide_groups {
            let q = qun_protocol::text::normalize_name(q);
            p.groups.retain(|s| {
                s.group.to_string() != q && qun_protocol::text::normalize_name(&s.name) != q
            });
        }
        p.updated_ms = now.max(old.as_ref().map_or(0, |o| o.value.updated_ms + 1));
        let signed = SignedProfile::create(&self.identity, p, now)?;
        self.records.put_profile(&signed)?;
        self.store.flush_blocking()?;
        if let Ok(bytes) = signed.encode(qun_protocol::limits::MAX_PROFILE_BYTES) {
            self.put_record(profile::record_key(&me), bytes);
        }
        Ok(profile_view(&signed))
    }

    pub(crate) fn show_profile(&mut self, author: Option<AuthorId>, reply: Reply<ProfileView>) {
        let me = self.identity.author();
        let who = author.unwrap_or(me);
        if who == me {
            let res = match self.records.profile(&me) {
                Ok(Some(p)) => Ok(profile_view(&p)),
                Ok(None) => Err(Error::NotFound(
                    "you have no profile yet: qun profile set --name NAME".into(),
                )),
                Err(e) => Err(e.into()),
            };
            let _ = reply.send(res);
            return;
        }
        if !self.lookup_profile(who) {
            let res = match self.records.profile(&who) {
                Ok(Some(p)) => Ok(profile_view(&p)),
                _ => Err(Error::NotFound(format!(
                    "no profile of {who} (the DHT is off)"
                ))),
            };
            let _ = reply.send(res);
            return;
        }
        self.disc
            .profiles
            .waiters
            .entry(who)
            .or_default()
            .push(ProfileWaiter::Show(reply));
    }

    pub(crate) fn profile_lookup_done(&mut self, author: AuthorId, best: Option<SignedProfile>) {
        // Only a found profile is fresh: a miss (say, a lookup for a name made before the
        // member set a profile) must not keep the next stats from looking again.
        if best.is_some() {
            let checked = &mut self.disc.profiles.checked;
            if checked.len() >= MAX_PROFILE_CHECKED {
                checked.retain(|_, t| t.elapsed() <= PROFILE_FRESH);
            }
            checked.insert(author, Instant::now());
        } else {
            self.disc.profiles.checked.remove(&author);
        }
        if let Some(p) = &best {
            let newer = match self.records.profile(&author) {
                Ok(Some(old)) => p.is_newer_than(&old),
                _ => true,
            };
            if newer && let Err(e) = self.records.put_profile(p) {
                tracing::warn!(error = %e, "could not keep a profile");
            }
        }
        let held = self.records.profile(&author).ok().flatten();
        for w in self
            .disc
            .profiles
            .waiters
            .remove(&author)
            .unwrap_or_default()
        {
            match w {
                ProfileWaiter::Show(reply) => {
                    let res = held.as_ref().map(profile_view).ok_or_else(|| {
                        Error::NotFound(format!("no profile of {author} in the DHT"))
                    });
                    let _ = reply.send(res);
                }
                ProfileWaiter::Stats(job) => {
                    if let Some(j) = self.disc.profiles.stats.get_mut(&job) {
                        j.waiting.remove(&author);
                    }
                    self.maybe_finish_stats(job, false);
                }
            }
        }
    }

    pub(crate) fn start_stats(&mut self, group: GroupId, reply: Reply<GroupStats>) {
        let Some(rt) = self.groups.get(&group) else {
            let _ = reply.send(Err(Error::UnknownGroup(group.to_string())));
            return;
        };
        let me = self.identity.author();
        let stale: Vec<AuthorId> = rt
            .state
            .members
            .iter()
            .filter(|m| **m != me)
            .filter(|m| {
                self.disc
                    .profiles
                    .checked
                    .get(m)
                    .is_none_or(|t| t.elapsed() > PROFILE_FRESH)
            })
            .take(MAX_STATS_LOOKUPS)
            .copied()
            .collect();
        let id = self.disc.profiles.next_stats;
        self.disc.profiles.next_stats += 1;
        let mut waiting = HashSet::new();
        for m in stale {
            if self.lookup_profile(m) {
                waiting.insert(m);
                self.disc
                    .profiles
                    .waiters
                    .entry(m)
                    .or_default()
                    .push(ProfileWaiter::Stats(id));
            }
        }
        let started = Instant::now();
        self.disc.profiles.stats.insert(
            id,
            StatsJob {
                group,
                waiting,
                started,
                reply,
            },
        );
        self.timers
            .at(started + self.config.search_timeout, Timer::Stats);
        self.maybe_finish_stats(id, false);
    }

    /// Ends stats jobs past their deadline.
    pub(crate) fn expire_stats(&mut self) {
        let timeout = self.config.search_timeout;
        let late: Vec<u64> = self
            .disc
            .profiles
            .stats
            .iter()
            .filter(|(_, j)| j.started.elapsed() >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.maybe_finish_stats(id, true);
        }
    }

    fn maybe_finish_stats(&mut self, id: u64, force: bool) {
        let ready = self
            .disc
            .profiles
            .stats
            .get(&id)
            .is_some_and(|j| force || j.waiting.is_empty());
        if !ready {
            return;
        }
        if let Some(job) = self.disc.profiles.stats.remove(&id) {
            let _ = job.reply.send(self.compute_stats(&job.group));
        }
    }

    fn compute_stats(&self, group: &GroupId) -> Result<GroupStats, Error> {
        let rt = self
            .groups
            .get(group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        // Group time, and no stamp more than the allowed skew ahead of it counts: a member
        // whose messages are stamped in the future is not online (nor active) for ever.
        let now = self.group_now_ms();
        let me = self.identity.author();
        let activity = self
            .store
            .author_activity(group, now.saturating_add(MAX_SKEW_MS))?;
        let topics: Vec<_> = rt.topics.iter().map(|(_, t)| t.clone()).collect();
        let subscribed: HashSet<crate::net::PeerId> =
            self.net.subscribers(&topics).into_iter().collect();
        let (mut active, mut online, mut found) = (0, 0, 0);
        let mut gender = GenderCounts::default();
        let (mut age_sum, mut age_n) = (0u64, 0usize);
        let mut ages = Vec::new();
        for m in &rt.state.members {
            let act = activity.get(m);
            if act
                .and_then(|a| a.1)
                .is_some_and(|t| t + ACTIVE_WINDOW_MS >= now)
            {
                active += 1;
            }
            let connected = net::peer_id(m).is_some_and(|p| subscribed.contains(&p));
            let recent = act.is_some_and(|a| a.0 + ONLINE_WINDOW_MS >= now);
            if *m == me || connected || recent {
                online += 1;
            }
            let Some(p) = self.records.profile(m)? else {
                continue;
            };
            found += 1;
            match p.value.gender {
                Some(Gender::Female) => gender.female += 1,
                Some(Gender::Male) => gender.male += 1,
                Some(Gender::Other) => gender.other += 1,
                None => {}
            }
            if let Some(a) = p.value.age(now) {
                age_sum += u64::from(a);
                age_n += 1;
                ages.push(a);
            }
        }
        gender.based_on = gender.female + gender.male + gender.other;
        Ok(GroupStats {
            group: group.to_string(),
            name: rt.state.name.clone(),
            members: rt.state.members.len(),
            active_7d: active,
            online,
            female_ratio: (gender.based_on > 0)
                .then(|| gender.female as f64 / gender.based_on as f64),
            gender,
            average_age: (age_n > 0).then(|| age_sum as f64 / age_n as f64),
            age_based_on: age_n,
            profiles_found: found,
            ages: age_buckets(ages),
            posts_per_day: self.posts_per_day(group, now)?,
        })
    }

    /// Posts per UTC day over the last [`ACTIVITY_DAYS`] days up to `now` (group time),
    /// oldest first.
    fn posts_per_day(&self, group: &GroupId, now: u64) -> Result<Vec<DayCount>, Error> {
        let today = now - now % DAY_MS;
        let days = ACTIVITY_DAYS as u64;
        let first = today.saturating_sub((days - 1) * DAY_MS);
        let counts = self
            .store
            .posts_per_day(group, first, DAY_MS, ACTIVITY_DAYS, now)?;
        Ok(counts
            .into_iter()
            .zip(0u64..)
            .map(|(posts, i)| DayCount {
                day_ms: first + i * DAY_MS,
                posts,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fall_in_their_ranges() {
        let counts: Vec<usize> = age_buckets([17, 18, 24, 25, 54, 55, 90, 0])
            .iter()
            .map(|b| b.members)
            .collect();
        assert_eq!(counts, vec![2, 2, 1, 0, 1, 2]);
        let last = age_buckets([]).pop().unwrap();
        assert_eq!((last.min, last.max), (55, None));
    }
}
