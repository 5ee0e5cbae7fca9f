// Our profile: display name, bio, gender and birth year (each shared only if set), signed
// and published by the daemon.

import { api, ApiError } from './api.js';
import { h, toast } from './dom.js';
import { t } from './i18n.js';

/** `#/profile`. */
export async function render(app, view) {
  app.setTitle(t('profile'));
  let p = null;
  try { p = await api.profile(); } catch (e) { if (!(e instanceof ApiError && e.status === 404)) throw e; }
  if (!app.alive(view.gen)) return;
  const name = h('input', { id: 'profile-name', maxlength: 64, value: p ? p.name : '' });
  const bio = h('textarea', { id: 'profile-bio', maxlength: 500, value: (p && p.bio) || '' });
  const gender = h('select', { id: 'profile-gender' },
    h('option', { value: '' }, t('unset')),
    ...['female', 'male', 'other'].map((g) => h('option', { value: g }, t(g))));
  gender.value = (p && p.gender) || '';
  const year = h('input', { id: 'profile-birth-year', type: 'number', min: 1900, max: 2100, value: (p && p.birth_year) || '' });
  const btn = h('button', { id: 'profile-save', type: 'submit' }, t('save'));
  const form = h('form', { class: 'card', id: 'profile-form' },
    h('label', { for: 'profile-name' }, t('name')), name,
    h('label', { for: 'profile-bio' }, t('bio')), bio,
    h('label', { for: 'profile-gender' }, t('gender')), gender,
    h('label', { for: 'profile-birth-year' }, t('birthYear')), year,
    h('div', { class: 'actions' }, btn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    // An empty bio, gender or year stops sharing it.
    const update = {
      name: name.value.trim() || null,
      bio: bio.value.trim(),
      gender: gender.value,
      birth_year: year.value ? Number(year.value) : 0,
    };
    btn.disabled = true;
    try {
      const saved = await api.setProfile(update);
      app.me.name = saved.name;
      toast(t('saved'));
    } catch (err) {
      toast(t('error', err.message));
    } finally {
      btn.disabled = false;
    }
  });
  view.root.append(form, h('div', { class: 'card' },
    h('label', {}, t('myId')), h('div', { class: 'code', id: 'my-id' }, app.me.peer_id)));
}
