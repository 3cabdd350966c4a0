// The dashboard's languages (English and Simplified Chinese): which one is active, `t()` to
// look up a message, and dates, numbers and API errors in the active language. The tables are
// plain modules beside this one (`i18n/en.js`, `i18n/zh-CN.js`); a Rust test keeps them
// complete, so a key missing from one table fails the build's tests, not a user.

import en from './i18n/en.js';
import zhCN from './i18n/zh-CN.js';

export const LANGUAGES = { en, 'zh-CN': zhCN };
const STORAGE_KEY = 'crony.lang';

/** zh, zh-CN, zh-Hans-… → zh-CN; anything else → en. */
export function pick(candidates) {
  for (const c of candidates || []) {
    const tag = String(c || '').toLowerCase();
    if (tag.startsWith('zh')) return 'zh-CN';
    if (tag.startsWith('en')) return 'en';
  }
  return 'en';
}

function stored() {
  // Storage can be disabled (private windows, policies): then the browser's choice holds.
  try { return localStorage.getItem(STORAGE_KEY); } catch { return null; }
}

let current = LANGUAGES[stored()] ? stored() : pick(navigator.languages || [navigator.language]);

export function lang() { return current; }

/** Switches language, remembers it in this browser and sets `<html lang>`. */
export function setLang(next) {
  if (!LANGUAGES[next]) return;
  current = next;
  try { localStorage.setItem(STORAGE_KEY, next); } catch { /* not remembered, still applied */ }
  document.documentElement.lang = next;
}

/**
 * The message `key` in the active language, with `{name}` placeholders filled from `params`.
 * A key missing from the active table falls back to English, then to the key itself, so a
 * slip shows up as a readable key rather than a blank.
 */
export function t(key, params) {
  const text = LANGUAGES[current][key] ?? en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Like `t`, but `undefined` when the key has no message (for keys made from server values). */
export function tMaybe(key) {
  return LANGUAGES[current][key] ?? en[key];
}

/** A server value shown through a message when there is one (`status.timed_out`), else as is. */
export function tValue(prefix, value) {
  return tMaybe(`${prefix}.${value}`) ?? String(value).replaceAll('_', ' ');
}

export function fmtNumber(n) {
  if (n === null || n === undefined || n === '') return '—';
  const num = Number(n);
  return Number.isFinite(num) ? new Intl.NumberFormat(current).format(num) : String(n);
}

export function fmtDate(d, options) {
  return new Intl.DateTimeFormat(current, options).format(d);
}

export function fmtRelativeUnit(value, unit) {
  return new Intl.RelativeTimeFormat(current, { numeric: 'auto' }).format(value, unit);
}

export function fmtUnit(value, unit, digits = 0) {
  return new Intl.NumberFormat(current, {
    style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: digits, minimumFractionDigits: digits,
  }).format(value);
}

/**
 * An API error in the active language: the message for its code, and the server's own words
 * (which say exactly what is wrong with a field) after it when they are not English already
 * shown. Unknown codes show the server's message.
 */
export function errorText(err) {
  const code = err && err.code;
  const message = (err && err.message) || '';
  const known = code ? tMaybe(`error.${code}`) : undefined;
  if (!known) return message || t('error.unknown');
  // English readers get the server's precise sentence; others the translated code plus it.
  if (current === 'en') return message || known;
  return message ? t('error.with_detail', { error: known, detail: message }) : known;
}

/** Puts the active language into every `data-i18n` element of the page shell. */
export function translateShell(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
}

document.documentElement.lang = current;
