// A group's chat: the announcement banner, the history (scrolling up loads older pages
// with `before`), live messages from the event stream, and the composer with replies and
// @mentions (a mention of a member's display name is sent as their author id; mentions of
// our name are highlighted), the pinned messages (pin and unpin from a message, for
// admins), and our standing (muted, removed). A refused send shows the daemon's reason
// above the composer. Text is put in the page as text nodes only.

import { api } from './api.js';
import { h, clear, fmtTime, fmtWhen, toast, visible } from './dom.js';
import { t } from './i18n.js';
import { readable } from './groups.js';
import { pinsBox } from './pins.js';
import { opText } from './ops.js';
import { CONTROL_KINDS, isAdmin, isMember, isBanned, may, muteOf, mutedNow } from './rights.js';

/** Messages per history page. */
const PAGE = 30;
/** How close to the top (px) scrolling loads the previous page. */
const TOP_SLACK = 40;

/** `text` as nodes, each `@Name` of `names` in a highlighted span. */
export function withMentions(text, names) {
  const frag = document.createDocumentFragment();
  const pats = [...new Set(names.filter(Boolean))].map((n) => '@' + n);
  let i = 0;
  while (i < text.length) {
    let at = -1;
    let pat = '';
    for (const p of pats) {
      const j = text.indexOf(p, i);
      if (j >= 0 && (at < 0 || j < at || (j === at && p.length > pat.length))) { at = j; pat = p; }
    }
    if (at < 0) { frag.append(document.createTextNode(visible(text.slice(i)))); break; }
    if (at > i) frag.append(document.createTextNode(visible(text.slice(i, at))));
    frag.append(h('span', { class: 'mention' }, pat));
    i = at + pat.length;
  }
  return frag;
}

/** `#/chat/GROUP`. */
export async function render(app, view) {
  const group = view.arg;
  let info = await api.group(group);
  if (!app.alive(view.gen)) return;
  app.learn(info);
  const me = app.me.peer_id;
  app.setTitle(info.name, 'groups');
  app.setBanner(info.announcement ? info.announcement.text : null);
  const byId = new Map();
  let replyTo = null;
  const memberNames = () => info.members.map((m) => app.names.get(m)).filter(Boolean);
  const allNames = () => [...memberNames(), app.me.name];

  const bar = h('div', { class: 'toolbar' },
    h('button', { class: 'secondary', id: 'to-members', on: { click: () => app.go('members/' + info.group) } }, t('members')),
    h('button', { class: 'secondary', id: 'to-stats', on: { click: () => app.go('stats/' + info.group) } }, t('stats')),
    h('button', { class: 'secondary', id: 'to-invite', hidden: true, on: { click: () => app.go('invite/' + info.group) } }, t('invite')),
    h('button', { class: 'secondary', id: 'to-requests', hidden: true, on: { click: () => app.go('requests/' + info.group) } }, t('requests')),
    // Shown while our role allows it (showState follows role changes).
    h('button', { class: 'secondary', id: 'set-announcement', hidden: true, on: { click: announce } }, t('setAnnouncement')));
  const pins = pinsBox(app, byId);
  const standing = h('div', { class: 'standing', id: 'standing', hidden: true });
  const sendError = h('div', { class: 'send-error', id: 'composer-error', role: 'alert', hidden: true });
  const msgs = h('div', { class: 'msgs', id: 'messages' });
  const replying = h('div', { class: 'replying', hidden: true });
  const suggest = h('div', { class: 'suggest', id: 'mention-suggest' });
  const input = h('textarea', { id: 'composer-text', placeholder: t('messagePlaceholder'), maxlength: 4000 });
  const sendBtn = h('button', { id: 'composer-send', type: 'button' }, t('send'));
  view.root.append(bar, pins.el, msgs,
    h('div', { class: 'composer' }, standing, sendError, replying, suggest, h('div', { class: 'row' }, h('div', { class: 'grow' }, input), sendBtn)));

  async function announce() {
    const text = window.prompt(t('announcePlaceholder'), info.announcement ? info.announcement.text : '');
    if (!text) return;
    try { await api.announce(info.group, text); } catch (e) { toast(t('error', e.message)); }
  }

  function quote(id) {
    const q = byId.get(id);
    return h('div', { class: 'quote' }, q ? `${app.nameOf(q.author)}: ${q.text.slice(0, 80)}` : '↩');
  }

  function el(m) {
    if (!readable(m)) {
      const mentions = m.mentions || [];
      const text = opText(app, m.kind, m.text, mentions[0] || null, mentions);
      return h('div', { class: 'msg system', 'data-id': m.id, 'data-kind': m.kind }, `${app.nameOf(m.author)} · ${text}`);
    }
    const mentioned = (m.mentions || []).includes(me) || (app.me.name && m.text.includes('@' + app.me.name));
    const cls = ['msg', m.author === me ? 'mine' : '', mentioned ? 'mentioned' : ''].join(' ').trim();
    return h('div', { class: cls, 'data-id': m.id },
      h('div', { class: 'meta' },
        h('span', { class: 'author' }, app.nameOf(m.author)),
        h('span', {}, fmtTime(m.timestamp_ms)),
        h('button', { class: 'link reply', type: 'button', on: { click: () => setReply(m) } }, t('reply')),
        pinButton(m)),
      h('div', { class: 'bubble' },
        m.reply_to ? quote(m.reply_to) : null,
        m.kind === 'announcement' ? h('b', {}, `${t('announcement')}: `) : null,
        h('span', { class: 'text' }, withMentions(m.text, allNames()))));
  }

  const pinned = (id) => (info.pins || []).some((p) => p.id === id);
  const mayPin = (id) => may(info, me, pinned(id) ? 'unpin' : 'pin', id);
  /** Pin or unpin, shown while our role allows it (showState follows role changes). */
  function pinButton(m) {
    return h('button', { class: 'link pin-toggle', type: 'button', hidden: !mayPin(m.id), on: { click: async () => {
      try {
        if (pinned(m.id)) await api.unpin(info.group, m.id); else await api.pin(info.group, m.id);
      } catch (e) { toast(t('refused', e.message)); }
    } } }, pinned(m.id) ? t('unpin') : t('pin'));
  }

  /** Shows our standing (muted, removed) and the pins of the current `info`. */
  function showState() {
    clear(standing);
    const gone = !isMember(info, me);
    const mute = muteOf(info, me);
    if (gone) standing.append(t(isBanned(info, me) ? 'youBanned' : 'youRemoved'));
    else if (mute && mutedNow(info, me)) standing.append(mute.until_ms ? t('youMutedUntil', fmtWhen(mute.until_ms)) : t('youMuted'));
    standing.hidden = !standing.firstChild;
    input.disabled = gone;
    sendBtn.disabled = gone;
    for (const b of msgs.querySelectorAll('.pin-toggle')) {
      const id = b.closest('.msg').dataset.id;
      b.textContent = pinned(id) ? t('unpin') : t('pin');
      b.hidden = !mayPin(id);
    }
    document.getElementById('set-announcement').hidden = !may(info, me, 'announce');
    // Invite codes are made by the owner and the admins (the daemon refuses others).
    document.getElementById('to-invite').hidden = gone || !isAdmin(info, me);
    // Join requests of a listed group go to the owner and the admins.
    document.getElementById('to-requests').hidden = !(info.visibility === 'listed' && isAdmin(info, me));
    pins.update(info);
  }

  function setReply(m) {
    replyTo = m;
    clear(replying);
    replying.hidden = !m;
    if (m) {
      replying.append(h('span', { class: 'grow' }, t('replyingTo', app.nameOf(m.author))),
        h('button', { class: 'link', type: 'button', on: { click: () => setReply(null) } }, t('cancel')));
      input.focus();
    }
  }

  function seen(list) {
    const newest = list.filter(readable).map((m) => m.timestamp_ms);
    if (newest.length) app.markRead(info.group, Math.max(...newest));
  }

  let oldest = null;
  let loading = false;
  let done = false;
  async function loadOlder() {
    if (loading || done) return;
    loading = true;
    const page = await api.history(info.group, PAGE, oldest);
    loading = false;
    if (!app.alive(view.gen)) return;
    const fresh = page.filter((m) => !byId.has(m.id));
    if (page.length < PAGE || !fresh.length) done = true;
    if (!fresh.length) return;
    oldest = fresh[0].id;
    const before = msgs.scrollHeight;
    const frag = document.createDocumentFragment();
    for (const m of fresh) { app.learn(m); byId.set(m.id, m); frag.append(el(m)); }
    msgs.prepend(frag);
    msgs.scrollTop += msgs.scrollHeight - before;
  }

  await loadOlder();
  if (!app.alive(view.gen)) return;
  showState();
  if (!byId.size) msgs.append(h('p', { class: 'hint', id: 'no-messages' }, t('noMessages')));
  msgs.scrollTop = msgs.scrollHeight;
  seen([...byId.values()]);
  msgs.addEventListener('scroll', () => { if (msgs.scrollTop < TOP_SLACK) loadOlder(); });

  app.onEvent(async (ev) => {
    if (ev.type !== 'message' || ev.group !== info.group || byId.has(ev.id)) return;
    if (CONTROL_KINDS.has(ev.kind)) {
      const fresh = await api.group(info.group).catch(() => null);
      if (fresh && app.alive(view.gen)) { info = fresh; app.learn(info); showState(); }
    }
    if (byId.has(ev.id)) return;
    app.learn(ev);
    byId.set(ev.id, ev);
    const hint = document.getElementById('no-messages');
    if (hint) hint.remove();
    const atBottom = msgs.scrollHeight - msgs.scrollTop - msgs.clientHeight < 80;
    msgs.append(el(ev));
    if (atBottom || ev.author === me) msgs.scrollTop = msgs.scrollHeight;
    if (ev.kind === 'announcement') app.setBanner(ev.text);
    seen([ev]);
  });

  input.addEventListener('input', () => {
    clear(suggest);
    const m = /@([^\s@]*)$/.exec(input.value.slice(0, input.selectionStart));
    if (!m) return;
    const others = info.members.filter((id) => id !== me).map((id) => app.names.get(id)).filter(Boolean);
    const names = others.filter((n) => n.toLowerCase().startsWith(m[1].toLowerCase())).slice(0, 6);
    for (const n of names) {
      suggest.append(h('button', { class: 'secondary', type: 'button', on: { click: () => {
        const pos = input.selectionStart;
        input.value = input.value.slice(0, pos - m[1].length) + n + ' ' + input.value.slice(pos);
        clear(suggest);
        input.focus();
      } } }, '@' + n));
    }
  });

  async function send() {
    const text = input.value.trim();
    if (!text) return;
    const mentions = info.members.filter((id) => {
      const n = app.names.get(id);
      return n && id !== me && text.includes('@' + n);
    });
    sendBtn.disabled = true;
    sendError.hidden = true;
    try {
      await api.send(info.group, text, replyTo && replyTo.id, mentions);
      input.value = '';
      setReply(null);
      clear(suggest);
    } catch (e) {
      sendError.textContent = visible(e.status === 403 ? t('refused', e.message) : t('error', e.message));
      sendError.hidden = false;
    } finally {
      sendBtn.disabled = !isMember(info, me);
    }
  }
  sendBtn.addEventListener('click', send);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
}
