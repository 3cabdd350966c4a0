// Who is logged in and what their role allows. Every role check of the dashboard goes through
// `can()`, so the pages hide what the server would refuse anyway (the server is the guard;
// this only keeps people from pressing buttons that cannot work).

import { api, get, post, setCsrfToken } from './api.js';

const RANK = { viewer: 0, operator: 1, admin: 2 };
let current = null;

/** Asks the server who we are; null when nobody is logged in. */
export async function load() {
  try {
    const me = await get('/auth/me', { quiet401: true });
    current = { name: me.name, role: me.role, kind: me.kind };
    setCsrfToken(me.csrf_token);
  } catch {
    // Not signed in (401), or the scheduler is unreachable: the login page says which.
    current = null;
  }
  return current;
}

export async function login(username, password) {
  // A 401 here means wrong credentials, not an expired session: the form shows it.
  const answer = await api('POST', '/auth/login', { username, password }, { quiet401: true });
  setCsrfToken(answer.csrf_token);
  current = { name: answer.user.username, role: answer.user.role, kind: 'session' };
  return current;
}

export async function logout() {
  try { await post('/auth/logout'); } finally {
    current = null;
    setCsrfToken(null);
  }
}

export function user() { return current; }

/**
 * What the role allows: `operate` (jobs and executions), `shell` (shell jobs), `admin`
 * (agents' weight and drain, users, tokens), `audit` (read the audit log).
 */
export function can(action) {
  if (!current) return false;
  const rank = RANK[current.role] ?? -1;
  switch (action) {
    case 'operate': case 'audit': return rank >= RANK.operator;
    case 'shell': case 'admin': return rank >= RANK.admin;
    default: return false;
  }
}
