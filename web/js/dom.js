// Building the page from data, safely: every string goes in as a text node
// (createTextNode / textContent) or as a plain attribute value; nothing is ever parsed as
// HTML. A unit test (node/src/http/web.rs) refuses the DOM calls that parse markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069, U+061C) reorder
// the text around them, so a name or message could show "exe.txt" for "txt.exe"; C0/C1
// controls (but tab and newline) have no business in chat text. Shown as `\u{202e}`, as the
// CLI prints them (Unicode TR #36, section 2.4, "bidirectional text spoofing").
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u202a-\u202e\u2066-\u2069]/g;

/** `s` with bidi controls and control characters made visible as `\u{..}`. */
export function visible(s) {
  return String(s).replace(HIDDEN, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
}

// Sets attributes and listeners: `on: {click: fn}`, `class`, any other attribute. A
// string child becomes a text node; null/false children are skipped.
function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'value') {
      el.value = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(visible(c)) : c);
  }
  return el;
}

/** An HTML element: h('li', {class: 'x'}, 'text', child). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element (charts). */
export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Removes every child of `el`. */
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** The last 6 characters of an id, to tell people apart. */
export function shortId(id) {
  return id ? '·' + String(id).slice(-6) : '';
}

/** A time: hh:mm today, else the date. */
export function fmtTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) {
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  return d.toLocaleDateString();
}

/** A moment with its date and time (when a mute ends). */
export function fmtWhen(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString([], { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

let toastTimer = null;
/** A short message at the bottom of the page. */
export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = visible(text);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

/** The first letter of a name, for an avatar. */
export function initial(name) {
  return Array.from(String(name || '?').trim())[0] || '?';
}
