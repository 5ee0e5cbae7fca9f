// Creating a group, and a group's invite: the code to copy and its QR code (an SVG drawn
// by the daemon, `GET /v1/groups/G/invite/qr`).

import { api } from './api.js';
import { h, toast } from './dom.js';
import { t } from './i18n.js';

function field(labelKey, input) {
  return [h('label', { for: input.id }, t(labelKey)), input];
}

/** `#/new`. */
export function render(app, view) {
  app.setTitle(t('create'));
  const name = h('input', { id: 'new-name', maxlength: 64, required: true });
  const desc = h('textarea', { id: 'new-description', maxlength: 1000 });
  const tags = h('input', { id: 'new-tags' });
  const vis = h('select', { id: 'new-visibility' },
    ...['private', 'listed', 'public'].map((v) => h('option', { value: v }, t(v))));
  const btn = h('button', { id: 'new-submit', type: 'submit' }, t('createBtn'));
  const form = h('form', { class: 'card', id: 'new-form' },
    ...field('name', name), ...field('description', desc), ...field('tags', tags),
    ...field('visibility', vis), h('div', { class: 'actions' }, btn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    btn.disabled = true;
    try {
      const created = await api.createGroup({
        name: name.value.trim(),
        description: desc.value.trim(),
        tags: tags.value.split(/[,，]/).map((s) => s.trim()).filter(Boolean),
        visibility: vis.value,
      });
      sessionStorage.setItem(`qun:invite:${created.group}`, created.invite);
      app.go('invite/' + created.group);
    } catch (err) {
      toast(t('error', err.message));
      btn.disabled = false;
    }
  });
  view.root.append(form);
}

/** `#/invite/GROUP`: an invite code (the one from creation, else a new one) and its QR. */
export async function renderInvite(app, view) {
  const info = await api.group(view.arg);
  if (!app.alive(view.gen)) return;
  app.setTitle(`${info.name} · ${t('invite')}`, 'chat/' + info.group);
  let code = sessionStorage.getItem(`qun:invite:${info.group}`);
  if (!code) code = (await api.invite(info.group)).invite;
  if (!app.alive(view.gen)) return;
  const box = h('textarea', { id: 'invite-code', class: 'code', readonly: true, value: code });
  view.root.append(h('div', { class: 'card' },
    h('label', { for: 'invite-code' }, t('inviteCode')), box,
    h('img', { class: 'qr', id: 'invite-qr', alt: 'QR', src: api.qrUrl(info.group, code) }),
    h('p', { class: 'hint' }, t('inviteHint')),
    h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'invite-copy', on: { click: async () => {
        box.select();
        try { await navigator.clipboard.writeText(code); toast(t('copied')); } catch (_) { document.execCommand('copy'); }
      } } }, t('copy')),
      h('button', { type: 'button', class: 'secondary', id: 'open-chat', on: { click: () => app.go('chat/' + info.group) } }, t('openChat')))));
}
