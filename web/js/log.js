// A group's moderation log: every control op in group order (who did what to whom, when),
// and, for an op the group's rule refused at its place, the rule and why. Ids in the
// daemon's words are replaced by the names the page knows; everything is text.

import { api } from './api.js';
import { h, clear, fmtTime } from './dom.js';
import { t } from './i18n.js';
import { CONTROL_KINDS } from './rights.js';

/** The op's words, with the author's and target's ids put as their names. */
function words(app, e) {
  let text = e.text;
  for (const [id, name] of [[e.author, e.author_name], [e.target, e.target_name]]) {
    if (id) text = text.split(id).join(name || app.nameOf(id));
  }
  return text;
}

function entry(app, e) {
  return h('li', { class: e.allowed ? 'log-entry' : 'log-entry refused', 'data-id': e.id, 'data-kind': e.kind },
    h('div', { class: 'row' },
      h('span', { class: 'kind' }, t('kind_' + e.kind) === 'kind_' + e.kind ? e.kind : t('kind_' + e.kind)),
      h('b', { class: 'grow author' }, e.author_name || app.nameOf(e.author)),
      h('span', { class: 'time' }, fmtTime(e.timestamp_ms))),
    e.target ? h('div', { class: 'target' }, '→ ', e.target_name || app.nameOf(e.target)) : null,
    h('div', { class: 'text' }, words(app, e)),
    e.allowed ? null : h('div', { class: 'reason' }, t('refusedBy', e.rule || '', e.reason || '')));
}

/** `#/log/GROUP`. */
export async function render(app, view) {
  const info = await api.group(view.arg);
  if (!app.alive(view.gen)) return;
  app.learn(info);
  app.setTitle(`${info.name} · ${t('modLog')}`, 'members/' + info.group);
  const list = h('ul', { class: 'list', id: 'mod-log' });
  view.root.append(list);
  async function redraw() {
    const log = await api.log(info.group);
    if (!app.alive(view.gen)) return;
    clear(list);
    if (!log.length) list.append(h('li', { class: 'hint' }, t('noLog')));
    for (const e of log) list.append(entry(app, e));
  }
  await redraw();
  app.onEvent((ev) => {
    if (ev.type === 'message' && ev.group === info.group && CONTROL_KINDS.has(ev.kind)) redraw();
  });
}
