// Small SVG charts drawn with createElementNS: bars (with labels and values) and a donut.
// Labels are text nodes, so a peer's words can never become markup here either.

import { svg } from './dom.js';

const COLORS = ['#07c160', '#1989fa', '#ff976a', '#ee0a24', '#7232dd', '#909399'];

/** Vertical bars: `data` is `[{label, value}]`. */
export function bars(data, { width = 340, height = 160 } = {}) {
  const max = Math.max(1, ...data.map((d) => d.value));
  const pad = 22;
  const step = (width - 2 * pad) / Math.max(1, data.length);
  const bw = Math.max(2, step * 0.7);
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img' });
  chart.append(svg('line', { class: 'axis', x1: pad, y1: height - pad, x2: width - pad, y2: height - pad }));
  data.forEach((d, i) => {
    const hgt = ((height - 2 * pad) * d.value) / max;
    const x = pad + i * step + (step - bw) / 2;
    const y = height - pad - hgt;
    chart.append(svg('rect', { x, y, width: bw, height: Math.max(hgt, 0.5), rx: 2, fill: COLORS[1] }));
    if (d.value) chart.append(svg('text', { x: x + bw / 2, y: y - 3, 'text-anchor': 'middle' }, String(d.value)));
    chart.append(svg('text', { x: x + bw / 2, y: height - 6, 'text-anchor': 'middle' }, d.label));
  });
  return chart;
}

/** A donut of shares: `data` is `[{label, value}]`, with a legend. */
export function donut(data, { size = 160 } = {}) {
  const total = data.reduce((s, d) => s + d.value, 0);
  const r = size / 2 - 16;
  const c = 2 * Math.PI * r;
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${size + 150} ${size}`, role: 'img' });
  let offset = 0;
  data.forEach((d, i) => {
    const len = total ? (c * d.value) / total : 0;
    chart.append(svg('circle', {
      cx: size / 2, cy: size / 2, r, fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 24,
      'stroke-dasharray': `${len} ${c - len}`, 'stroke-dashoffset': -offset,
      transform: `rotate(-90 ${size / 2} ${size / 2})`,
    }));
    offset += len;
    const ly = 30 + i * 22;
    chart.append(svg('rect', { x: size + 10, y: ly - 10, width: 12, height: 12, fill: COLORS[i % COLORS.length] }));
    const pct = total ? Math.round((100 * d.value) / total) : 0;
    chart.append(svg('text', { x: size + 28, y: ly }, `${d.label} ${d.value} (${pct}%)`));
  });
  if (!total) chart.append(svg('circle', { cx: size / 2, cy: size / 2, r, fill: 'none', stroke: '#e3e5e8', 'stroke-width': 24 }));
  return chart;
}
