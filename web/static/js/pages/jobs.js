// Jobs: search by name, filter by status, agent and last outcome, page with "Load more".

import { h, badge, table, fmtTime, fmtRelative, link, pageHeader, debounce, clear, errorBox, params } from '../dom.js';
import { get, query } from '../api.js';
import { can } from '../session.js';

export async function jobsList(main) {
  const p = params();
  const state = { q: p.get('q') || '', enabled: p.get('enabled') || '', agent_id: p.get('agent_id') || '', outcome: p.get('outcome') || '', sort: p.get('sort') || '' };
  main.append(pageHeader('Jobs', can('operate') ? h('a.button.primary', { href: '#/jobs/new', id: 'new-job' }, 'New job') : null));

  const agents = await get('/agents').then((a) => a.agents).catch(() => []);
  const search = h('input', { type: 'search', id: 'job-search', placeholder: 'Search by name', value: state.q, 'aria-label': 'Search jobs by name' });
  const status = select('job-status', 'Status', [['', 'Any status'], ['true', 'Enabled'], ['false', 'Paused']], state.enabled);
  const agent = select('job-agent', 'Agent', [['', 'Any agent'], ...agents.map((a) => [a.id, a.hostname ? `${a.hostname} (${a.id.slice(0, 8)})` : a.id])], state.agent_id);
  const outcome = select('job-outcome', 'Last outcome', [['', 'Any outcome'], ['succeeded', 'Succeeded'], ['failed', 'Failed / timed out / lost'], ['none', 'Never ran']], state.outcome);
  const sort = select('job-sort', 'Sort', [['', 'Oldest first'], ['next', 'Next fire soonest'], ['name', 'Name']], state.sort);
  main.append(h('div.filters', { role: 'search' }, search, status, agent, outcome, sort));
  const results = h('div', { id: 'jobs-results' });
  main.append(results);

  let cursor = null;
  let rows = [];
  const load = async (more) => {
    if (!more) { rows = []; cursor = null; }
    try {
      const page = await get(`/jobs${query({ q: state.q, enabled: state.enabled, agent_id: state.agent_id, cursor, limit: 100 })}`);
      rows = rows.concat(page.jobs);
      cursor = page.next_cursor;
      draw();
    } catch (e) {
      clear(results).append(errorBox(e));
    }
  };
  const matchesOutcome = (j) => {
    const s = j.last_outcome && j.last_outcome.status;
    if (!state.outcome) return true;
    if (state.outcome === 'none') return !s;
    if (state.outcome === 'failed') return ['failed', 'timed_out', 'lost'].includes(s);
    return s === state.outcome;
  };
  const draw = () => {
    clear(results);
    const shown = rows.filter(matchesOutcome);
    // Sorting is over the jobs loaded so far ("Load more" adds to them).
    const next = (j) => (j.next_fires.length ? j.next_fires[0].utc : '9999');
    if (state.sort === 'next') shown.sort((a, b) => next(a).localeCompare(next(b)));
    if (state.sort === 'name') shown.sort((a, b) => a.name.localeCompare(b.name));
    const filtered = state.q || state.enabled || state.agent_id || state.outcome;
    const empty = filtered
      ? 'No jobs match these filters.'
      : h('span', {}, 'No jobs yet — ', can('operate') ? link('#/jobs/new', 'create one') : 'an operator can create one', '.');
    results.append(table('Jobs', ['Name', 'Schedule', 'Status', 'Agent', 'Next fire', 'Last outcome'],
      shown.map((j) => [
        h('td', {}, link(`#/jobs/${encodeURIComponent(j.id)}`, j.name), j.description ? h('div.muted.small', {}, j.description) : null),
        h('code', {}, j.schedule),
        badge(j.enabled ? 'enabled' : 'paused'),
        j.agent_id ? h('span', { title: j.agent_id }, j.agent_id.slice(0, 12)) : h('span.muted', {}, '—'),
        j.next_fires.length ? h('span', { title: j.next_fires[0].local }, fmtRelative(j.next_fires[0].utc)) : h('span.muted', {}, '—'),
        j.last_outcome
          ? h('a', { href: `#/executions/${encodeURIComponent(j.last_outcome.execution_id)}`, title: fmtTime(j.last_outcome.scheduled_at) }, badge(j.last_outcome.status))
          : h('span.muted', {}, 'never ran'),
      ]), empty));
    if (cursor) results.append(h('button.button', { type: 'button', onclick: () => load(true) }, 'Load more'));
  };
  const update = () => {
    state.q = search.value.trim();
    state.enabled = status.querySelector('select').value;
    state.agent_id = agent.querySelector('select').value;
    state.outcome = outcome.querySelector('select').value;
    state.sort = sort.querySelector('select').value;
    history.replaceState(null, '', `#/jobs${query(state)}`);
    load(false);
  };
  search.addEventListener('input', debounce(update, 250));
  for (const s of [status, agent, outcome, sort]) s.addEventListener('change', update);
  await load(false);
}

export function select(id, label, options, value) {
  const el = h('select', { id, 'aria-label': label }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t)));
  return h('label.filter', {}, h('span.sr-only', {}, label), el);
}
