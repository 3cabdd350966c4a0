// Alerts with their delivery status, filterable by status and channel.

import { h, badge, table, when, pageHeader, clear, errorBox, link, params } from '../dom.js';
import { get, query } from '../api.js';
import { select } from './jobs.js';
import { t, tValue } from '../i18n.js';

export async function alertsPage(main) {
  const p = params();
  const state = { status: p.get('status') || '', channel: p.get('channel') || '' };
  main.append(pageHeader(t('nav.alerts')));
  const filters = {
    status: select('alert-status', t('alerts.delivery_status'), [['', t('filter.any_status')], ['sent', t('alerts.sent')], ['pending', t('alerts.pending')], ['failed', t('alerts.failed')], ['dead', t('alerts.dead')], ['suppressed', t('alerts.suppressed')]], state.status),
    channel: select('alert-channel', t('col.channel'), [['', t('filter.any_channel')], ['email', t('channel.email')], ['feishu', t('channel.feishu')], ['webhook', t('channel.webhook')]], state.channel),
  };
  main.append(h('div.filters', {}, Object.values(filters)));
  const results = h('div', { id: 'alerts-results' });
  main.append(results);
  let rows = [];
  let cursor = null;
  const load = async (more) => {
    try {
      const page = await get(`/alerts${query({ ...state, cursor: more ? cursor : null, limit: 50 })}`);
      rows = more ? rows.concat(page.alerts) : page.alerts;
      cursor = page.next_cursor;
      clear(results).append(table(t('nav.alerts'), [t('col.when'), t('col.event'), t('col.subject'), t('col.channel'), t('col.recipient'), t('col.delivery'), t('col.tries')],
        rows.map((a) => [
          when(a.created_at),
          tValue('event', a.event),
          a.execution_id ? link(`#/executions/${encodeURIComponent(a.execution_id)}`, a.title || t('alerts.execution'))
            : a.job_id ? link(`#/jobs/${encodeURIComponent(a.job_id)}`, a.title || t('alerts.job')) : (a.title || a.agent_id || '—'),
          tValue('channel', a.channel),
          h('span.truncate', { title: a.recipient }, a.recipient),
          // The delivery error sits under its status: a column of its own squeezes the table.
          h('td', {}, badge(a.status), a.last_error ? h('div.error-text.small.clamp', { title: a.last_error }, a.last_error) : null),
          String(a.attempts),
        ]), t('alerts.none')));
      if (cursor) results.append(h('button.button', { type: 'button', onclick: () => load(true) }, t('common.load_more')));
    } catch (e) {
      clear(results).append(errorBox(e));
    }
  };
  for (const [key, box] of Object.entries(filters)) {
    box.addEventListener('change', () => { state[key] = box.querySelector('select').value; load(false); });
  }
  await load(false);
}
