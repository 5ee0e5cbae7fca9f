// A group's info and members: the group's epoch, visibility and counts; each member with
// their role and whether they are muted; the banned keys; and, for admins and the owner,
// the moderation actions the group's rule lets them take on each row (rights.js mirrors
// `State::may`): make admin / make member, mute (for a chosen time) / unmute, remove,
// ban / unban, transfer (owner). Remove, ban and transfer ask to confirm first; a refusal
// (403 with the rule's reason) is shown under the row. The list follows the group's
// control ops live.

import { api } from './api.js';
import { h, clear, fmtWhen, initial, shortId, visible } from './dom.js';
import { t } from './i18n.js';
import { CONTROL_KINDS, may, roleOf, muteOf, mutedNow } from './rights.js';

/** Mute lengths offered, in seconds (0: until unmuted). */
const MUTE_FOR = [[600, 'for10m'], [3600, 'for1h'], [86400, 'for1d'], [7 * 86400, 'for7d'], [0, 'untilUnmuted']];
/** Actions that ask to confirm first. */
const DESTRUCTIVE = new Set(['remove', 'ban', 'transfer']);

function infoCard(app, info) {
  const fig = (label, value, id) => h('div', { class: 'figure', id }, h('b', {}, String(value)), label);
  return h('div', { class: 'card', id: 'group-info' },
    h('div', { class: 'name' }, info.name),
    info.description ? h('div', { class: 'description' }, info.description) : null,
    h('div', { class: 'tags' }, [t(info.visibility), ...info.tags.map((x) => '#' + x)].join('  ')),
    h('div', { class: 'figures four' },
      fig(t('epoch'), info.epoch, 'group-epoch'),
      fig(t('members'), new Set([info.owner, ...info.members]).size),
      fig(t('admins'), (info.admins || []).length),
      fig(t('mutedN'), (info.muted || []).filter((m) => mutedNow(info, m.member)).length)));
}

function states(app, info, id) {
  const role = roleOf(info, id);
  const out = [h('span', { class: `role ${role}` }, t(role))];
  const mute = muteOf(info, id);
  if (mute && mutedNow(info, id)) {
    const until = mute.until_ms ? t('mutedUntil', fmtWhen(mute.until_ms)) : t('muted');
    out.push(h('span', { class: 'state muted' }, until));
  }
  if ((info.banned || []).includes(id)) out.push(h('span', { class: 'state banned' }, t('banned')));
  return out;
}

/**
 * The actions panel of one row: buttons for what `me` may do to `id`. `open` holds the ids
 * whose panel is open, so that a redraw (a control op arrived) keeps them open.
 */
function panel(app, info, id, redraw, open) {
  const me = app.me.peer_id;
  const box = h('div', { class: 'mod-panel', hidden: !open.has(id) });
  const err = h('div', { class: 'mod-error', role: 'alert' });
  const confirmBox = h('div', { class: 'confirm', hidden: true });
  const run = async (action, call) => {
    err.textContent = '';
    try { await call(); redraw(); } catch (e) { err.textContent = visible(t('refused', e.message)); }
  };
  const ask = (action, call) => {
    if (!DESTRUCTIVE.has(action)) { run(action, call); return; }
    clear(confirmBox).append(
      h('span', { class: 'grow' }, t('confirm_' + action, app.nameOf(id))),
      h('button', { class: 'danger confirm-yes', type: 'button', on: { click: () => { confirmBox.hidden = true; run(action, call); } } }, t('confirmBtn')),
      h('button', { class: 'secondary confirm-no', type: 'button', on: { click: () => { confirmBox.hidden = true; } } }, t('cancel')));
    confirmBox.hidden = false;
  };
  const btn = (action, cls, call) => (may(info, me, action, id)
    ? h('button', { class: `${cls} act-${action}`, type: 'button', on: { click: () => ask(action, call) } }, t('act_' + action))
    : null);
  const g = info.group;
  const muteFor = h('select', { class: 'mute-for' }, ...MUTE_FOR.map(([s, k]) => h('option', { value: s }, t(k))));
  muteFor.value = '3600';
  const buttons = [
    btn('admin', 'secondary', () => api.setRole(g, id, 'admin')),
    btn('member', 'secondary', () => api.setRole(g, id, 'member')),
    may(info, me, 'mute', id) && !mutedNow(info, id)
      ? h('span', { class: 'mute-group' }, muteFor, btn('mute', 'secondary', () => api.mute(g, id, Number(muteFor.value))))
      : null,
    btn('unmute', 'secondary', () => api.unmute(g, id)),
    btn('remove', 'danger', () => api.remove(g, id)),
    btn('ban', 'danger', () => api.ban(g, id)),
    btn('unban', 'secondary', () => api.unban(g, id)),
    btn('transfer', 'danger', () => api.transfer(g, id)),
  ].filter(Boolean);
  if (!buttons.length) return null;
  box.append(h('div', { class: 'actions wrap' }, ...buttons), confirmBox, err);
  const toggle = h('button', { class: 'link manage', type: 'button', on: { click: () => {
    box.hidden = !box.hidden;
    if (box.hidden) open.delete(id); else open.add(id);
  } } }, t('manage'));
  return { toggle, box };
}

function row(app, info, id, redraw, open) {
  const me = app.me.peer_id;
  const p = panel(app, info, id, redraw, open);
  return h('li', { class: 'member', 'data-author': id },
    h('div', { class: 'group-row' },
      h('div', { class: 'avatar' }, initial(app.nameOf(id))),
      h('div', { class: 'grow' },
        h('div', { class: 'name' }, app.nameOf(id), id === me ? ` (${t('you')})` : ''),
        h('div', { class: 'last' }, shortId(id)),
        h('div', { class: 'states' }, ...states(app, info, id))),
      p ? p.toggle : null),
    p ? p.box : null);
}

function draw(app, root, info, redraw, open) {
  const rank = { owner: 0, admin: 1, member: 2 };
  const ids = [...new Set([info.owner, ...info.members])]
    .sort((a, b) => rank[roleOf(info, a)] - rank[roleOf(info, b)]);
  const list = h('ul', { class: 'list', id: 'members' }, ...ids.map((id) => row(app, info, id, redraw, open)));
  const banned = info.banned || [];
  clear(root).append(...[infoCard(app, info),
    h('div', { class: 'toolbar' },
      h('button', { class: 'secondary', id: 'to-log', type: 'button', on: { click: () => app.go('log/' + info.group) } }, t('modLog'))),
    list,
    banned.length ? h('h3', { class: 'section' }, t('bannedN', banned.length)) : null,
    banned.length ? h('ul', { class: 'list', id: 'banned' }, ...banned.map((id) => row(app, info, id, redraw, open))) : null,
    h('div', { class: 'pad' }, h('button', { class: 'danger', id: 'leave', type: 'button', on: { click: async () => {
      if (!window.confirm(t('confirmLeave'))) return;
      await api.leave(info.group);
      app.go('groups');
    } } }, t('leave')))].filter(Boolean));
}

/** `#/members/GROUP`. */
export async function render(app, view) {
  const root = h('div', { class: 'members-view' });
  view.root.append(root);
  let group = view.arg;
  const open = new Set();
  async function redraw() {
    const info = await api.group(group);
    if (!app.alive(view.gen)) return;
    group = info.group;
    app.learn(info);
    app.setTitle(`${info.name} · ${t('members')}`, 'chat/' + info.group);
    draw(app, root, info, redraw, open);
  }
  await redraw();
  app.onEvent((ev) => {
    if (ev.type === 'message' && ev.group === group && CONTROL_KINDS.has(ev.kind)) redraw();
  });
}
