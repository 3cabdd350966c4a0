// One job: its settings, controls (by role), success-rate sparkline and execution history.
// History refreshes every 2 s while something runs or a trigger is awaited.

import { h, badge, card, fmtTime, fmtRelative, pageHeader, confirmDialog, toast, clear, errorBox, formatPairs } from '../dom.js';
import { get, post, del } from '../api.js';
import { can } from '../session.js';
import { sparkline } from '../charts.js';
import { executionsTable } from './executions-table.js';
import { t, tValue, errorText, fmtNumber } from '../i18n.js';

const OUTCOMES = ['succeeded', 'failed', 'timed_out', 'killed', 'lost'];

export async function jobPage(main, id) {
  const path = `/jobs/${encodeURIComponent(id)}`;
  let job = await get(path);
  const header = h('div');
  const settings = h('div');
  const history = h('div', { id: 'job-history' });
  const rate = h('div', { id: 'job-sparkline' });
  main.append(header, h('div.grid-2.job-top', {}, card(t('job.settings'), settings), card(t('job.success_rate'), rate)), card(t('job.history'), history));

  const act = async (label, fn) => {
    try { await fn(); toast(label); await refresh(); } catch (e) { toast(errorText(e), 'bad'); }
  };
  const drawHeader = () => {
    const controls = [];
    if (can('operate')) {
      controls.push(job.enabled
        ? h('button.button', { type: 'button', id: 'job-pause', onclick: () => act(t('job.paused_toast'), () => post(`${path}/pause`)) }, t('job.pause'))
        : h('button.button', { type: 'button', id: 'job-resume', onclick: () => act(t('job.resumed_toast'), () => post(`${path}/resume`)) }, t('job.resume')));
      controls.push(h('button.button', { type: 'button', id: 'job-trigger', onclick: () => act(t('job.triggered_toast'), () => post(`${path}/trigger`)) }, t('job.run_now')));
      controls.push(h('a.button', { href: `#${path}/edit`, id: 'job-edit' }, t('job.edit')));
      controls.push(h('button.button.danger', {
        type: 'button', id: 'job-delete',
        onclick: async () => {
          if (!await confirmDialog(t('job.delete_title'), t('job.delete_text', { name: job.name }), t('common.delete'))) return;
          try { await del(path); toast(t('job.deleted_toast')); location.hash = '#/jobs'; } catch (e) { toast(errorText(e), 'bad'); }
        },
      }, t('common.delete')));
    }
    clear(header).append(pageHeader(job.name, ...controls),
      h('p.subtitle', {}, badge(job.enabled ? 'enabled' : 'paused'), ' ', h('code', {}, job.schedule), ` · ${job.timezone}`,
        job.alert_lang ? ` · ${t('job.alert_lang_is', { lang: tValue('lang', job.alert_lang) })}` : '',
        job.description ? ` · ${job.description}` : ''));
  };
  const drawSettings = () => {
    const target = job.target;
    const sep = t('common.list_separator');
    const placement = [tValue('strategy', job.placement.strategy || 'default')];
    if (Object.keys(job.placement.labels).length) placement.push(t('job.labels', { labels: formatPairs(job.placement.labels, '=').replace(/\n/g, sep) }));
    if (job.placement.agent_id) placement.push(t('job.pinned', { agent: job.placement.agent_id }));
    const recipients = [...job.alerts.emails, ...job.alerts.feishu_webhooks.map((w) => w.url)].join(sep) || t('job.cluster_recipients');
    const rows = [
      [t('job.id'), h('code', {}, job.id)],
      [t('job.target'), `${tValue('kind', target.kind)}: ${target.kind === 'http' ? `${target.method} ${target.url}` : target.kind === 'grpc' ? `${target.endpoint} ${target.method}` : target.command}`],
      [t('overview.next_fires'), job.next_fires.length ? h('ul.plain', {}, job.next_fires.map((f) => h('li', {}, `${f.local.replace('T', ' ')} (${fmtRelative(f.utc)})`))) : t('job.no_next_fires')],
      [t('col.agent'), job.agent_id || t('common.unassigned')],
      [t('job.timeout'), t('job.timeout_value', { secs: fmtNumber(job.timeout_secs) })],
      [t('job.retry'), job.retry.max_retries ? t('job.retry_value', { n: fmtNumber(job.retry.max_retries), backoff: tValue('backoff', job.retry.backoff), from: fmtNumber(job.retry.initial_secs), to: fmtNumber(job.retry.max_secs) }) : t('job.no_retries')],
      [t('job.overlap_misfire'), `${tValue('overlap', job.overlap)} / ${tValue('misfire', job.misfire)}`],
      [t('job.placement'), placement.join(sep)],
      [t('nav.alerts'), job.alerts.on.length ? `${job.alerts.on.map((e) => tValue('event', e)).join(sep)} → ${recipients}` : t('common.none')],
      [t('job.alert_lang'), job.alert_lang ? tValue('lang', job.alert_lang) : t('job.alert_lang_default')],
      [t('job.updated'), fmtTime(job.updated_at)],
    ];
    clear(settings).append(h('dl.settings', {}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  };
  let timer = null;
  const drawHistory = async () => {
    const list = await get(`/executions?job_id=${encodeURIComponent(id)}&limit=50`);
    clear(history).append(executionsTable(list.executions, { showJob: false }, t('job.no_executions')));
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
