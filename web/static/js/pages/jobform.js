// Create or edit a job: every field of the job model (design §4), a live preview of the next
// five fires in the job's time zone as you type, and the server's field errors shown next to
// the field they name.

import { h, pageHeader, parsePairs, formatPairs, debounce, clear, toast, card } from '../dom.js';
import { get, post, put, query } from '../api.js';
import { can } from '../session.js';
import { t, tValue, errorText } from '../i18n.js';

const DEFAULTS = {
  name: '', description: '', schedule: '0 */5 * * * *', timezone: 'UTC', enabled: true,
  target: { kind: 'http', method: 'POST', url: '', headers: {}, body: '', success_status: null },
  payload: '', timeout_secs: 60, retry: { max_retries: 0, backoff: 'exponential', initial_secs: 5, max_secs: 300 },
  overlap: 'skip', misfire: 'fire_once', placement: { strategy: null, labels: {}, agent_id: null },
  async_timeout_secs: 3600, alerts: { on: [], emails: [], feishu_webhooks: [] }, alert_lang: null,
};
const EVENTS = ['failed', 'timed_out', 'recovered', 'missed', 'lost', 'failure_rate', 'unassigned'];

export async function jobForm(main, id) {
  if (!can('operate')) {
    main.append(pageHeader(id ? t('form.edit_job') : t('jobs.new')), h('div.alert.error', { role: 'alert' }, t('form.view_only')));
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
  const tgt = job.target;

  const kind = choice(tgt.kind, [['http', t('kind.http')], ['grpc', t('kind.grpc')], ...(can('shell') || tgt.kind === 'shell' ? [['shell', t('kind.shell_command')]] : [])]);
  const http = h('div.kind', { dataset: { kind: 'http' } },
    h('div.row', {},
      field('target.method', t('form.method'), choice(tgt.method || 'POST', ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => [m, m]))),
      field('target.url', t('form.url'), input(tgt.url, { type: 'url', placeholder: 'http://service:8080/run', class: 'grow' }))),
    field('target.headers', t('form.headers'), area(formatPairs(tgt.headers, ': ')), t('form.headers_hint')),
    field('target.secret_headers', t('form.secret_headers'), input((tgt.secret_headers || []).join(', ')), t('form.secret_headers_hint')),
    field('target.body', t('form.body'), area(tgt.body)),
    field('target.success_status', t('form.success_status'), input(tgt.success_status, { type: 'number', min: 100, max: 599, placeholder: t('form.any_2xx') })));
  const grpc = h('div.kind', { dataset: { kind: 'grpc' } },
    field('target.endpoint', t('form.endpoint'), input(tgt.endpoint, { placeholder: 'http://service:50051' })),
    field('target.method', t('form.method'), input(tgt.kind === 'grpc' ? tgt.method : '/crony.v1.JobCallback/Execute')),
    field('target.metadata', t('form.metadata'), area(formatPairs(tgt.metadata, ': ')), t('form.metadata_hint')),
    field('target.secret_metadata', t('form.secret_metadata'), input((tgt.secret_metadata || []).join(', ')), t('form.secret_metadata_hint')));
  const shell = h('div.kind', { dataset: { kind: 'shell' } },
    field('target.command', t('form.command'), area(tgt.command, 3, { class: 'mono' }), t('form.command_hint')),
    field('target.workdir', t('form.workdir'), input(tgt.workdir)),
    field('target.env', t('form.env'), area(formatPairs(tgt.env, '=')), t('form.env_hint')),
    field('target.secret_env', t('form.secret_env'), input((tgt.secret_env || []).join(', ')), t('form.secret_env_hint')));
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
    if (!raw) { clear(preview).append(h('p.muted', {}, t('form.type_schedule'))); return; }
    try {
      const answer = await get(`/cron/preview${query({ schedule: raw, timezone: timezone.value.trim(), count: 5 })}`);
      if (mine !== asked) return;
      showError('schedule', null); showError('timezone', null);
      clear(preview).append(h('p.preview-title', {}, t('form.next_fires_in', { zone: answer.timezone })),
        h('ol.fires', {}, answer.fires.map((f) => h('li', {}, h('span.mono', {}, f.local.replace('T', ' ')), h('span.muted', {}, ` ${f.utc.replace('T', ' ').replace('+00:00', ' UTC')}`)))));
    } catch (e) {
      if (mine !== asked) return;
      clear(preview);
      showError(e.field === 'timezone' ? 'timezone' : 'schedule', errorText(e));
    }
  }, 200);
  schedule.addEventListener('input', runPreview);
  timezone.addEventListener('input', runPreview);

  const on = h('fieldset.checks', { dataset: { field: 'alerts.on' } }, h('legend', {}, t('form.alert_on')),
    EVENTS.map((ev) => h('label.check', {}, h('input', { type: 'checkbox', value: ev, checked: job.alerts.on.includes(ev), name: 'alerts-on' }), tValue('event', ev))));
  errors['alerts.on'] = h('div.field-error', { role: 'alert', hidden: true });

  const form = h('form.job-form', { novalidate: true, 'aria-label': id ? t('form.edit_job') : t('jobs.new') },
    h('div.form-error', { id: 'form-error', role: 'alert', hidden: true }),
    card(t('col.job'),
      field('name', t('col.name'), input(job.name, { required: true, autocomplete: 'off' })),
      field('description', t('form.description'), input(job.description)),
      h('label.check', {}, (fields.enabled = h('input', { type: 'checkbox', checked: job.enabled, id: 'f-enabled' })), t('jobs.enabled'))),
    card(t('col.schedule'),
      h('div.row', {},
        field('schedule', t('col.schedule'), schedule, t('form.schedule_hint')),
        field('timezone', t('form.timezone'), timezone)),
      h('datalist', { id: 'zones' }, zones.map((z) => h('option', { value: z }))),
      preview),
    card(t('job.target'), field('target.kind', t('form.kind'), kind), http, grpc, shell,
      field('payload', t('form.payload'), area(job.payload), t('form.payload_hint'))),
    card(t('form.runs'),
      h('div.row', {},
        field('timeout_secs', t('form.timeout_secs'), input(job.timeout_secs, { type: 'number', min: 1 })),
        field('async_timeout_secs', t('form.async_timeout_secs'), input(job.async_timeout_secs, { type: 'number', min: 1 }))),
      h('div.row', {},
        field('retry.max_retries', t('form.retries'), input(job.retry.max_retries, { type: 'number', min: 0, max: 100 })),
        field('retry.backoff', t('form.backoff'), choice(job.retry.backoff, [['exponential', t('backoff.exponential')], ['fixed', t('backoff.fixed')]])),
        field('retry.initial_secs', t('form.initial_secs'), input(job.retry.initial_secs, { type: 'number', min: 1 })),
        field('retry.max_secs', t('form.max_secs'), input(job.retry.max_secs, { type: 'number', min: 1 }))),
      h('div.row', {},
        field('overlap', t('form.overlap'), choice(job.overlap, [['skip', t('overlap.skip')], ['allow', t('overlap.allow')], ['replace', t('overlap.replace')]])),
        field('misfire', t('form.misfire'), choice(job.misfire, [['fire_once', t('misfire.fire_once')], ['skip', t('misfire.skip')]])))),
    card(t('job.placement'),
      h('div.row', {},
        field('placement.strategy', t('form.strategy'), choice(job.placement.strategy, [['', t('strategy.default')], ['weighted_round_robin', t('strategy.weighted_round_robin')], ['fewest_jobs', t('strategy.fewest_jobs')]])),
        field('placement.agent_id', t('form.pin'), choice(job.placement.agent_id, [['', t('filter.any_agent')], ...agents.map((a) => [a.id, a.hostname || a.id])]))),
      field('placement.labels', t('form.agent_labels'), area(formatPairs(job.placement.labels, '='), 2), t('form.labels_hint'))),
    card(t('nav.alerts'), on, errors['alerts.on'],
      field('alert_lang', t('job.alert_lang'), choice(job.alert_lang, [['', t('job.alert_lang_default')], ['en', t('lang.en')], ['zh-CN', t('lang.zh-CN')]]), t('form.alert_lang_hint')),
      field('alerts.emails', t('form.emails'), area(job.alerts.emails.join('\n'), 2), t('form.emails_hint')),
      field('alerts.feishu_webhooks', t('form.feishu_webhooks'), area(job.alerts.feishu_webhooks.map((w) => (w.secret ? `${w.url} ${w.secret}` : w.url)).join('\n'), 2), t('form.feishu_hint'))),
    h('div.form-actions', {},
      h('a.button', { href: id ? `#/jobs/${encodeURIComponent(id)}` : '#/jobs' }, t('common.cancel')),
      h('button.button.primary', { type: 'submit', id: 'job-save' }, id ? t('form.save_changes') : t('form.create_job'))));

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
    const num = (name) => { const s = v(name); if (s === '') return undefined; const n = Number(s); if (!Number.isInteger(n)) throw Object.assign(new Error(t('form.whole_number')), { field: name }); return n; };
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
      overlap: v('overlap'), misfire: v('misfire'), alert_lang: v('alert_lang') || null,
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
      toast(id ? t('form.saved_toast') : t('form.created_toast'));
      location.hash = `#/jobs/${encodeURIComponent(saved.id)}`;
    } catch (err) {
      const name = fieldFor(err.field);
      if (name) {
        showError(name, errorText(err));
        fields[name]?.focus();
      } else {
        formError.textContent = err.field ? `${err.field}: ${errorText(err)}` : errorText(err);
        formError.hidden = false;
        formError.scrollIntoView({ block: 'center' });
      }
    } finally {
      save.disabled = false;
    }
  });

  main.append(pageHeader(id ? t('form.edit_named', { name: job.name }) : t('jobs.new')), form);
  showKind();
  runPreview();
}
