// Create or edit a job: every field of the job model (design §4), a live preview of the next
// five fires in the job's time zone as you type, and the server's field errors shown next to
// the field they name.

import { h, pageHeader, parsePairs, formatPairs, debounce, clear, toast, card } from '../dom.js';
import { get, post, put, query } from '../api.js';
import { can } from '../session.js';

const DEFAULTS = {
  name: '', description: '', schedule: '0 */5 * * * *', timezone: 'UTC', enabled: true,
  target: { kind: 'http', method: 'POST', url: '', headers: {}, body: '', success_status: null },
  payload: '', timeout_secs: 60, retry: { max_retries: 0, backoff: 'exponential', initial_secs: 5, max_secs: 300 },
  overlap: 'skip', misfire: 'fire_once', placement: { strategy: null, labels: {}, agent_id: null },
  async_timeout_secs: 3600, alerts: { on: [], emails: [], feishu_webhooks: [] },
};
const EVENTS = ['failed', 'timed_out', 'recovered', 'missed', 'lost', 'failure_rate', 'unassigned'];

export async function jobForm(main, id) {
  if (!can('operate')) {
    main.append(pageHeader(id ? 'Edit job' : 'New job'), h('div.alert.error', { role: 'alert' }, 'Your role can only look at jobs.'));
    return;
  }
  const job = id ? await get(`/jobs/${encodeURIComponent(id)}`) : structuredClone(DEFAULTS);
  const agents = await get('/agents').then((a) => a.agents).catch(() => []);
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  const fields = {};
  const errors = {};

  // One labelled control with a place for its error; `name` is the API's field path.
  const field = (name, label, control, hint) => {
    const slug = `f-${name.replace(/[^a-z0-9]+/gi, '-')}`;
    // HTTP and gRPC both have `target.method`; ids must stay unique.
    control.id = fields[name] ? `${slug}-2` : slug;
    control.dataset.field = name;
    const error = h('div.field-error', { id: `${control.id}-error`, role: 'alert', hidden: true });
    control.setAttribute('aria-describedby', `${control.id}-error${hint ? ` ${control.id}-hint` : ''}`);
    fields[name] = control;
    errors[name] = error;
    return h('div.field', { dataset: { for: name } },
      h('label', { for: control.id }, label), control,
      hint ? h('div.hint', { id: `${control.id}-hint` }, hint) : null, error);
  };
  const input = (value, attrs = {}) => h('input', { value: value ?? '', ...attrs });
  const area = (value, rows = 3, attrs = {}) => { const t = h('textarea', { rows, ...attrs }); t.value = value ?? ''; return t; };
  const choice = (value, options) => h('select', {}, options.map(([v, t]) => h('option', { value: v, selected: v === (value ?? '') }, t)));
  const t = job.target;

  const kind = choice(t.kind, [['http', 'HTTP'], ['grpc', 'gRPC'], ...(can('shell') || t.kind === 'shell' ? [['shell', 'Shell command']] : [])]);
  const http = h('div.kind', { dataset: { kind: 'http' } },
    h('div.row', {},
      field('target.method', 'Method', choice(t.method || 'POST', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => [m, m]))),
      field('target.url', 'URL', input(t.url, { type: 'url', placeholder: 'http://service:8080/run', class: 'grow' }))),
    field('target.headers', 'Headers', area(formatPairs(t.headers, ': ')), 'One per line: Name: value'),
    field('target.secret_headers', 'Secret headers', input((t.secret_headers || []).join(', ')), 'Names of headers whose values are secret (never shown again, encrypted at rest), comma-separated'),
    field('target.body', 'Body', area(t.body)),
    field('target.success_status', 'Success status', input(t.success_status, { type: 'number', min: 100, max: 599, placeholder: 'any 2xx' })));
  const grpc = h('div.kind', { dataset: { kind: 'grpc' } },
    field('target.endpoint', 'Endpoint', input(t.endpoint, { placeholder: 'http://service:50051' })),
    field('target.method', 'Method', input(t.kind === 'grpc' ? t.method : '/crony.v1.JobCallback/Execute')),
    field('target.metadata', 'Metadata', area(formatPairs(t.metadata, ': ')), 'One per line: key: value'),
    field('target.secret_metadata', 'Secret metadata', input((t.secret_metadata || []).join(', ')), 'Keys whose values are secret, comma-separated'));
  const shell = h('div.kind', { dataset: { kind: 'shell' } },
    field('target.command', 'Command', area(t.command, 3, { class: 'mono' }), 'Run with sh -c on the agent'),
    field('target.workdir', 'Working directory', input(t.workdir)),
    field('target.env', 'Environment', area(formatPairs(t.env, '=')), 'One per line: NAME=value'),
    field('target.secret_env', 'Secret variables', input((t.secret_env || []).join(', ')), 'Names of variables whose values are secret, comma-separated'));
  // grpc and http both have a `target.method`: keep the visible one registered.
  const showKind = () => {
    for (const [k, box] of [['http', http], ['grpc', grpc], ['shell', shell]]) {
      box.hidden = kind.value !== k;
      for (const c of box.querySelectorAll('[data-field]')) if (!box.hidden) { fields[c.dataset.field] = c; errors[c.dataset.field] = c.parentElement.querySelector('.field-error'); }
    }
  };
  kind.addEventListener('change', showKind);

  const preview = h('div.preview', { id: 'cron-preview', 'aria-live': 'polite' });
  const schedule = input(job.schedule, { class: 'mono', autocomplete: 'off', spellcheck: 'false' });
  const timezone = input(job.timezone, { list: 'zones', autocomplete: 'off' });
  // Answers can overtake each other while you type: only the newest request's answer counts.
  let asked = 0;
  const runPreview = debounce(async () => {
    const mine = ++asked;
    const raw = schedule.value.trim();
    if (!raw) { clear(preview).append(h('p.muted', {}, 'Type a schedule to see its next fires.')); return; }
    try {
      const answer = await get(`/cron/preview${query({ schedule: raw, timezone: timezone.value.trim(), count: 5 })}`);
      if (mine !== asked) return;
      showError('schedule', null); showError('timezone', null);
      clear(preview).append(h('p.preview-title', {}, `Next 5 fires in ${answer.timezone}`),
        h('ol.fires', {}, answer.fires.map((f) => h('li', {}, h('span.mono', {}, f.local.replace('T', ' ')), h('span.muted', {}, ` ${f.utc.replace('T', ' ').replace('+00:00', ' UTC')}`)))));
    } catch (e) {
      if (mine !== asked) return;
      clear(preview);
      showError(e.field === 'timezone' ? 'timezone' : 'schedule', e.message);
    }
  }, 200);
  schedule.addEventListener('input', runPreview);
  timezone.addEventListener('input', runPreview);

  const on = h('fieldset.checks', { dataset: { field: 'alerts.on' } }, h('legend', {}, 'Alert on'),
    EVENTS.map((ev) => h('label.check', {}, h('input', { type: 'checkbox', value: ev, checked: job.alerts.on.includes(ev), name: 'alerts-on' }), ev.replace('_', ' '))));
  errors['alerts.on'] = h('div.field-error', { role: 'alert', hidden: true });

  const form = h('form.job-form', { novalidate: true, 'aria-label': id ? 'Edit job' : 'New job' },
    h('div.form-error', { id: 'form-error', role: 'alert', hidden: true }),
    card('Job',
      field('name', 'Name', input(job.name, { required: true, autocomplete: 'off' })),
      field('description', 'Description', input(job.description)),
      h('label.check', {}, (fields.enabled = h('input', { type: 'checkbox', checked: job.enabled, id: 'f-enabled' })), 'Enabled')),
    card('Schedule',
      h('div.row', {},
        field('schedule', 'Schedule', schedule, 'Cron with seconds (0 30 2 * * *), 5 fields, @daily, @every 30s, @delay 5m or @at <RFC 3339>'),
        field('timezone', 'Time zone', timezone)),
      h('datalist', { id: 'zones' }, zones.map((z) => h('option', { value: z }))),
      preview),
    card('Target', field('target.kind', 'Kind', kind), http, grpc, shell,
      field('payload', 'Payload', area(job.payload), 'Sent to the target with every run')),
    card('Runs',
      h('div.row', {},
        field('timeout_secs', 'Timeout (s)', input(job.timeout_secs, { type: 'number', min: 1 })),
        field('async_timeout_secs', 'Async timeout (s)', input(job.async_timeout_secs, { type: 'number', min: 1 }))),
      h('div.row', {},
        field('retry.max_retries', 'Retries', input(job.retry.max_retries, { type: 'number', min: 0, max: 100 })),
        field('retry.backoff', 'Backoff', choice(job.retry.backoff, [['exponential', 'Exponential'], ['fixed', 'Fixed']])),
        field('retry.initial_secs', 'First wait (s)', input(job.retry.initial_secs, { type: 'number', min: 1 })),
        field('retry.max_secs', 'Longest wait (s)', input(job.retry.max_secs, { type: 'number', min: 1 }))),
      h('div.row', {},
        field('overlap', 'If still running', choice(job.overlap, [['skip', 'Skip the new fire'], ['allow', 'Run both'], ['replace', 'Kill the old run']])),
        field('misfire', 'Missed fires', choice(job.misfire, [['fire_once', 'Run once'], ['skip', 'Skip']])))),
    card('Placement',
      h('div.row', {},
        field('placement.strategy', 'Strategy', choice(job.placement.strategy, [['', 'Cluster default'], ['weighted_round_robin', 'Weighted round robin'], ['fewest_jobs', 'Fewest jobs']])),
        field('placement.agent_id', 'Pin to agent', choice(job.placement.agent_id, [['', 'Any agent'], ...agents.map((a) => [a.id, a.hostname || a.id])]))),
      field('placement.labels', 'Agent labels', area(formatPairs(job.placement.labels, '='), 2), 'One per line: key=value')),
    card('Alerts', on, errors['alerts.on'],
      field('alerts.emails', 'Emails', area(job.alerts.emails.join('\n'), 2), 'One address per line'),
      field('alerts.feishu_webhooks', 'Feishu webhooks', area(job.alerts.feishu_webhooks.map((w) => (w.secret ? `${w.url} ${w.secret}` : w.url)).join('\n'), 2), 'One per line: URL, then its signing secret after a space')),
    h('div.form-actions', {},
      h('a.button', { href: id ? `#/jobs/${encodeURIComponent(id)}` : '#/jobs' }, 'Cancel'),
      h('button.button.primary', { type: 'submit', id: 'job-save' }, id ? 'Save changes' : 'Create job')));

  function showError(name, message) {
    const box = errors[name];
    const control = fields[name];
    if (box) { box.textContent = message || ''; box.hidden = !message; }
    if (control) { if (message) control.setAttribute('aria-invalid', 'true'); else control.removeAttribute('aria-invalid'); }
  }
  const formError = form.querySelector('#form-error');
  const clearErrors = () => { for (const name of Object.keys(errors)) showError(name, null); formError.hidden = true; };

  // The server's field names can be more precise than the form (`alerts.emails[1]`,
  // `target.headers.X-Team`): show the error at the closest field there is.
  const fieldFor = (name) => {
    let n = name || '';
    while (n) {
      if (errors[n]) return n;
      n = n.replace(/(\[\d+\]|\.[^.[]*)$/, '');
    }
    return null;
  };

  const collect = () => {
    const v = (name) => fields[name].value.trim();
    const num = (name) => { const s = v(name); if (s === '') return undefined; const n = Number(s); if (!Number.isInteger(n)) throw Object.assign(new Error('must be a whole number'), { field: name }); return n; };
    const pairs = (name, sep) => { try { return parsePairs(fields[name].value, sep); } catch (e) { throw Object.assign(e, { field: name }); } };
    const names = (name) => v(name).split(',').map((n) => n.trim()).filter(Boolean);
    let target;
    if (kind.value === 'http') {
      target = { kind: 'http', method: v('target.method'), url: v('target.url'), headers: pairs('target.headers', ':'), body: fields['target.body'].value, secret_headers: names('target.secret_headers') };
      const status = num('target.success_status');
      if (status !== undefined) target.success_status = status;
    } else if (kind.value === 'grpc') {
      target = { kind: 'grpc', endpoint: v('target.endpoint'), method: v('target.method'), metadata: pairs('target.metadata', ':'), secret_metadata: names('target.secret_metadata') };
    } else {
      target = { kind: 'shell', command: fields['target.command'].value, env: pairs('target.env', '='), secret_env: names('target.secret_env') };
      if (v('target.workdir')) target.workdir = v('target.workdir');
    }
    const hooks = fields['alerts.feishu_webhooks'].value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
      const [url, secret] = l.split(/\s+/, 2);
      return secret ? { url, secret } : { url };
    });
    return {
      name: fields.name.value, description: fields.description.value, schedule: v('schedule'), timezone: v('timezone') || 'UTC',
      enabled: fields.enabled.checked, target, payload: fields.payload.value,
      timeout_secs: num('timeout_secs'), async_timeout_secs: num('async_timeout_secs'),
      retry: { max_retries: num('retry.max_retries'), backoff: v('retry.backoff'), initial_secs: num('retry.initial_secs'), max_secs: num('retry.max_secs') },
      overlap: v('overlap'), misfire: v('misfire'),
      placement: { strategy: v('placement.strategy') || null, labels: pairs('placement.labels', '='), agent_id: v('placement.agent_id') || null },
      alerts: { on: [...on.querySelectorAll('input:checked')].map((c) => c.value), emails: fields['alerts.emails'].value.split('\n').map((l) => l.trim()).filter(Boolean), feishu_webhooks: hooks },
    };
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    const save = form.querySelector('#job-save');
    save.disabled = true;
    try {
      const body = collect();
      const saved = id ? await put(`/jobs/${encodeURIComponent(id)}`, body) : await post('/jobs', body);
      toast(id ? 'Job saved' : 'Job created');
      location.hash = `#/jobs/${encodeURIComponent(saved.id)}`;
    } catch (err) {
      const name = fieldFor(err.field);
      if (name) {
        showError(name, err.message);
        fields[name]?.focus();
      } else {
        formError.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
        formError.hidden = false;
        formError.scrollIntoView({ block: 'center' });
      }
    } finally {
      save.disabled = false;
    }
  });

  main.append(pageHeader(id ? `Edit ${job.name}` : 'New job'), form);
  showKind();
  runPreview();
}
