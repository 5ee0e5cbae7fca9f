// A group's stats with pictures: the daemon's figures (members, active, online), the
// gender ratio (from the stats), the age distribution (from the profiles of up to
// AGE_SAMPLE members, looked up through the daemon) and messages per day over the last 14
// days (from the newest ACTIVITY_WINDOW messages of the history).

import { api } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';
import { bars, donut } from './charts.js';
import { readable } from './groups.js';

/** Most member profiles looked up for the age chart. */
const AGE_SAMPLE = 40;
/** Messages read for the activity chart. */
const ACTIVITY_WINDOW = 500;
const DAY_MS = 24 * 3600 * 1000;
const AGE_BUCKETS = [['<18', 0, 17], ['18-24', 18, 24], ['25-34', 25, 34], ['35-44', 35, 44], ['45+', 45, 200]];

function figure(label, value) {
  return h('div', { class: 'figure' }, h('b', {}, value === null || value === undefined ? '–' : String(value)), label);
}

function section(id, titleKey, ...body) {
  return h('div', { class: 'card', id }, h('b', {}, t(titleKey)), ...body);
}

async function ageChart(app, info) {
  const year = new Date().getFullYear();
  const ids = info.members.slice(0, AGE_SAMPLE);
  const found = await Promise.allSettled(ids.map((id) => (id === app.me.peer_id ? api.profile() : api.profile(id))));
  const ages = found.filter((r) => r.status === 'fulfilled' && r.value.birth_year).map((r) => year - r.value.birth_year);
  const data = AGE_BUCKETS.map(([label, lo, hi]) => ({ label, value: ages.filter((a) => a >= lo && a <= hi).length }));
  return [bars(data), h('div', { class: 'hint' }, t('basedOn', ages.length))];
}

function activityChart(msgs) {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const start = today.getTime() - 13 * DAY_MS;
  const days = Array.from({ length: 14 }, (_, i) => {
    const d = new Date(start + i * DAY_MS);
    return { label: i % 2 ? '' : `${d.getMonth() + 1}/${d.getDate()}`, value: 0 };
  });
  for (const m of msgs) {
    const i = Math.floor((m.timestamp_ms - start) / DAY_MS);
    if (readable(m) && i >= 0 && i < 14) days[i].value += 1;
  }
  return bars(days);
}

/** `#/stats/GROUP`. */
export async function render(app, view) {
  const [info, stats, msgs] = await Promise.all([
    api.group(view.arg), api.stats(view.arg), api.history(view.arg, ACTIVITY_WINDOW),
  ]);
  if (!app.alive(view.gen)) return;
  app.setTitle(`${info.name} · ${t('stats')}`, 'chat/' + info.group);
  const g = stats.gender;
  const ageBox = h('div', {}, h('p', { class: 'hint' }, t('loading')));
  view.root.append(
    h('div', { class: 'card figures', id: 'stats-figures' },
      figure(t('members'), stats.members), figure(t('active7d'), stats.active_7d),
      figure(t('online'), stats.online),
      figure(t('averageAge'), stats.average_age === null ? null : Math.round(stats.average_age))),
    section('chart-gender', 'genderRatio',
      donut([{ label: t('female'), value: g.female }, { label: t('male'), value: g.male }, { label: t('other'), value: g.other }]),
      h('div', { class: 'hint' }, t('basedOn', g.based_on))),
    section('chart-age', 'ageDist', ageBox),
    section('chart-activity', 'activity', activityChart(msgs)));
  const age = await ageChart(app, info);
  if (!app.alive(view.gen)) return;
  ageBox.replaceChildren(...age);
}
