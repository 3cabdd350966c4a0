// One execution: status, timings, attempts, output (scrollable, copyable), and a kill button
// while it runs. Refreshes every second until it settles.

import { h, badge, card, fmtTime, fmtDuration, pageHeader, clear, link, confirmDialog, toast, table } from '../dom.js';
import { get, post } from '../api.js';
import { can } from '../session.js';
import { t, tValue, errorText } from '../i18n.js';

export async function executionPage(main, id) {
  const path = `/executions/${encodeURIComponent(id)}`;
  const body = h('div', { id: 'execution' });
  main.append(body);
  let timer = null;
  let stopped = false;
  const draw = async () => {
    const e = await get(path);
    const job = await get(`/jobs/${encodeURIComponent(e.job_id)}`).catch(() => null);
    const running = e.status === 'running' || e.status === 'scheduled';
    const kill = running && can('operate')
      ? h('button.button.danger', {
        type: 'button', id: 'execution-kill',
        onclick: async () => {
          if (!await confirmDialog(t('execution.kill_title'), t('execution.kill_text'), t('execution.kill'))) return;
          try { await post(`${path}/kill`); toast(t('execution.kill_sent')); } catch (err) { toast(errorText(err), 'bad'); }
        },
      }, t('execution.kill'))
      : null;
    const facts = [
      [t('col.status'), badge(e.status)],
      [t('col.job'), job ? link(`#/jobs/${encodeURIComponent(e.job_id)}`, job.name) : h('code', {}, e.job_id)],
      [t('col.trigger'), tValue('trigger', e.trigger)],
      [t('col.agent'), h('code', {}, e.agent_id)],
      [t('col.scheduled'), fmtTime(e.scheduled_at)],
      [t('execution.started'), `${fmtTime(e.started_at)}${e.start_delay_ms != null ? t('execution.after_schedule', { delay: fmtDuration(e.start_delay_ms) }) : ''}`],
      [t('execution.finished'), fmtTime(e.finished_at)],
      [t('col.duration'), fmtDuration(e.duration_ms)],
      [t('execution.exit_code'), e.exit_code ?? e.http_status ?? '—'],
      [t('execution.settled_by'), e.settled_by ? tValue('settled_by', e.settled_by) : '—'],
    ];
    // The run's OpenTelemetry trace: linked when the scheduler knows the trace UI (CRONY_OTEL_TRACE_URL).
    if (e.trace_id) {
      const id = h('code', { id: 'execution-trace' }, e.trace_id);
      const safe = typeof e.trace_url === 'string' && /^https?:\/\//.test(e.trace_url);
      facts.push([t('execution.trace'), safe ? h('a', { href: e.trace_url, target: '_blank', rel: 'noopener noreferrer' }, id) : id]);
    }
    if (e.error) facts.push([t('col.error'), h('span.error-text', { id: 'execution-error' }, e.error)]);
    const output = h('pre.output', { id: 'execution-output', tabindex: '0', 'aria-label': t('execution.output') }, e.output || '');
    const copy = h('button.button.small', {
      type: 'button', id: 'copy-output',
      onclick: async () => {
        try { await navigator.clipboard.writeText(e.output || ''); toast(t('execution.copied')); } catch {
          // Clipboard access needs a secure context; selecting the text still lets you copy.
          const range = document.createRange(); range.selectNodeContents(output);
          const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
          toast(t('execution.selected'), 'info');
        }
      },
    }, t('execution.copy'));
    // Keep the reader's place in the output across refreshes.
    const previous = body.querySelector('#execution-output');
    const scrolled = previous ? previous.scrollTop : 0;
    clear(body).append(
      pageHeader(t('execution.title', { id: e.id.slice(-12) }), kill),
      h('div.grid-2', {},
        card(t('execution.details'), h('dl.settings', {}, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
        card(t('col.attempts'), table(t('col.attempts'), ['#', t('col.status'), t('execution.started'), t('col.duration'), t('execution.code'), t('col.error')], e.attempts.map((a) => [
          String(a.number ?? ''), badge(a.status || ''),
          a.started_at_ms ? fmtTime(new Date(a.started_at_ms).toISOString()) : '—',
          a.started_at_ms && a.finished_at_ms ? fmtDuration(a.finished_at_ms - a.started_at_ms) : '—',
          String(a.exit_code ?? a.http_status ?? '—'), a.error || '',
        ]), t('execution.no_attempt')))),
      h('section.card', { 'aria-label': t('execution.output') },
        h('div.card-head', {}, h('h2', {}, t('execution.output')), copy),
        e.output ? output : h('p.muted', {}, t('execution.no_output')),
        e.output_truncated ? h('p.muted.small', {}, t('execution.capped')) : null,
        e.late_result ? h('p.muted.small', {}, t('execution.late_result', { result: JSON.stringify(e.late_result) })) : null));
    output.scrollTop = scrolled;
    return running;
  };
  const loop = async () => {
    let again = true;
    try { again = await draw(); } catch (err) { toast(errorText(err), 'bad'); }
    if (again && !stopped) timer = setTimeout(loop, 1000);
  };
  if (await draw()) timer = setTimeout(loop, 1000);
  return () => { stopped = true; clearTimeout(timer); };
}
