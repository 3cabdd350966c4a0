// The shell of the dashboard: hash routes (`#/jobs/<id>`), the layout around each page, and
// the login gate. A page is a function that fills `main` and may return a cleanup (to stop
// its polling when you navigate away). Switching language redraws the shell and the page.

import { h, clear, errorBox } from './dom.js';
import { setUnauthenticatedHandler } from './api.js';
import { t, lang, setLang, translateShell } from './i18n.js';
import * as session from './session.js';
import { overview } from './pages/overview.js';
import { jobsList } from './pages/jobs.js';
import { jobPage } from './pages/job.js';
import { jobForm } from './pages/jobform.js';
import { executionsList } from './pages/executions.js';
import { executionPage } from './pages/execution.js';
import { agentsPage } from './pages/agents.js';
import { alertsPage } from './pages/alerts.js';
import { usersPage } from './pages/users.js';
import { auditPage } from './pages/audit.js';
import { loginPage } from './pages/login.js';

const ROUTES = [
  [/^\/$/, 'overview', overview],
  [/^\/jobs$/, 'jobs', jobsList],
  [/^\/jobs\/new$/, 'jobs', (main) => jobForm(main, null)],
  [/^\/jobs\/([^/]+)\/edit$/, 'jobs', (main, id) => jobForm(main, id)],
  [/^\/jobs\/([^/]+)$/, 'jobs', jobPage],
  [/^\/executions$/, 'executions', executionsList],
  [/^\/executions\/([^/]+)$/, 'executions', executionPage],
  [/^\/agents$/, 'agents', agentsPage],
  [/^\/alerts$/, 'alerts', alertsPage],
  [/^\/users$/, 'users', usersPage],
  [/^\/audit$/, 'audit', auditPage],
];


let cleanup = null;

function path() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [p] = raw.split('?');
  return p;
}

async function render() {
  if (cleanup) { try { cleanup(); } catch { /* a page's cleanup must not block the next */ } cleanup = null; }
  const main = document.getElementById('main');
  const me = session.user();
  closeMenu();
  if (!me) {
    document.body.classList.add('logged-out');
    clear(main);
    loginPage(main, async () => { await start(); });
    return;
  }
  document.body.classList.remove('logged-out');
  const p = path();
  const route = ROUTES.find(([re]) => re.test(p));
  for (const a of document.querySelectorAll('[data-nav]')) {
    const active = route && a.dataset.nav === route[1];
    a.classList.toggle('active', Boolean(active));
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  clear(main);
  if (!route) {
    main.append(h('h1', {}, t('shell.not_found')), h('p', {}, t('shell.no_such_page'), ' ', h('a', { href: '#/' }, t('shell.go_overview'))));
    return;
  }
  const [re, name, page] = route;
  document.title = `${t(`nav.${name}`)} · Crony`;
  const args = p.match(re).slice(1).map(decodeURIComponent);
  try {
    const result = await page(main, ...args);
    if (typeof result === 'function') cleanup = result;
  } catch (e) {
    main.append(errorBox(e));
  }
  main.focus({ preventScroll: true });
}

function showUser() {
  const me = session.user();
  const box = document.getElementById('user-box');
  box.hidden = !me;
  if (!me) return;
  document.getElementById('user-name').textContent = me.name;
  document.getElementById('user-role').textContent = t(`role.${me.role}`);
  document.getElementById('user-role').dataset.role = me.role;
  for (const item of document.querySelectorAll('[data-needs]')) {
    item.hidden = !session.can(item.dataset.needs);
  }
}

function closeMenu() {
  document.body.classList.remove('menu-open');
  document.getElementById('menu-toggle').setAttribute('aria-expanded', 'false');
}

function showLanguage() {
  translateShell();
  document.getElementById('lang-switch').value = lang();
}

async function start() {
  await session.load();
  showUser();
  await render();
}

setUnauthenticatedHandler(async () => {
  await session.load();
  showUser();
  if (!session.user()) render();
});

document.getElementById('logout').addEventListener('click', async () => {
  await session.logout();
  showUser();
  location.hash = '#/';
  render();
});
document.getElementById('menu-toggle').addEventListener('click', () => {
  const open = document.body.classList.toggle('menu-open');
  document.getElementById('menu-toggle').setAttribute('aria-expanded', String(open));
});
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeMenu(); });
document.getElementById('lang-switch').addEventListener('change', (e) => {
  setLang(e.target.value);
  showLanguage();
  showUser();
  render();
});
window.addEventListener('hashchange', render);
showLanguage();
start();
