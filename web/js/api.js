// The daemon's API, as the web app calls it: same origin, authenticated by the session
// cookie (the browser sends it; writes carry the page's Origin). One function per route,
// as qun-api's Call does for Rust clients.

/** An error answer: `status` and the daemon's `{"error"}` text. */
export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

const seg = encodeURIComponent;
const g = (group) => `/v1/groups/${seg(group)}`;
const m = (group, member) => `${g(group)}/members/${seg(member)}`;

async function call(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!res.ok) throw new ApiError(res.status, (json && json.error) || res.statusText);
  return json;
}

export const api = {
  id: () => call('GET', '/v1/id'),
  groups: () => call('GET', '/v1/groups'),
  group: (group) => call('GET', g(group)),
  createGroup: (req) => call('POST', '/v1/groups', req),
  join: (req) => call('POST', '/v1/groups/join', req),
  leave: (group) => call('DELETE', g(group)),
  invite: (group) => call('POST', `${g(group)}/invite`, {}),
  qrUrl: (group, code) => `${g(group)}/invite/qr?code=${seg(code)}`,
  history: (group, limit, before) =>
    call('GET', `${g(group)}/messages?limit=${limit}` + (before ? `&before=${seg(before)}` : '')),
  send: (group, text, replyTo, mentions) =>
    call('POST', `${g(group)}/messages`, { text, reply_to: replyTo || null, mentions: mentions || [] }),
  announce: (group, text) => call('POST', `${g(group)}/announcement`, { text }),
  stats: (group) => call('GET', `${g(group)}/stats`),
  setRole: (group, member, role) => call('POST', `${m(group, member)}/role`, { role }),
  transfer: (group, member) => call('POST', `${g(group)}/transfer`, { member }),
  remove: (group, member) => call('POST', `${m(group, member)}/remove`, {}),
  ban: (group, member) => call('POST', `${m(group, member)}/ban`, {}),
  unban: (group, member) => call('POST', `${m(group, member)}/unban`, {}),
  mute: (group, member, forSecs) =>
    call('POST', `${m(group, member)}/mute`, forSecs ? { for_secs: forSecs } : {}),
  unmute: (group, member) => call('POST', `${m(group, member)}/unmute`, {}),
  pin: (group, message) => call('POST', `${g(group)}/pins`, { message }),
  unpin: (group, message) => call('DELETE', `${g(group)}/pins/${seg(message)}`),
  log: (group) => call('GET', `${g(group)}/log`),
  requests: (group) => call('GET', `${g(group)}/requests`),
  decide: (group, author, approve) =>
    call('POST', `${g(group)}/requests/${seg(author)}/${approve ? 'approve' : 'reject'}`, {}),
  search: (q) => call('GET', `/v1/search?q=${seg(q)}`),
  profile: (author) => call('GET', author ? `/v1/profile/${seg(author)}` : '/v1/profile'),
  setProfile: (update) => call('POST', '/v1/profile', update),
};

/** Follows `GET /v1/events`; `onEvent` gets each event object. Returns the EventSource. */
export function events(onEvent) {
  const es = new EventSource('/v1/events');
  es.onmessage = (e) => {
    let ev = null;
    try { ev = JSON.parse(e.data); } catch (_) { return; }
    onEvent(ev);
  };
  return es;
}
