// Joining with an invite code pasted from anywhere (text around the code is fine: the
// daemon finds it).

import { api } from './api.js';
import { h, toast } from './dom.js';
import { t } from './i18n.js';

/** `#/join`. */
export function render(app, view) {
  app.setTitle(t('join'));
  const code = h('textarea', { id: 'join-code', class: 'code', placeholder: t('pasteCode') });
  const btn = h('button', { id: 'join-submit', type: 'submit' }, t('joinBtn'));
  const form = h('form', { class: 'card', id: 'join-form' },
    h('label', { for: 'join-code' }, t('pasteCode')), code, h('div', { class: 'actions' }, btn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const invite = code.value.trim();
    if (!invite) return;
    btn.disabled = true;
    try {
      const out = await api.join({ invite });
      toast(t('joined', out.name));
      app.go('chat/' + out.group);
    } catch (err) {
      toast(t('error', err.message));
      btn.disabled = false;
    }
  });
  view.root.append(form);
}
