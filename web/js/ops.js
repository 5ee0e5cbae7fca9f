// What a control op did, as a sentence in the page's language. The daemon describes each
// op in English and names members by their ids ("muted 12D3… for 3600 s"); the page puts
// the names it knows in place of the ids, and in Chinese says it from the op's kind, its
// target and the few details read from those words (the role, the mute's length). Every
// result is plain text.

import { t, current } from './i18n.js';

/** `secs` as a length in Chinese: 1 天 2 小时, 10 分钟, 30 秒. */
function zhLength(secs) {
  const parts = [[86400, '天'], [3600, '小时'], [60, '分钟'], [1, '秒']];
  const out = [];
  let left = secs;
  for (const [n, unit] of parts) {
    if (left >= n) { out.push(`${Math.floor(left / n)} ${unit}`); left %= n; }
  }
  return out.slice(0, 2).join(' ') || '0 秒';
}

// The Chinese sentence of an op (without its author), or null for a kind without one.
function zh(kind, target, text) {
  switch (kind) {
    case 'role': return /\badmin$/.test(text) ? `将 ${target} 设为管理员` : `取消了 ${target} 的管理员`;
    case 'mute': {
      const m = /for (\d+) s$/.exec(text);
      return m ? `禁言了 ${target} ${zhLength(Number(m[1]))}` : `禁言了 ${target}，直到解除`;
    }
    case 'unmute': return `解除了 ${target} 的禁言`;
    case 'remove': return `将 ${target} 移出了群聊`;
    case 'ban': return `封禁了 ${target}`;
    case 'unban': return `解除了对 ${target} 的封禁`;
    case 'transfer': return `把群主转让给 ${target}`;
    case 'pin': return '置顶了一条消息';
    case 'unpin': return '取消了一条置顶';
    case 'join': return '加入了群聊';
    case 'leave': return '退出了群聊';
    case 'rekey': return '更换了群密钥';
    case 'meta': return '修改了群简介和标签';
    default: return null;
  }
}

/**
 * The sentence of an op of `kind` (without its author) whose daemon words are `text`,
 * targeting `target` (an author id, or null); `ids` are the author ids to show by name.
 */
export function opText(app, kind, text, target, ids) {
  const named = ids.filter(Boolean).reduce((s, id) => s.split(id).join(app.nameOf(id)), text);
  if (current() !== 'zh') return named;
  return zh(kind, target ? app.nameOf(target) : '', text) || named;
}

/** The label of an op's kind. */
export function kindLabel(kind) {
  const key = 'kind_' + kind;
  const label = t(key);
  return label === key ? kind : label;
}
