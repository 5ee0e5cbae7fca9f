// Who may do what in a group, read from its GroupInfo: a mirror of the group's rule
// (`State::may` in protocol/src/group/rules.rs) so that the page offers only the actions
// the viewer may take. The daemon checks every op again and answers 403 with the rule's
// name and reason when it refuses; the page shows that text.

/** Most pins a group holds (protocol's `MAX_PINS`). */
export const MAX_PINS = 32;

/** Control op kinds: a message of one of these changes roles, members or pins. */
export const CONTROL_KINDS = new Set([
  'role', 'transfer', 'remove', 'ban', 'unban', 'mute', 'unmute', 'pin', 'unpin', 'join', 'leave', 'rekey', 'meta',
]);

const RANK = { member: 0, admin: 1, owner: 2 };

/** `owner`, `admin` or `member`. */
export function roleOf(info, id) {
  if (id === info.owner) return 'owner';
  return (info.admins || []).includes(id) ? 'admin' : 'member';
}

/** Whether `id` is an admin or the owner. */
export function isAdmin(info, id) {
  return RANK[roleOf(info, id)] >= RANK.admin;
}

/** Whether `id` is a member now (the owner always is). */
export function isMember(info, id) {
  return id === info.owner || info.members.includes(id);
}

/** Whether `id` is banned. */
export function isBanned(info, id) {
  return (info.banned || []).includes(id);
}

/** The mute of `id` (`{member, by, until_ms}`), if one is recorded. */
export function muteOf(info, id) {
  return (info.muted || []).find((m) => m.member === id) || null;
}

/** Whether `id` is muted now (no end, or an end still ahead). */
export function mutedNow(info, id, now = Date.now()) {
  const m = muteOf(info, id);
  return !!m && (m.until_ms === null || m.until_ms === undefined || m.until_ms > now);
}

// An admin acting on someone else whom it outranks (rules.rs `over`).
function over(info, me, target) {
  return isAdmin(info, me) && me !== target && RANK[roleOf(info, me)] > RANK[roleOf(info, target)];
}

/**
 * Whether `me` may do `action` to `target` (an author id, or a message id for pins):
 * `admin`, `member` (role changes), `transfer`, `remove`, `ban`, `unban`, `mute`, `unmute`,
 * `pin`, `unpin`, `announce`.
 */
export function may(info, me, action, target) {
  const owner = me === info.owner;
  const pinned = (info.pins || []).some((p) => p.id === target);
  switch (action) {
    case 'admin':
      return owner && me !== target && isMember(info, target) && !isBanned(info, target)
        && !(info.admins || []).includes(target);
    case 'member':
      return owner && me !== target && (info.admins || []).includes(target);
    case 'transfer':
      return owner && me !== target && isMember(info, target) && !isBanned(info, target);
    case 'remove':
    case 'mute':
      return over(info, me, target) && isMember(info, target);
    case 'ban':
      return over(info, me, target) && !isBanned(info, target);
    case 'unban':
      return over(info, me, target) && isBanned(info, target);
    case 'unmute':
      return over(info, me, target) && !!muteOf(info, target);
    case 'pin':
      return isAdmin(info, me) && !pinned && (info.pins || []).length < MAX_PINS;
    case 'unpin':
      return isAdmin(info, me) && pinned;
    case 'announce':
      return isAdmin(info, me) && !mutedNow(info, me);
    default:
      return false;
  }
}
