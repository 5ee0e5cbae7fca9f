// A group's stats with pictures, all from the daemon's `GET …/stats`: the figures
// (members, active, online, average age), the gender ratio, the age distribution (members
// who share a birth year, by age range) and posts per day over the last 30 days (UTC days).
// Every label is a text node in an SVG drawn with DOM calls (charts.js).

import { api } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';
import { bars, donut } from './charts.js';

function figure(label, value) {
  return h('div', { class: 'figure' }, h('b', {}, value === null || value === undefined ? '–' : String(value)), label);
}

function section(id, titleKey, ...body) {
  return h('div', { class: 'card', id }, h('b', {}, t(titleKey)), ...body);
}

/** An age range's label: `18-24`, `<18`, `55+`. */
function ageLabel(b) {
  if (b.min === 0 && b.max !== null) return `<${b.max + 1}`;
  return b.max === null ? `${b.min}+` : `${b.min}-${b.max}`;
}

function ageChart(stats) {
  const data = (stats.ages || []).map((b) => ({ label: ageLabel(b), value: b.members }));
  return [bars(data), h('div', { class: 'hint' }, t('basedOn', stats.age_based_on))];
}

function activityChart(stats) {
  const days = stats.posts_per_day || [];
  const data = days.map((d, i) => {
    const day = new Date(d.day_ms);
    // Every fifth day is labelled (counting back from today), so labels do not overlap.
    const label = (days.length - 1 - i) % 5 ? '' : `${day.getUTCMonth() + 1}/${day.getUTCDate()}`;
    return { label, value: d.posts };
  });
  const total = days.reduce((n, d) => n + d.posts, 0);
  return [bars(data), h('div', { class: 'hint' }, t('postsN', total))];
}

/** `#/stats/GROUP`. */
export async function render(app, view) {
  const stats = await api.stats(view.arg);
  if (!app.alive(view.gen)) return;
  app.setTitle(`${stats.name} · ${t('stats')}`, 'chat/' + stats.group);
  const g = stats.gender;
  view.root.append(
    h('div', { class: 'card figures', id: 'stats-figures' },
      figure(t('members'), stats.members), figure(t('active7d'), stats.active_7d),
      figure(t('online'), stats.online),
      figure(t('averageAge'), stats.average_age === null ? null : Math.round(stats.average_age))),
    section('chart-gender', 'genderRatio',
      donut([{ label: t('female'), value: g.female }, { label: t('male'), value: g.male }, { label: t('other'), value: g.other }]),
      h('div', { class: 'hint' }, t('basedOn', g.based_on))),
    section('chart-age', 'ageDist', ...ageChart(stats)),
    section('chart-activity', 'activity', ...activityChart(stats)));
}
