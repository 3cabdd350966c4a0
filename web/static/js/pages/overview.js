// Overview: agents, today's executions, the 7-day chart, recent failures, next fires.

import { h, badge, card, table, when, fmtTime, fmtRelative, link, pageHeader } from '../dom.js';
import { get } from '../api.js';
import { dailyChart } from '../charts.js';
import { t, fmtNumber } from '../i18n.js';

export async function overview(main) {
  main.append(pageHeader(t('nav.overview')));
  const body = h('div.overview', {});
  main.append(body);
  const [summary, daily] = await Promise.all([get('/stats/summary'), get('/stats/daily?days=7')]);
  const today = summary.today;
  body.append(h('div.stats', {},
    stat(t('overview.agents_online'), summary.agents.online, 'ok', '#/agents'),
    stat(t('overview.agents_offline'), summary.agents.offline, summary.agents.offline ? 'warn' : 'muted', '#/agents'),
    stat(t('overview.succeeded_today'), today.succeeded, 'ok', '#/executions?status=succeeded'),
    stat(t('overview.failed_today'), today.failed, today.failed ? 'bad' : 'muted', '#/executions?status=failed,timed_out,lost'),
    stat(t('overview.running_now'), today.running, 'info', '#/executions?status=running')));
  body.append(card(t('overview.last_7_days'), dailyChart(daily.days)));
  body.append(h('div.grid-2', {},
    card(t('overview.recent_failures'), table(t('overview.recent_failures'), [t('col.job'), t('col.status'), t('col.scheduled'), ''],
      summary.recent_failures.map((f) => [
        f.job_name ? link(`#/jobs/${encodeURIComponent(f.job_id)}`, f.job_name) : h('span.muted', {}, t('overview.deleted_job')),
        badge(f.status),
        when(f.scheduled_at),
        link(`#/executions/${encodeURIComponent(f.id)}`, t('overview.details')),
      ]), t('overview.no_failures'))),
    card(t('overview.next_fires'), table(t('overview.next_fires'), [t('col.job'), t('col.when'), t('col.agent')],
      summary.next_fires.map((f) => [
        link(`#/jobs/${encodeURIComponent(f.job_id)}`, f.job_name),
        h('span', { title: f.local }, `${fmtTime(f.utc)} (${fmtRelative(f.utc)})`),
        f.agent_id || h('span.muted', {}, t('common.unassigned')),
      ]), h('span', {}, t('overview.no_enabled_jobs'), link('#/jobs/new', t('jobs.create_one')), t('common.sentence_end'))),
    summary.next_fires_partial ? h('p.muted.small', {}, t('overview.partial')) : null)));
}

function stat(label, value, tone, href) {
  return h(`a.stat.tone-${tone}`, { href },
    h('span.stat-value', {}, fmtNumber(value)), h('span.stat-label', {}, label));
}
