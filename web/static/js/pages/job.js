// One job: its settings, controls (by role), success-rate sparkline and execution history.
// History refreshes every 2 s while something runs or a trigger is awaited.

import { h, badge, card, fmtTime, fmtRelative, pageHeader, confirmDialog, toast, clear, errorBox, formatPairs } from '../dom.js';
import { get, post, del } from '../api.js';
import { can } from '../session.js';
import { sparkline } from '../charts.js';
import { executionsTable } from './executions-table.js';

const OUTCOMES = ['succeeded', 'failed', 'timed_out', 'killed', 'lost'];

export async function jobPage(main, id) {
  const path = `/jobs/${encodeURIComponent(id)}`;
  let job = await get(path);
  const header = h('div');
  const settings = h('div');
  const history = h('div', { id: 'job-history' });
  const rate = h('div', { id: 'job-sparkline' });
  main.append(header, h('div.grid-2.job-top', {}, card('Settings', settings), card('Success rate', rate)), card('Execution history', history));

  const act = async (label, fn) => {
    try { await fn(); toast(label); await refresh(); } catch (e) { toast(e.message, 'bad'); }
  };
  const drawHeader = () => {
    const controls = [];
    if (can('operate')) {
      controls.push(job.enabled
        ? h('button.button', { type: 'button', id: 'job-pause', onclick: () => act('Paused', () => post(`${path}/pause`)) }, 'Pause')
        : h('button.button', { type: 'button', id: 'job-resume', onclick: () => act('Resumed', () => post(`${path}/resume`)) }, 'Resume'));
      controls.push(h('button.button', { type: 'button', id: 'job-trigger', onclick: () => act('Triggered: it runs now', () => post(`${path}/trigger`)) }, 'Run now'));
      controls.push(h('a.button', { href: `#${path}/edit`, id: 'job-edit' }, 'Edit'));
      controls.push(h('button.button.danger', {
        type: 'button', id: 'job-delete',
        onclick: async () => {
          if (!await confirmDialog('Delete job?', `“${job.name}” will stop firing and its definition is removed. Its history stays.`, 'Delete')) return;
          try { await del(path); toast('Job deleted'); location.hash = '#/jobs'; } catch (e) { toast(e.message, 'bad'); }
        },
      }, 'Delete'));
    }
    clear(header).append(pageHeader(job.name, ...controls),
      h('p.subtitle', {}, badge(job.enabled ? 'enabled' : 'paused'), ' ', h('code', {}, job.schedule), ` · ${job.timezone}`,
        job.description ? ` · ${job.description}` : ''));
  };
  const drawSettings = () => {
    const t = job.target;
    const rows = [
      ['Id', h('code', {}, job.id)],
      ['Target', `${t.kind}: ${t.kind === 'http' ? `${t.method} ${t.url}` : t.kind === 'grpc' ? `${t.endpoint} ${t.method}` : t.command}`],
      ['Next fires', job.next_fires.length ? h('ul.plain', {}, job.next_fires.map((f) => h('li', {}, `${f.local.replace('T', ' ')} (${fmtRelative(f.utc)})`))) : 'none (paused)'],
      ['Agent', job.agent_id || 'unassigned'],
      ['Timeout', `${job.timeout_secs} s per attempt`],
      ['Retry', job.retry.max_retries ? `${job.retry.max_retries} × ${job.retry.backoff}, ${job.retry.initial_secs}–${job.retry.max_secs} s` : 'no retries'],
      ['Overlap / misfire', `${job.overlap} / ${job.misfire}`],
      ['Placement', `${job.placement.strategy || 'cluster default'}${Object.keys(job.placement.labels).length ? `, labels ${formatPairs(job.placement.labels, '=').replace(/\n/g, ', ')}` : ''}${job.placement.agent_id ? `, pinned to ${job.placement.agent_id}` : ''}`],
      ['Alerts', job.alerts.on.length ? `${job.alerts.on.join(', ')} → ${[...job.alerts.emails, ...job.alerts.feishu_webhooks.map((w) => w.url)].join(', ') || 'cluster recipients'}` : 'none'],
      ['Updated', fmtTime(job.updated_at)],
    ];
    clear(settings).append(h('dl.settings', {}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  };
  let timer = null;
  const drawHistory = async () => {
    const list = await get(`/executions?job_id=${encodeURIComponent(id)}&limit=50`);
    clear(history).append(executionsTable(list.executions, { showJob: false }, 'No executions yet — it runs at its next fire, or press “Run now”.'));
    const outcomes = list.executions.filter((e) => OUTCOMES.includes(e.status)).map((e) => e.status).reverse();
    clear(rate).append(sparkline(outcomes));
    return list.executions.some((e) => e.status === 'running' || e.status === 'scheduled');
  };
  const refresh = async () => {
    job = await get(path);
    drawHeader();
    drawSettings();
    await drawHistory();
  };
  drawHeader();
  drawSettings();
  await drawHistory();
  // Always poll on this page: a fire or a trigger may start a run at any moment.
  let stopped = false;
  const poll = async () => {
    try { await drawHistory(); } catch (e) { clear(history).append(errorBox(e)); }
    if (!stopped) timer = setTimeout(poll, 2000);
  };
  timer = setTimeout(poll, 2000);
  return () => { stopped = true; clearTimeout(timer); };
}
