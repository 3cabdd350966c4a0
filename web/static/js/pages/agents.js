// Agents: state, address, labels, weight (admins edit it), drain, jobs held, last seen, version.

import { h, badge, table, fmtTime, fmtRelative, pageHeader, clear, toast, confirmDialog, errorBox } from '../dom.js';
import { get, patch } from '../api.js';
import { can } from '../session.js';
import { t, errorText, fmtNumber } from '../i18n.js';

export async function agentsPage(main) {
  main.append(pageHeader(t('nav.agents')));
  const results = h('div', { id: 'agents-results' });
  main.append(results);
  const draw = async () => {
    const [{ agents }, summary] = await Promise.all([get('/agents'), get('/stats/summary').catch(() => null)]);
    const held = (summary && summary.jobs_per_agent) || {};
    clear(results).append(table(t('nav.agents'), [t('col.agent'), t('agents.state'), t('agents.address'), t('agents.labels'), t('agents.weight'), t('nav.jobs'), t('agents.last_seen'), t('agents.version'), ...(can('admin') ? [t('agents.drain')] : [])],
      agents.map((a) => [
        h('td', {}, h('strong', {}, a.hostname || a.id), h('div.muted.small.mono', {}, a.id)),
        h('td', {}, badge(a.state), a.drained ? [' ', badge('drained')] : null),
        h('code', {}, a.grpc_addr),
        Object.keys(a.labels).length ? h('span.labels', {}, Object.entries(a.labels).map(([k, v]) => h('span.label', {}, `${k}=${v}`))) : h('span.muted', {}, '—'),
        weightCell(a, draw),
        fmtNumber(held[a.id] || 0),
        a.state === 'online' ? t('time.now') : h('span', { title: fmtTime(a.last_seen) }, fmtRelative(a.last_seen)),
        a.version || '—',
        ...(can('admin') ? [drainButton(a, draw)] : []),
      ]), t('agents.none')));
  };
  try { await draw(); } catch (e) { results.append(errorBox(e)); }
}

function weightCell(a, redraw) {
  const effective = a.weight_override ?? a.weight;
  if (!can('admin')) {
    return h('span', {}, fmtNumber(effective), a.weight_override != null ? h('span.muted.small', {}, t('agents.published', { weight: fmtNumber(a.weight) })) : null);
  }
  const id = `weight-${a.id}`;
  const input = h('input.weight', { id, type: 'number', min: 1, max: 1000, value: String(effective), 'aria-label': t('agents.weight_of', { agent: a.hostname || a.id }) });
  const error = h('div.field-error', { role: 'alert', hidden: true });
  const form = h('form.inline', {
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      const n = Number(input.value);
      try {
        await patch(`/agents/${encodeURIComponent(a.id)}`, { weight: input.value.trim() === '' ? null : n });
        toast(t('agents.weight_set', { agent: a.hostname || a.id, weight: input.value || t('agents.published_weight') }));
        await redraw();
      } catch (err) {
        error.textContent = errorText(err);
        error.hidden = false;
      }
    },
  }, input, h('button.button.small', { type: 'submit', 'aria-label': t('agents.save_weight_of', { agent: a.hostname || a.id }), dataset: { agent: a.id } }, t('common.save')));
  return h('td', {}, form, error);
}

function drainButton(a, redraw) {
  return h('button.button.small', {
    type: 'button',
    dataset: { drain: a.id },
    onclick: async () => {
      if (!a.drained && !await confirmDialog(t('agents.drain_title'), t('agents.drain_text', { agent: a.hostname || a.id }), t('agents.drain'), false)) return;
      try {
        await patch(`/agents/${encodeURIComponent(a.id)}`, { drained: !a.drained });
        toast(a.drained ? t('agents.undrained_toast') : t('agents.drained_toast'));
        await redraw();
      } catch (err) { toast(errorText(err), 'bad'); }
    },
  }, a.drained ? t('agents.undrain') : t('agents.drain'));
}
