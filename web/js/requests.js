// Join requests of a listed group we administer: approve or reject each pending one.

import { api } from './api.js';
import { h, clear, fmtTime, toast } from './dom.js';
import { t } from './i18n.js';

function item(app, group, r, redraw) {
  const decide = (approve) => async () => {
    try { await api.decide(group, r.requester, approve); redraw(); } catch (e) { toast(t('error', e.message)); }
  };
  return h('li', { class: 'request', 'data-author': r.requester },
    h('div', { class: 'row' },
      h('b', { class: 'grow name' }, r.requester_name || app.nameOf(r.requester)),
      h('span', { class: 'status' }, t(r.status))),
    r.note ? h('div', { class: 'note' }, r.note) : null,
    h('div', { class: 'tags' }, fmtTime(r.issued_ms)),
    r.status === 'pending'
      ? h('div', { class: 'actions' },
        h('button', { class: 'approve', type: 'button', on: { click: decide(true) } }, t('approve')),
        h('button', { class: 'reject secondary', type: 'button', on: { click: decide(false) } }, t('reject')))
      : null);
}

/** `#/requests/GROUP`. */
export async function render(app, view) {
  const info = await api.group(view.arg);
  if (!app.alive(view.gen)) return;
  app.setTitle(`${info.name} · ${t('requests')}`, 'chat/' + info.group);
  const list = h('ul', { class: 'list', id: 'requests' });
  view.root.append(list);
  async function redraw() {
    const reqs = await api.requests(info.group);
    if (!app.alive(view.gen)) return;
    clear(list);
    if (!reqs.length) list.append(h('li', { class: 'hint' }, t('noRequests')));
    for (const r of reqs) list.append(item(app, info.group, r, redraw));
  }
  await redraw();
  app.onEvent((ev) => { if (ev.type === 'join_requested' && ev.group === info.group) redraw(); });
}
