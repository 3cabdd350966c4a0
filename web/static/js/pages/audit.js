// The audit log: who changed what, filterable by action and target, with before/after.

import { h, table, when, pageHeader, clear, errorBox, debounce, link } from '../dom.js';
import { get, query } from '../api.js';
import { t, tValue } from '../i18n.js';

export async function auditPage(main) {
  main.append(pageHeader(t('nav.audit')));
  const state = { action: '', target_type: '', target_id: '' };
  const inputs = Object.keys(state).map((k) => {
    const el = h('input', { type: 'search', placeholder: t(`audit.filter_${k}`), 'aria-label': t('audit.filter_by', { what: t(`audit.filter_${k}`) }) });
    el.addEventListener('input', debounce(() => { state[k] = el.value.trim(); load(false); }, 300));
    return el;
  });
  main.append(h('div.filters', { role: 'search' }, inputs));
  const results = h('div', { id: 'audit-results' });
  main.append(results);
  let rows = [];
  let cursor = null;
  const load = async (more) => {
    try {
      const page = await get(`/audit${query({ ...state, cursor: more ? cursor : null, limit: 50 })}`);
      rows = more ? rows.concat(page.entries) : page.entries;
      cursor = page.next_cursor;
      clear(results).append(table(t('nav.audit'), [t('col.when'), t('col.who'), t('col.action'), t('col.target'), t('col.change')], rows.map((e) => [
        when(e.at),
        h('span', {}, e.actor.name || e.actor.id || '—', h('span.muted.small', {}, ` (${tValue('actor', e.actor.kind)})`)),
        h('code', {}, e.action),
        target(e),
        change(e),
      ]), t('audit.none')));
      if (cursor) results.append(h('button.button', { type: 'button', onclick: () => load(true) }, t('common.load_more')));
    } catch (e) {
      clear(results).append(errorBox(e));
    }
  };
  await load(false);
}

const PAGES = { job: '#/jobs/', execution: '#/executions/' };

function target(e) {
  const text = `${e.target_type}${e.target_id ? ` ${e.target_id}` : ''}`;
  const page = PAGES[e.target_type];
  return page && e.target_id && !e.action.endsWith('delete') ? link(`${page}${encodeURIComponent(e.target_id)}`, text) : text;
}

function change(e) {
  if (e.before == null && e.after == null) return h('span.muted', {}, '—');
  return h('details', {}, h('summary', {}, t('audit.before_after')),
    h('pre.output.small', {}, `${t('audit.before')}: ${JSON.stringify(e.before, null, 2)}\n${t('audit.after')}: ${JSON.stringify(e.after, null, 2)}`));
}
