// A group's moderation log: every control op in group order (who did what to whom, when),
// and, for an op the group's rule refused at its place, the rule and why. Ids in the
// daemon's words are replaced by the names the page knows (ops.js; in Chinese, a sentence
// from the op's kind); everything is text.

import { api } from './api.js';
import { h, clear, fmtTime } from './dom.js';
import { t } from './i18n.js';
import { CONTROL_KINDS } from './rights.js';
import { kindLabel, opText } from './ops.js';


function entry(app, e) {
  return h('li', { class: e.allowed ? 'log-entry' : 'log-entry refused', 'data-id': e.id, 'data-kind': e.kind },
    h('div', { class: 'row' },
      h('span', { class: 'kind' }, kindLabel(e.kind)),
      h('b', { class: 'grow author' }, e.author_name || app.nameOf(e.author)),
      h('span', { class: 'time' }, fmtTime(e.timestamp_ms))),
    e.target ? h('div', { class: 'target' }, '→ ', e.target_name || app.nameOf(e.target)) : null,
    h('div', { class: 'text' }, opText(app, e.kind, e.text, e.target, [e.author, e.target])),
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
    for (const e of log) app.learn({ names: { [e.author]: e.author_name, ...(e.target ? { [e.target]: e.target_name } : {}) } });
    clear(list);
    if (!log.length) list.append(h('li', { class: 'hint' }, t('noLog')));
    for (const e of log) list.append(entry(app, e));
  }
  await redraw();
  app.onEvent((ev) => {
    if (ev.type === 'message' && ev.group === info.group && CONTROL_KINDS.has(ev.kind)) redraw();
  });
}
