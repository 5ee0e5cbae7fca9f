// Searching the network for public and listed groups, and joining one (public) or asking
// to (listed, with a note for its admins).

import { api } from './api.js';
import { h, clear, toast } from './dom.js';
import { t } from './i18n.js';

function hit(app, g) {
  const note = g.visibility === 'listed' ? h('input', { class: 'note', placeholder: t('note'), maxlength: 200 }) : null;
  const btn = h('button', { class: 'join', type: 'button' }, g.visibility === 'listed' ? t('request') : t('joinBtn'));
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const out = await api.join({ group: g.group, note: note ? note.value.trim() : '' });
      if (out.status === 'joined' || out.status === 'already_member') { toast(t('joined', out.name)); app.go('chat/' + out.group); }
      else toast(t('requested', out.name || g.name));
    } catch (e) {
      toast(t('error', e.message));
      btn.disabled = false;
    }
  });
  return h('li', { class: 'hit', 'data-group': g.group },
    h('div', { class: 'row' }, h('b', { class: 'grow name' }, g.name), h('span', { class: 'status' }, t(g.visibility))),
    g.description ? h('div', { class: 'description' }, g.description) : null,
    h('div', { class: 'tags' }, [t('membersN', g.members), ...g.tags.map((x) => '#' + x)].join('  ')),
    h('div', { class: 'actions' }, note, btn));
}

/** `#/search`. */
export function render(app, view) {
  app.setTitle(t('search'));
  const q = h('input', { id: 'search-q', type: 'search', placeholder: t('searchPlaceholder') });
  const go = h('button', { id: 'search-go', type: 'submit' }, t('searchBtn'));
  const results = h('ul', { class: 'list', id: 'search-results' });
  const form = h('form', { class: 'row pad' }, h('div', { class: 'grow' }, q), go);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!q.value.trim()) return;
    go.disabled = true;
    clear(results).append(h('li', { class: 'hint' }, t('loading')));
    try {
      const res = await api.search(q.value.trim());
      clear(results);
      if (!res.hits.length) results.append(h('li', { class: 'hint', id: 'no-hits' }, t('noHits')));
      for (const g of res.hits) results.append(hit(app, g));
    } catch (err) {
      clear(results).append(h('li', { class: 'hint' }, t('error', err.message)));
    } finally {
      go.disabled = false;
    }
  });
  view.root.append(form, results);
}
