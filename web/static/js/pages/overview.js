// Overview: agents, today's executions, the 7-day chart, recent failures, next fires.

import { h, badge, card, table, when, fmtTime, fmtRelative, link, pageHeader } from '../dom.js';
import { get } from '../api.js';
import { dailyChart } from '../charts.js';

export async function overview(main) {
  main.append(pageHeader('Overview'));
  const body = h('div.overview', {});
  main.append(body);
  const [summary, daily] = await Promise.all([get('/stats/summary'), get('/stats/daily?days=7')]);
  const t = summary.today;
  body.append(h('div.stats', {},
    stat('Agents online', summary.agents.online, 'ok', '#/agents'),
    stat('Agents offline', summary.agents.offline, summary.agents.offline ? 'warn' : 'muted', '#/agents'),
    stat('Succeeded today', t.succeeded, 'ok', '#/executions?status=succeeded'),
    stat('Failed today', t.failed, t.failed ? 'bad' : 'muted', '#/executions?status=failed,timed_out,lost'),
    stat('Running now', t.running, 'info', '#/executions?status=running')));
  body.append(card('Last 7 days', dailyChart(daily.days)));
  body.append(h('div.grid-2', {},
    card('Recent failures', table('Recent failures', ['Job', 'Status', 'Scheduled', ''],
      summary.recent_failures.map((f) => [
        f.job_name ? link(`#/jobs/${encodeURIComponent(f.job_id)}`, f.job_name) : h('span.muted', {}, 'deleted job'),
        badge(f.status),
        when(f.scheduled_at),
        link(`#/executions/${encodeURIComponent(f.id)}`, 'Details'),
      ]), 'No failures recently — all good.')),
    card('Next fires', table('Next fires', ['Job', 'When', 'Agent'],
      summary.next_fires.map((f) => [
        link(`#/jobs/${encodeURIComponent(f.job_id)}`, f.job_name),
        h('span', { title: f.local }, `${fmtTime(f.utc)} (${fmtRelative(f.utc)})`),
        f.agent_id || h('span.muted', {}, 'unassigned'),
      ]), h('span', {}, 'No enabled jobs — ', link('#/jobs/new', 'create one'), '.')),
    summary.next_fires_partial ? h('p.muted.small', {}, 'From the first 5,000 enabled jobs.') : null)));
}

function stat(label, value, tone, href) {
  return h(`a.stat.tone-${tone}`, { href },
    h('span.stat-value', {}, String(value)), h('span.stat-label', {}, label));
}
