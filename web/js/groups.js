// The groups list: each joined group with its last message and how many messages came
// since we last read it (counted here from the history and the live stream; the read
// position is kept in localStorage by the chat view).

import { api } from './api.js';
import { h, clear, fmtTime, initial } from './dom.js';
import { t } from './i18n.js';

/** Messages looked at per group to count unread ones. */
const UNREAD_WINDOW = 50;

/** Whether a message counts as something to read. */
export function readable(m) {
  return m.kind === 'text' || m.kind === 'announcement';
}

function unreadOf(app, group, msgs) {
  const since = app.lastRead(group);
  return msgs.filter((m) => readable(m) && m.timestamp_ms > since && m.author !== app.me.peer_id).length;
}

function row(app, item) {
  const { info, last, unread } = item;
  const preview = last ? `${app.nameOf(last.author)}: ${last.text}` : '';
  return h('li', { class: 'group-row', 'data-group': info.group, on: { click: () => app.go('chat/' + info.group) } },
    h('div', { class: 'avatar' }, initial(info.name)),
    h('div', { class: 'grow' },
      h('div', { class: 'name' }, info.name),
      h('div', { class: 'last' }, preview)),
    h('div', {},
      h('div', { class: 'time' }, last ? fmtTime(last.timestamp_ms) : ''),
      unread ? h('div', { class: 'badge unread' }, String(unread)) : null));
}

function draw(app, list, items) {
  clear(list);
  const sorted = [...items.values()].sort((a, b) =>
    ((b.last && b.last.timestamp_ms) || b.info.joined_ms) - ((a.last && a.last.timestamp_ms) || a.info.joined_ms));
  for (const item of sorted) list.append(row(app, item));
}

/** `#/groups`. */
export async function render(app, view) {
  app.setTitle(t('groups'));
  const infos = await api.groups();
  if (!app.alive(view.gen)) return;
  if (!infos.length) {
    view.root.append(h('p', { class: 'hint', id: 'no-groups' }, t('noGroups')));
  }
  const items = new Map();
  await Promise.all(infos.map(async (info) => {
    app.learn(info);
    let msgs = [];
    try { msgs = await api.history(info.group, UNREAD_WINDOW); } catch (_) { msgs = []; }
    msgs.forEach((m) => app.learn(m));
    const last = [...msgs].reverse().find(readable) || null;
    items.set(info.group, { info, last, unread: unreadOf(app, info.group, msgs) });
  }));
  if (!app.alive(view.gen)) return;
  const list = h('ul', { class: 'list', id: 'groups' });
  view.root.append(list);
  draw(app, list, items);
  app.onEvent((ev) => {
    if (ev.type === 'joined') { app.refresh(); return; }
    if (ev.type !== 'message' || !readable(ev)) return;
    const item = items.get(ev.group);
    if (!item) return;
    app.learn(ev);
    item.last = ev;
    if (ev.author !== app.me.peer_id && ev.timestamp_ms > app.lastRead(ev.group)) item.unread += 1;
    draw(app, list, items);
  });
}
