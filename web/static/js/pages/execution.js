// One execution: status, timings, attempts, output (scrollable, copyable), and a kill button
// while it runs. Refreshes every second until it settles.

import { h, badge, card, fmtTime, fmtDuration, pageHeader, clear, link, confirmDialog, toast, table } from '../dom.js';
import { get, post } from '../api.js';
import { can } from '../session.js';

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
          if (!await confirmDialog('Kill this execution?', 'The running attempt is stopped (a shell job’s whole process group) and no retry follows.', 'Kill')) return;
          try { await post(`${path}/kill`); toast('Kill sent'); } catch (err) { toast(err.message, 'bad'); }
        },
      }, 'Kill')
      : null;
    const facts = [
      ['Status', badge(e.status)],
      ['Job', job ? link(`#/jobs/${encodeURIComponent(e.job_id)}`, job.name) : h('code', {}, e.job_id)],
      ['Trigger', e.trigger],
      ['Agent', h('code', {}, e.agent_id)],
      ['Scheduled', fmtTime(e.scheduled_at)],
      ['Started', `${fmtTime(e.started_at)}${e.start_delay_ms != null ? ` (${fmtDuration(e.start_delay_ms)} after schedule)` : ''}`],
      ['Finished', fmtTime(e.finished_at)],
      ['Duration', fmtDuration(e.duration_ms)],
      ['Exit code / HTTP status', e.exit_code ?? e.http_status ?? '—'],
      ['Settled by', e.settled_by || '—'],
    ];
    if (e.error) facts.push(['Error', h('span.error-text', { id: 'execution-error' }, e.error)]);
    const output = h('pre.output', { id: 'execution-output', tabindex: '0', 'aria-label': 'Output' }, e.output || '');
    const copy = h('button.button.small', {
      type: 'button', id: 'copy-output',
      onclick: async () => {
        try { await navigator.clipboard.writeText(e.output || ''); toast('Output copied'); } catch {
          // Clipboard access needs a secure context; selecting the text still lets you copy.
          const range = document.createRange(); range.selectNodeContents(output);
          const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
          toast('Output selected: press Ctrl+C', 'info');
        }
      },
    }, 'Copy');
    // Keep the reader's place in the output across refreshes.
    const previous = body.querySelector('#execution-output');
    const scrolled = previous ? previous.scrollTop : 0;
    clear(body).append(
      pageHeader(`Execution ${e.id.slice(-12)}`, kill),
      h('div.grid-2', {},
        card('Details', h('dl.settings', {}, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
        card('Attempts', table('Attempts', ['#', 'Status', 'Started', 'Duration', 'Code', 'Error'], e.attempts.map((a) => [
          String(a.number ?? ''), badge(a.status || ''),
          a.started_at_ms ? fmtTime(new Date(a.started_at_ms).toISOString()) : '—',
          a.started_at_ms && a.finished_at_ms ? fmtDuration(a.finished_at_ms - a.started_at_ms) : '—',
          String(a.exit_code ?? a.http_status ?? '—'), a.error || '',
        ]), 'No attempt has started yet.'))),
      h('section.card', { 'aria-label': 'Output' },
        h('div.card-head', {}, h('h2', {}, 'Output'), copy),
        e.output ? output : h('p.muted', {}, 'No output.'),
        e.output_truncated ? h('p.muted.small', {}, 'Output was capped at 64 KiB (head and tail kept).') : null,
        e.late_result ? h('p.muted.small', {}, `A result arrived after the execution settled: ${JSON.stringify(e.late_result)}`) : null));
    output.scrollTop = scrolled;
    return running;
  };
  const loop = async () => {
    let again = true;
    try { again = await draw(); } catch (err) { toast(err.message, 'bad'); }
    if (again && !stopped) timer = setTimeout(loop, 1000);
  };
  if (await draw()) timer = setTimeout(loop, 1000);
  return () => { stopped = true; clearTimeout(timer); };
}
