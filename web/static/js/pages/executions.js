// Execution history: filter by job, agent, status and trigger; page with "Load more";
// refreshes every 3 s while the first page shows something running.

import { h, pageHeader, clear, errorBox, params } from '../dom.js';
import { get, query } from '../api.js';
import { select } from './jobs.js';
import { executionsTable } from './executions-table.js';

const STATUSES = ['scheduled', 'running', 'succeeded', 'failed', 'timed_out', 'killed', 'lost', 'skipped', 'missed'];

export async function executionsList(main) {
  const p = params();
  const state = { job_id: p.get('job_id') || '', agent_id: p.get('agent_id') || '', status: p.get('status') || '', trigger: p.get('trigger') || '', from: p.get('from') || '', to: p.get('to') || '' };
  main.append(pageHeader('Executions'));
  const jobs = await get('/jobs?limit=500').then((j) => j.jobs).catch(() => []);
  const agents = await get('/agents').then((a) => a.agents).catch(() => []);
  const names = Object.fromEntries(jobs.map((j) => [j.id, j.name]));
  const statusOptions = [['', 'Any status'], ...STATUSES.map((s) => [s, s.replace('_', ' ')])];
  if (state.status && !STATUSES.includes(state.status)) statusOptions.push([state.status, state.status.replaceAll(',', ', ').replaceAll('_', ' ')]);
  const filters = {
    job_id: select('exec-job', 'Job', [['', 'Any job'], ...jobs.map((j) => [j.id, j.name])], state.job_id),
    agent_id: select('exec-agent', 'Agent', [['', 'Any agent'], ...agents.map((a) => [a.id, a.hostname || a.id])], state.agent_id),
    status: select('exec-status', 'Status', statusOptions, state.status),
    trigger: select('exec-trigger', 'Trigger', [['', 'Any trigger'], ['schedule', 'Schedule'], ['manual', 'Manual'], ['retry', 'Retry']], state.trigger),
  };
  // Time range on the scheduled instant, in the browser's local time.
  const range = {};
  for (const [key, label, short] of [['from', 'Scheduled from', 'From'], ['to', 'Scheduled before', 'Before']]) {
    const input = h('input', { type: 'datetime-local', id: `exec-${key}`, 'aria-label': label, title: label, step: 1 });
    input.addEventListener('change', () => {
      const d = new Date(input.value);
      state[key] = input.value && !Number.isNaN(d.getTime()) ? d.toISOString() : '';
      load(false);
    });
    range[key] = h('label.filter.dated', {}, h('span.muted', { 'aria-hidden': 'true' }, short), input);
  }
  main.append(h('div.filters', { role: 'search' }, Object.values(filters), range.from, range.to));
  const results = h('div', { id: 'executions-results' });
  main.append(results);

  let rows = [];
  let cursor = null;
  let timer = null;
  let stopped = false;
  const load = async (more) => {
    try {
      const page = await get(`/executions${query({ ...state, cursor: more ? cursor : null, limit: 50 })}`);
      rows = more ? rows.concat(page.executions) : page.executions;
      cursor = page.next_cursor;
      clear(results).append(executionsTable(rows, { names }, 'No executions match — jobs record one per fire.'));
      if (cursor) results.append(h('button.button', { type: 'button', onclick: () => load(true) }, 'Load more'));
    } catch (e) {
      clear(results).append(errorBox(e));
    }
  };
  const poll = async () => {
    if (rows.some((r) => r.status === 'running' || r.status === 'scheduled') && rows.length <= 50) await load(false);
    if (!stopped) timer = setTimeout(poll, 3000);
  };
  for (const [key, box] of Object.entries(filters)) {
    box.addEventListener('change', () => {
      state[key] = box.querySelector('select').value;
      history.replaceState(null, '', `#/executions${query(state)}`);
      load(false);
    });
  }
  await load(false);
  timer = setTimeout(poll, 3000);
  return () => { stopped = true; clearTimeout(timer); };
}
