// A group's members with the roles the API shows today (the owner; everyone else is a
// member), and leaving the group. Admin roles and moderation (mute, remove, ban, the
// moderation log) come with group roles (issue 13) as actions on these rows.

import { api } from './api.js';
import { h, initial } from './dom.js';
import { t } from './i18n.js';

/** `#/members/GROUP`. */
export async function render(app, view) {
  const info = await api.group(view.arg);
  if (!app.alive(view.gen)) return;
  app.learn(info);
  app.setTitle(`${info.name} · ${t('members')} (${info.members.length})`, 'chat/' + info.group);
  const me = app.me.peer_id;
  const ids = [...new Set([info.owner, ...info.members])];
  const list = h('ul', { class: 'list', id: 'members' });
  for (const id of ids) {
    const owner = id === info.owner;
    list.append(h('li', { class: 'group-row member', 'data-author': id },
      h('div', { class: 'avatar' }, initial(app.nameOf(id))),
      h('div', { class: 'grow' },
        h('div', { class: 'name' }, app.nameOf(id), id === me ? ` (${t('you')})` : ''),
        h('div', { class: 'last' }, id)),
      h('span', { class: owner ? 'role owner' : 'role' }, owner ? t('owner') : t('member'))));
  }
  view.root.append(list, h('p', { class: 'hint' }, t('moderationLater')),
    h('div', { class: 'pad' }, h('button', { class: 'danger', id: 'leave', type: 'button', on: { click: async () => {
      if (!window.confirm(t('confirmLeave'))) return;
      await api.leave(info.group);
      app.go('groups');
    } } }, t('leave'))));
}
