// The login form. Wrong credentials and throttling are shown inline, in the server's words.

import { h } from '../dom.js';
import * as session from '../session.js';

export function loginPage(main, done) {
  const error = h('div.alert.error', { role: 'alert', hidden: true, id: 'login-error' });
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button.button.primary.wide', { type: 'submit', id: 'login-submit' }, 'Log in');
  const form = h('form.login-card', {
    'aria-label': 'Log in',
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      try {
        await session.login(username.value.trim(), password.value);
        await done();
      } catch (err) {
        error.textContent = err.code === 'too_many_requests'
          ? `Too many attempts: ${err.message}`
          : err.status === 401 ? 'Wrong username or password.' : err.message;
        error.hidden = false;
        password.select();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div.login-brand', {}, h('span.brand-mark', { 'aria-hidden': 'true' }, '◷'), ' Crony'),
  h('h1', {}, 'Log in'),
  error,
  h('label', { for: 'username' }, 'Username'), username,
  h('label', { for: 'password' }, 'Password'), password,
  submit);
  main.append(h('div.login-wrap', {}, form));
}
