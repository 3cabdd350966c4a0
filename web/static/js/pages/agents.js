// Agents: state, address, labels, weight (admins edit it), drain, jobs held, last seen, version.

import { h, badge, table, fmtTime, fmtRelative, pageHeader, clear, toast, confirmDialog, errorBox } from '../dom.js';
import { get, patch } from '../api.js';
import { can } from '../session.js';

export async function agentsPage(main) {
  main.append(pageHeader('Agents'));
  const results = h('div', { id: 'agents-results' });
  main.append(results);
  const draw = async () => {
    const [{ agents }, summary] = await Promise.all([get('/agents'), get('/stats/summary').catch(() => null)]);
    const held = (summary && summary.jobs_per_agent) || {};
    clear(results).append(table('Agents', ['Agent', 'State', 'Address', 'Labels', 'Weight', 'Jobs', 'Last seen', 'Version', ...(can('admin') ? ['Drain'] : [])],
      agents.map((a) => [
        h('td', {}, h('strong', {}, a.hostname || a.id), h('div.muted.small.mono', {}, a.id)),
        h('td', {}, badge(a.state), a.drained ? [' ', badge('drained')] : null),
        h('code', {}, a.grpc_addr),
        Object.keys(a.labels).length ? h('span.labels', {}, Object.entries(a.labels).map(([k, v]) => h('span.label', {}, `${k}=${v}`))) : h('span.muted', {}, '—'),
        weightCell(a, draw),
        String(held[a.id] || 0),
        a.state === 'online' ? 'now' : h('span', { title: fmtTime(a.last_seen) }, fmtRelative(a.last_seen)),
        a.version || '—',
        ...(can('admin') ? [drainButton(a, draw)] : []),
      ]), 'No agents yet — start crony-agent with CRONY_ETCD_ENDPOINTS pointing at this cluster.'));
  };
  try { await draw(); } catch (e) { results.append(errorBox(e)); }
}

function weightCell(a, redraw) {
  const effective = a.weight_override ?? a.weight;
  if (!can('admin')) {
    return h('span', {}, String(effective), a.weight_override != null ? h('span.muted.small', {}, ` (published ${a.weight})`) : null);
  }
  const id = `weight-${a.id}`;
  const input = h('input.weight', { id, type: 'number', min: 1, max: 1000, value: String(effective), 'aria-label': `Weight of ${a.hostname || a.id}` });
  const error = h('div.field-error', { role: 'alert', hidden: true });
  const form = h('form.inline', {
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      const n = Number(input.value);
      try {
        await patch(`/agents/${encodeURIComponent(a.id)}`, { weight: input.value.trim() === '' ? null : n });
        toast(`Weight of ${a.hostname || a.id} set to ${input.value || 'published'}`);
        await redraw();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    },
  }, input, h('button.button.small', { type: 'submit', 'aria-label': `Save weight of ${a.hostname || a.id}`, dataset: { agent: a.id } }, 'Save'));
  return h('td', {}, form, error);
}

function drainButton(a, redraw) {
  return h('button.button.small', {
    type: 'button',
    dataset: { drain: a.id },
    onclick: async () => {
      if (!a.drained && !await confirmDialog('Drain this agent?', `${a.hostname || a.id} gets no jobs, and the jobs it holds move to other agents now.`, 'Drain', false)) return;
      try {
        await patch(`/agents/${encodeURIComponent(a.id)}`, { drained: !a.drained });
        toast(a.drained ? 'Agent undrained' : 'Agent drained');
        await redraw();
      } catch (err) { toast(err.message, 'bad'); }
    },
  }, a.drained ? 'Undrain' : 'Drain');
}
