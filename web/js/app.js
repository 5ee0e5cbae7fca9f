// The web app's shell: log-in check, the shared state every screen uses (who we are,
// display names, read positions, the live event stream), and a hash router. Each screen is
// a module of its own with `render(app, view)`; a new feature (contacts, trade, lives)
// adds its module and one line to SCREENS (and NAV if it has a tab).

import { api, events } from './api.js';
import { h, clear, shortId, visible } from './dom.js';
import { t, toggle, current } from './i18n.js';
import * as groups from './groups.js';
import * as chat from './chat.js';
import * as members from './members.js';
import * as log from './log.js';
import * as create from './create.js';
import * as join from './join.js';
import * as search from './search.js';
import * as requests from './requests.js';
import * as profile from './profile.js';
import * as stats from './stats.js';

/** Route name → screen renderer. `#/name/arg` shows `SCREENS[name]` with `arg`. */
const SCREENS = {
  groups: groups.render,
  chat: chat.render,
  members: members.render,
  log: log.render,
  stats: stats.render,
  requests: requests.render,
  new: create.render,
  invite: create.renderInvite,
  join: join.render,
  search: search.render,
  profile: profile.render,
};

/** The tabs at the bottom: route, text key. */
const NAV = [
  ['groups', 'groups'],
  ['search', 'search'],
  ['join', 'join'],
  ['new', 'create'],
  ['profile', 'profile'],
];

const main = document.getElementById('main');
let leaving = [];
let generation = 0;

/** What every screen shares. */
export const app = {
  /** `{peer_id, name}` once logged in. */
  me: null,
  /** Display names by author id, learnt from groups, messages and profiles. */
  names: new Map(),
  listeners: new Set(),

  /** A person's display name, or the end of their id. */
  nameOf(id) {
    if (this.me && id === this.me.peer_id && this.me.name) return this.me.name;
    return this.names.get(id) || shortId(id);
  },
  /** Keeps the names of a group info (`names`) or a message (`author_name`). */
  learn(obj) {
    if (!obj) return;
    for (const [id, name] of Object.entries(obj.names || {})) if (name) this.names.set(id, name);
    if (obj.author && obj.author_name) this.names.set(obj.author, obj.author_name);
  },
  /** The timestamp of the newest message read in `group` (localStorage). */
  lastRead(group) {
    return Number(localStorage.getItem(`qun:read:${this.me.peer_id}:${group}`) || 0);
  },
  markRead(group, ms) {
    if (ms > this.lastRead(group)) localStorage.setItem(`qun:read:${this.me.peer_id}:${group}`, String(ms));
  },
  /** Calls `fn(event)` for each live event until the screen is left. */
  onEvent(fn) {
    this.listeners.add(fn);
    leaving.push(() => this.listeners.delete(fn));
  },
  /** Runs `fn` when the screen is left. */
  onLeave(fn) { leaving.push(fn); },
  /** Whether the screen that started at `gen` is still shown. */
  alive(gen) { return gen === generation; },
  go(route) { location.hash = '#/' + route; },
  /** Draws the current screen again. */
  refresh() { show(); },
  setTitle(text, back) {
    document.getElementById('title').textContent = visible(text);
    const b = document.getElementById('back');
    b.hidden = !back;
    b.onclick = back ? () => this.go(back) : null;
  },
  setBanner(text) {
    const el = document.getElementById('banner');
    el.textContent = text ? visible(`${t('announcement')}: ${text}`) : '';
    el.hidden = !text;
  },
};

function drawNav(route) {
  const nav = clear(document.getElementById('nav'));
  for (const [r, key] of NAV) {
    nav.append(h('a', { href: '#/' + r, class: r === route ? 'on' : null, id: 'nav-' + r }, t(key)));
  }
  document.getElementById('lang').textContent = current() === 'zh' ? 'EN' : '中';
  document.documentElement.lang = current() === 'zh' ? 'zh-CN' : 'en';
}

function show() {
  for (const fn of leaving) fn();
  leaving = [];
  generation += 1;
  const [name, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const route = SCREENS[name] ? name : 'groups';
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : null;
  clear(main);
  app.setBanner(null);
  app.setTitle('qun', null);
  drawNav(route);
  const gen = generation;
  Promise.resolve(SCREENS[route](app, { root: main, arg, gen })).catch((e) => {
    if (app.alive(gen)) main.append(h('p', { class: 'hint error' }, t('error', e.message)));
  });
}

async function start() {
  document.getElementById('lang').addEventListener('click', () => { toggle(); show(); });
  try {
    const id = await api.id();
    app.me = { peer_id: id.peer_id, name: null };
  } catch (e) {
    clear(main).append(h('p', { class: 'hint', id: 'not-logged-in' }, t('notLoggedIn')));
    drawNav(null);
    return;
  }
  try {
    const p = await api.profile();
    app.me.name = p.name || null;
  } catch (_) { /* no profile yet */ }
  events((ev) => { for (const fn of [...app.listeners]) fn(ev); });
  window.addEventListener('hashchange', show);
  show();
  document.body.dataset.ready = '1';
}

start();
