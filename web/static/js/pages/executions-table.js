// The executions table, shared by the history page and a job's page.

import { h, badge, table, when, fmtDuration, link } from '../dom.js';

export function executionsTable(executions, { showJob = true, names = {} } = {}, empty = 'No executions yet.') {
  const headers = ['Execution', ...(showJob ? ['Job'] : []), 'Status', 'Trigger', 'Scheduled', 'Duration', 'Attempts', 'Agent'];
  return table('Executions', headers, executions.map((e) => [
    link(`#/executions/${encodeURIComponent(e.id)}`, e.id.slice(-12)),
    ...(showJob ? [link(`#/jobs/${encodeURIComponent(e.job_id)}`, names[e.job_id] || e.job_id.slice(0, 12))] : []),
    badge(e.status),
    e.trigger,
    when(e.scheduled_at),
    fmtDuration(e.duration_ms),
    String(e.attempt_count),
    h('span', { title: e.agent_id }, e.agent_id.slice(0, 12)),
  ]), empty);
}
