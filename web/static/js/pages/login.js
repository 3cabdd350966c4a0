// The login form. Wrong credentials and throttling are shown inline.

import { h } from '../dom.js';
import * as session from '../session.js';
import { t, errorText } from '../i18n.js';

export function loginPage(main, done) {
  const error = h('div.alert.error', { role: 'alert', hidden: true, id: 'login-error' });
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button.button.primary.wide', { type: 'submit', id: 'login-submit' }, t('login.submit'));
  const form = h('form.login-card', {
    'aria-label': t('login.title'),
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      try {
        await session.login(username.value.trim(), password.value);
        await done();
      } catch (err) {
        error.textContent = err.code === 'too_many_requests'
          ? t('login.too_many', { detail: err.message })
          : err.status === 401 ? t('login.wrong') : errorText(err);
        error.hidden = false;
        password.select();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div.login-brand', {}, h('span.brand-mark', { 'aria-hidden': 'true' }, '◷'), ' Crony'),
  h('h1', {}, t('login.title')),
  error,
  h('label', { for: 'username' }, t('login.username')), username,
  h('label', { for: 'password' }, t('login.password')), password,
  submit);
  main.append(h('div.login-wrap', {}, form));
}
