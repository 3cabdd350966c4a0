// Small SVG charts drawn from data, with a text alternative for screen readers.

import { svg, h } from './dom.js';
import { t, fmtNumber } from './i18n.js';

const GROUPS = [
  ['succeeded', ['succeeded'], 'var(--ok)'],
  ['failed', ['failed', 'timed_out', 'lost'], 'var(--bad)'],
  ['other', ['killed', 'skipped', 'missed', 'running', 'scheduled'], 'var(--muted-bar)'],
];

/** Stacked bars per day: succeeded, failed (failed + timed out + lost), other. */
export function dailyChart(days) {
  const width = 700; const height = 200; const pad = 24;
  const max = Math.max(1, ...days.map((d) => d.total));
  const slot = (width - pad) / days.length;
  const bar = Math.min(56, slot * 0.6);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height + 24}`, class: 'chart', role: 'img', 'aria-label': describe(days) });
  chart.append(svg('line', { x1: pad, y1: height, x2: width, y2: height, class: 'axis' }));
  chart.append(svg('text', { x: 0, y: 24, class: 'chart-label' }, fmtNumber(max)));
  days.forEach((day, i) => {
    const x = pad + i * slot + (slot - bar) / 2;
    let y = height;
    for (const [name, statuses, color] of GROUPS) {
      const n = statuses.reduce((sum, s) => sum + (day.by_status[s] || 0), 0);
      if (!n) continue;
      const hgt = (n / max) * (height - 16);
      y -= hgt;
      const rect = svg('rect', { x, y, width: bar, height: Math.max(hgt, 1), rx: 2, fill: color });
      rect.append(svg('title', {}, `${day.date}: ${fmtNumber(n)} ${t(`chart.${name}`)}`));
      chart.append(rect);
    }
    chart.append(svg('text', { x: x + bar / 2, y: height + 16, class: 'chart-label', 'text-anchor': 'middle' }, day.date.slice(5)));
  });
  const legend = h('div.legend', {}, GROUPS.map(([name, , color]) => {
    const swatch = h('span.swatch', {});
    swatch.style.background = color;
    return h('span', {}, swatch, t(`chart.${name}`));
  }));
  return h('div.chart-box', {}, chart, legend);
}

function describe(days) {
  const each = days.map((d) => t('chart.day', {
    date: d.date,
    succeeded: fmtNumber(d.by_status.succeeded || 0),
    failed: fmtNumber((d.by_status.failed || 0) + (d.by_status.timed_out || 0) + (d.by_status.lost || 0)),
  }));
  return t('chart.per_day', { days: each.join(t('chart.separator')) });
}

/** Success rate over a sliding window of outcomes (oldest first), as a small line. */
export function sparkline(outcomes, window = 5) {
  const width = 160; const height = 36;
  if (outcomes.length < 2) return h('span.muted', {}, t('chart.not_enough_runs'));
  const points = [];
  for (let i = 0; i < outcomes.length; i += 1) {
    const slice = outcomes.slice(Math.max(0, i - window + 1), i + 1);
    points.push(slice.filter((s) => s === 'succeeded').length / slice.length);
  }
  const step = width / (points.length - 1);
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${(i * step).toFixed(1)},${(2 + (1 - p) * (height - 4)).toFixed(1)}`).join(' ');
  const rate = Math.round((outcomes.filter((s) => s === 'succeeded').length / outcomes.length) * 100);
  const line = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'sparkline', role: 'img', 'aria-label': t('chart.success_rate', { rate, runs: outcomes.length }) },
    svg('path', { d, fill: 'none', stroke: 'var(--accent)', 'stroke-width': 2 }));
  return h('span.spark', { dataset: { rate: String(rate) } }, line, h('strong', {}, `${rate}%`), h('span.muted', {}, t('chart.of_last', { runs: outcomes.length })));
}
