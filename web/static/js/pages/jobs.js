// Jobs: search by name, filter by status, agent and last outcome, page with "Load more".

import { h, badge, table, fmtTime, fmtRelative, link, pageHeader, debounce, clear, errorBox, params } from '../dom.js';
import { get, query } from '../api.js';
import { can } from '../session.js';
import { t } from '../i18n.js';

export async function jobsList(main) {
  const p = params();
  const state = { q: p.get('q') || '', enabled: p.get('enabled') || '', agent_id: p.get('agent_id') || '', outcome: p.get('outcome') || '', sort: p.get('sort') || '' };
  main.append(pageHeader(t('nav.jobs'), can('operate') ? h('a.button.primary', { href: '#/jobs/new', id: 'new-job' }, t('jobs.new')) : null));

  const agents = await get('/agents').then((a) => a.agents).catch(() => []);
  const search = h('input', { type: 'search', id: 'job-search', placeholder: t('jobs.search'), value: state.q, 'aria-label': t('jobs.search_label') });
  const status = select('job-status', t('col.status'), [['', t('filter.any_status')], ['true', t('jobs.enabled')], ['false', t('jobs.paused')]], state.enabled);
  const agent = select('job-agent', t('col.agent'), [['', t('filter.any_agent')], ...agents.map((a) => [a.id, a.hostname ? `${a.hostname} (${a.id.slice(0, 8)})` : a.id])], state.agent_id);
  const outcome = select('job-outcome', t('col.last_outcome'), [['', t('filter.any_outcome')], ['succeeded', t('jobs.outcome_succeeded')], ['failed', t('jobs.outcome_failed')], ['none', t('jobs.never_ran_option')]], state.outcome);
  const sort = select('job-sort', t('jobs.sort'), [['', t('jobs.sort_oldest')], ['next', t('jobs.sort_next')], ['name', t('jobs.sort_name')]], state.sort);
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
      ? t('jobs.none_match')
      : h('span', {}, t('jobs.none_yet'), can('operate') ? link('#/jobs/new', t('jobs.create_one')) : t('jobs.operator_can_create'), t('common.sentence_end'));
    results.append(table(t('nav.jobs'), [t('col.name'), t('col.schedule'), t('col.status'), t('col.agent'), t('col.next_fire'), t('col.last_outcome')],
      shown.map((j) => [
        h('td', {}, link(`#/jobs/${encodeURIComponent(j.id)}`, j.name), j.description ? h('div.muted.small', {}, j.description) : null),
        h('code', {}, j.schedule),
        badge(j.enabled ? 'enabled' : 'paused'),
        j.agent_id ? h('span', { title: j.agent_id }, j.agent_id.slice(0, 12)) : h('span.muted', {}, '—'),
        j.next_fires.length ? h('span', { title: j.next_fires[0].local }, fmtRelative(j.next_fires[0].utc)) : h('span.muted', {}, '—'),
        j.last_outcome
          ? h('a', { href: `#/executions/${encodeURIComponent(j.last_outcome.execution_id)}`, title: fmtTime(j.last_outcome.scheduled_at) }, badge(j.last_outcome.status))
          : h('span.muted', {}, t('jobs.never_ran')),
      ]), empty));
    if (cursor) results.append(h('button.button', { type: 'button', onclick: () => load(true) }, t('common.load_more')));
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
