// Alerts with their delivery status, filterable by status and channel.

import { h, badge, table, when, pageHeader, clear, errorBox, link, params } from '../dom.js';
import { get, query } from '../api.js';
import { select } from './jobs.js';

export async function alertsPage(main) {
  const p = params();
  const state = { status: p.get('status') || '', channel: p.get('channel') || '' };
  main.append(pageHeader('Alerts'));
  const filters = {
    status: select('alert-status', 'Delivery status', [['', 'Any status'], ['sent', 'Sent'], ['pending', 'Pending'], ['failed', 'Failed (retrying)'], ['dead', 'Gave up'], ['suppressed', 'Suppressed']], state.status),
    channel: select('alert-channel', 'Channel', [['', 'Any channel'], ['email', 'Email'], ['feishu', 'Feishu'], ['webhook', 'Webhook']], state.channel),
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
      clear(results).append(table('Alerts', ['When', 'Event', 'Subject', 'Channel', 'Recipient', 'Delivery', 'Tries'],
        rows.map((a) => [
          when(a.created_at),
          a.event.replace('_', ' '),
          a.execution_id ? link(`#/executions/${encodeURIComponent(a.execution_id)}`, a.title || 'execution')
            : a.job_id ? link(`#/jobs/${encodeURIComponent(a.job_id)}`, a.title || 'job') : (a.title || a.agent_id || '—'),
          a.channel,
          h('span.truncate', { title: a.recipient }, a.recipient),
          // The delivery error sits under its status: a column of its own squeezes the table.
          h('td', {}, badge(a.status), a.last_error ? h('div.error-text.small.clamp', { title: a.last_error }, a.last_error) : null),
          String(a.attempts),
        ]), 'No alerts yet — jobs alert on the events they name, agents when they go offline.'));
      if (cursor) results.append(h('button.button', { type: 'button', onclick: () => load(true) }, 'Load more'));
    } catch (e) {
      clear(results).append(errorBox(e));
    }
  };
  for (const [key, box] of Object.entries(filters)) {
    box.addEventListener('change', () => { state[key] = box.querySelector('select').value; load(false); });
  }
  await load(false);
}
