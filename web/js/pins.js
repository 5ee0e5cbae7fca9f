// A group's pinned messages, shown above the chat: each pin's author and text (from the
// messages the chat has loaded, else from a wider page of history, else the id's tail),
// who pinned it, and an unpin button for admins. Clicking a pin scrolls to its message
// when it is loaded.

import { api } from './api.js';
import { h, clear, shortId, toast } from './dom.js';
import { t } from './i18n.js';
import { may } from './rights.js';

/** Messages read to find pinned ones the chat has not loaded. */
const PIN_LOOKUP = 500;

/** The pins box of a chat: `{el, update(info)}`; `byId` is the chat's loaded messages. */
export function pinsBox(app, byId) {
  const el = h('div', { class: 'pins', id: 'pins', hidden: true });
  /** Pinned messages found by the wider lookup (kept apart from the chat's pages). */
  const found = new Map();
  let looked = false;

  function item(info, pin) {
    const m = byId.get(pin.id) || found.get(pin.id);
    const text = m ? `${app.nameOf(m.author)}: ${m.text}` : t('messageId', shortId(pin.id));
    const unpin = may(info, app.me.peer_id, 'unpin', pin.id)
      ? h('button', { class: 'link unpin', type: 'button', on: { click: async (e) => {
        e.stopPropagation();
        try { await api.unpin(info.group, pin.id); } catch (err) { toast(t('refused', err.message)); }
      } } }, t('unpin'))
      : null;
    return h('div', { class: 'pin', 'data-id': pin.id, on: { click: () => {
      const target = document.querySelector(`.msg[data-id="${CSS.escape(pin.id)}"]`);
      if (target) target.scrollIntoView({ block: 'center' });
    } } },
    h('span', { class: 'pin-label' }, t('pinned')),
    h('span', { class: 'grow pin-text' }, text),
    unpin);
  }

  async function update(info) {
    const pins = info.pins || [];
    if (!looked && pins.some((p) => !byId.has(p.id))) {
      looked = true;
      try {
        for (const m of await api.history(info.group, PIN_LOOKUP)) found.set(m.id, m);
      } catch (_) { /* shown by id */ }
    }
    clear(el);
    el.hidden = !pins.length;
    for (const p of [...pins].reverse()) el.append(item(info, p));
  }
  return { el, update };
}
