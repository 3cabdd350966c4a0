// Execution history: filter by job, agent, status and trigger; page with "Load more";
// refreshes every 3 s while the first page shows something running.

import { h, pageHeader, clear, errorBox, params } from '../dom.js';
import { get, query } from '../api.js';
import { select } from './jobs.js';
import { executionsTable } from './executions-table.js';
import { t, tValue } from '../i18n.js';

const STATUSES = ['scheduled', 'running', 'succeeded', 'failed', 'timed_out', 'killed', 'lost', 'skipped', 'missed'];

export async function executionsList(main) {
  const p = params();
  const state = { job_id: p.get('job_id') || '', agent_id: p.get('agent_id') || '', status: p.get('status') || '', trigger: p.get('trigger') || '', from: p.get('from') || '', to: p.get('to') || '' };
  main.append(pageHeader(t('nav.executions')));
  const jobs = await get('/jobs?limit=500').then((j) => j.jobs).catch(() => []);
  const agents = await get('/agents').then((a) => a.agents).catch(() => []);
  const names = Object.fromEntries(jobs.map((j) => [j.id, j.name]));
  const statusOptions = [['', t('filter.any_status')], ...STATUSES.map((s) => [s, tValue('status', s)])];
  if (state.status && !STATUSES.includes(state.status)) statusOptions.push([state.status, state.status.split(',').map((s) => tValue('status', s)).join(t('common.list_separator'))]);
  const filters = {
    job_id: select('exec-job', t('col.job'), [['', t('filter.any_job')], ...jobs.map((j) => [j.id, j.name])], state.job_id),
    agent_id: select('exec-agent', t('col.agent'), [['', t('filter.any_agent')], ...agents.map((a) => [a.id, a.hostname || a.id])], state.agent_id),
    status: select('exec-status', t('col.status'), statusOptions, state.status),
    trigger: select('exec-trigger', t('col.trigger'), [['', t('filter.any_trigger')], ['schedule', t('trigger.schedule')], ['manual', t('trigger.manual')], ['retry', t('trigger.retry')]], state.trigger),
  };
  // Time range on the scheduled instant, in the browser's local time.
  const range = {};
  for (const [key, label, short] of [['from', t('executions.scheduled_from'), t('executions.from')], ['to', t('executions.scheduled_before'), t('executions.before')]]) {
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
      clear(results).append(executionsTable(rows, { names }, t('executions.none_match')));
      if (cursor) results.append(h('button.button', { type: 'button', onclick: () => load(true) }, t('common.load_more')));
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
