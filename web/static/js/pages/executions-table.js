// The executions table, shared by the history page and a job's page.

import { h, badge, table, when, fmtDuration, link } from '../dom.js';
import { t, tValue, fmtNumber } from '../i18n.js';

export function executionsTable(executions, { showJob = true, names = {} } = {}, empty = t('executions.none')) {
  const headers = [t('col.execution'), ...(showJob ? [t('col.job')] : []), t('col.status'), t('col.trigger'), t('col.scheduled'), t('col.duration'), t('col.attempts'), t('col.agent')];
  return table(t('nav.executions'), headers, executions.map((e) => [
    link(`#/executions/${encodeURIComponent(e.id)}`, e.id.slice(-12)),
    ...(showJob ? [link(`#/jobs/${encodeURIComponent(e.job_id)}`, names[e.job_id] || e.job_id.slice(0, 12))] : []),
    badge(e.status),
    tValue('trigger', e.trigger),
    when(e.scheduled_at),
    fmtDuration(e.duration_ms),
    fmtNumber(e.attempt_count),
    h('span', { title: e.agent_id }, e.agent_id.slice(0, 12)),
  ]), empty);
}
