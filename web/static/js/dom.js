// Building DOM without HTML strings: every server value goes in as text, so nothing the API
// returns (job names, output, errors) can become markup. Dates, numbers and durations are
// formatted in the dashboard's language (`i18n.js`).

import { t, tValue, errorText, fmtDate, fmtRelativeUnit, fmtUnit } from './i18n.js';

/** h('a.button.primary', {href: '#/jobs/new'}, 'New job') */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2), value);
      } else if (key === 'class') {
        el.className = [el.className, value].filter(Boolean).join(' ');
      } else if (key === 'dataset') {
        Object.assign(el.dataset, value);
      } else if (key in el && typeof value !== 'string') {
        el[key] = value;
      } else {
        el.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  // The year only when it is not this one: tables stay narrow.
  const thisYear = d.getFullYear() === new Date().getFullYear();
  return fmtDate(d, {
    year: thisYear ? undefined : 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  });
}

/** A timestamp for tables: one line, the exact instant on hover. */
export function when(iso) {
  if (!iso) return h('span.muted', {}, '—');
  return h('time', { datetime: iso, title: iso }, fmtTime(iso));
}

/** "in 3 min", "5 s ago" (in the dashboard's language) */
export function fmtRelative(iso) {
  if (!iso) return '—';
  const ms = new Date(iso).getTime() - Date.now();
  const abs = Math.abs(ms);
  const units = [[86400000, 'day'], [3600000, 'hour'], [60000, 'minute'], [1000, 'second']];
  for (const [size, unit] of units) {
    if (abs >= size) return fmtRelativeUnit(Math.sign(ms) * Math.floor(abs / size), unit);
  }
  return t('time.now');
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return fmtUnit(ms, 'millisecond');
  if (ms < 60000) return fmtUnit(ms / 1000, 'second', ms < 10000 ? 2 : 1);
  const m = Math.floor(ms / 60000);
  const s = Math.round((ms % 60000) / 1000);
  return `${fmtUnit(m, 'minute')} ${fmtUnit(s, 'second')}`;
}

const STATUS_TONE = {
  succeeded: 'ok', failed: 'bad', timed_out: 'bad', lost: 'bad', killed: 'warn',
  running: 'info', scheduled: 'info', skipped: 'muted', missed: 'warn',
  online: 'ok', offline: 'muted', enabled: 'ok', paused: 'muted', drained: 'warn',
  sent: 'ok', pending: 'info', dead: 'bad', suppressed: 'muted',
};

export function badge(status, label) {
  const tone = STATUS_TONE[status] || 'muted';
  return h(`span.badge.tone-${tone}`, { dataset: { status } }, label || tValue('status', status));
}

/** A table with a header row; `rows` are arrays of cells (strings or nodes). */
export function table(label, headers, rows, empty) {
  if (!rows.length) return emptyState(empty);
  return h('div.table-wrap', {},
    h('table', { 'aria-label': label },
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((cells) => {
        const tr = h('tr', {});
        for (const c of cells) tr.append(c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c));
        return tr;
      }))));
}

export function emptyState(content) {
  return h('div.empty', {}, content || t('common.empty'));
}

export function errorBox(err) {
  const message = err && (err.code || err.message) ? errorText(err) : String(err);
  return h('div.alert.error', { role: 'alert' }, message);
}

export function pageHeader(title, ...actions) {
  return h('div.page-header', {}, h('h1', {}, title), h('div.actions', {}, actions));
}

export function card(title, ...body) {
  return h('section.card', { 'aria-label': title }, h('h2', {}, title), body);
}

export function link(href, text) {
  return h('a', { href }, text);
}

export function toast(text, tone = 'ok') {
  const box = document.getElementById('toasts');
  const item = h(`div.toast.tone-${tone}`, {}, text);
  box.append(item);
  setTimeout(() => item.remove(), 4000);
}

/** A modal confirmation; resolves true when confirmed. Keyboard: Esc cancels, focus trapped. */
export function confirmDialog(title, message, confirmLabel = t('common.confirm'), danger = true) {
  return new Promise((resolve) => {
    const dialog = h('dialog.dialog', { 'aria-labelledby': 'dialog-title' });
    const done = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    const ok = h(`button.button.${danger ? 'danger' : 'primary'}`, { type: 'button', onclick: () => done(true) }, confirmLabel);
    append(dialog, [
      h('h2', { id: 'dialog-title' }, title),
      h('p', {}, message),
      h('div.dialog-actions', {},
        h('button.button', { type: 'button', onclick: () => done(false) }, t('common.cancel')), ok),
    ]);
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  });
}

/** Splits `k=v` / `k: v` lines into an object; throws naming the bad line. */
export function parsePairs(text, sep) {
  const out = {};
  text.split('\n').map((l) => l.trim()).filter(Boolean).forEach((line, i) => {
    const at = line.indexOf(sep);
    if (at <= 0) throw new Error(t('form.bad_pair', { line: i + 1, sep }));
    out[line.slice(0, at).trim()] = line.slice(at + sep.length).trim();
  });
  return out;
}

export function formatPairs(obj, sep) {
  return Object.entries(obj || {}).map(([k, v]) => `${k}${sep}${v}`).join('\n');
}

export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** The query part of the hash route (`#/jobs?q=x`). */
export function params() {
  const raw = location.hash.replace(/^#/, '');
  const at = raw.indexOf('?');
  return new URLSearchParams(at >= 0 ? raw.slice(at + 1) : '');
}
