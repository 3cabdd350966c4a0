// Users and API tokens (admins only): create, change role, disable, delete; create a token
// (shown once) and revoke.

import { h, table, fmtTime, pageHeader, card, clear, toast, confirmDialog, errorBox, badge } from '../dom.js';
import { get, post, patch, del } from '../api.js';
import { can, user } from '../session.js';

const ROLES = [['viewer', 'Viewer'], ['operator', 'Operator'], ['admin', 'Admin']];

export async function usersPage(main) {
  main.append(pageHeader('Users & tokens'));
  if (!can('admin')) {
    main.append(h('div.alert.error', { role: 'alert' }, 'Only admins manage users and tokens.'));
    return;
  }
  const users = h('div', { id: 'users-results' });
  const tokens = h('div', { id: 'tokens-results' });
  main.append(card('Users', newUserForm(() => drawUsers()), users), card('API tokens', newTokenForm(() => drawTokens()), tokens));

  const drawUsers = async () => {
    try {
      const list = await get('/users');
      clear(users).append(table('Users', ['User', 'Role', 'State', 'Created', 'Last login', ''], list.users.map((u) => {
        const self = user() && user().name === u.username;
        const role = h('select', { 'aria-label': `Role of ${u.username}`, disabled: self },
          ROLES.map(([v, t]) => h('option', { value: v, selected: v === u.role }, t)));
        role.addEventListener('change', () => change(u, { role: role.value }, `${u.username} is now ${role.value}`));
        return [
          h('strong', {}, u.username), role, badge(u.disabled ? 'paused' : 'enabled', u.disabled ? 'disabled' : 'active'),
          fmtTime(u.created_at), fmtTime(u.last_login_at),
          self ? h('span.muted', {}, 'you') : h('span.actions', {},
            h('button.button.small', { type: 'button', onclick: () => change(u, { disabled: !u.disabled }, u.disabled ? 'Enabled' : 'Disabled') }, u.disabled ? 'Enable' : 'Disable'),
            h('button.button.small.danger', {
              type: 'button',
              onclick: async () => {
                if (!await confirmDialog('Delete user?', `${u.username} can no longer log in.`, 'Delete')) return;
                try { await del(`/users/${u.id}`); toast('User deleted'); drawUsers(); } catch (e) { toast(e.message, 'bad'); }
              },
            }, 'Delete')),
        ];
      }), 'No users yet.'));
    } catch (e) { clear(users).append(errorBox(e)); }
  };
  const change = async (u, body, done) => {
    try { await patch(`/users/${u.id}`, body); toast(done); } catch (e) { toast(e.message, 'bad'); }
    drawUsers();
  };
  const drawTokens = async () => {
    try {
      const list = await get('/tokens');
      clear(tokens).append(table('API tokens', ['Name', 'Role', 'Prefix', 'Created by', 'Expires', 'Last used', ''], list.tokens.map((t) => [
        h('strong', {}, t.name), t.role, h('code', {}, `${t.prefix}…`), t.created_by || '—', fmtTime(t.expires_at), fmtTime(t.last_used_at),
        t.revoked_at ? badge('paused', 'revoked') : h('button.button.small.danger', {
          type: 'button',
          onclick: async () => {
            if (!await confirmDialog('Revoke token?', `Clients using “${t.name}” are refused from now on.`, 'Revoke')) return;
            try { await del(`/tokens/${t.id}`); toast('Token revoked'); drawTokens(); } catch (e) { toast(e.message, 'bad'); }
          },
        }, 'Revoke'),
      ]), 'No API tokens yet — create one for scripts and the SDK.'));
    } catch (e) { clear(tokens).append(errorBox(e)); }
  };
  await Promise.all([drawUsers(), drawTokens()]);
}

function fieldError(form, err) {
  const box = form.querySelector('.field-error');
  box.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
  box.hidden = false;
}

function newUserForm(done) {
  const name = h('input', { name: 'username', 'aria-label': 'New user name', placeholder: 'username', autocomplete: 'off', required: true });
  const password = h('input', { name: 'password', type: 'password', 'aria-label': 'Password', placeholder: 'password', autocomplete: 'new-password', required: true });
  const role = h('select', { 'aria-label': 'Role' }, ROLES.map(([v, t]) => h('option', { value: v }, t)));
  const form = h('form.inline-form', {
    'aria-label': 'Add a user',
    onsubmit: async (e) => {
      e.preventDefault();
      form.querySelector('.field-error').hidden = true;
      try {
        await post('/users', { username: name.value.trim(), password: password.value, role: role.value });
        toast(`User ${name.value.trim()} added`);
        form.reset();
        done();
      } catch (err) { fieldError(form, err); }
    },
  }, name, password, role, h('button.button.primary.small', { type: 'submit' }, 'Add user'), h('div.field-error', { role: 'alert', hidden: true }));
  return form;
}

function newTokenForm(done) {
  const name = h('input', { name: 'name', 'aria-label': 'Token name', placeholder: 'token name', autocomplete: 'off', required: true });
  const role = h('select', { 'aria-label': 'Token role' }, ROLES.map(([v, t]) => h('option', { value: v }, t)));
  const shown = h('div.token-once', { hidden: true, role: 'status' });
  const form = h('form.inline-form', {
    'aria-label': 'Create an API token',
    onsubmit: async (e) => {
      e.preventDefault();
      form.querySelector('.field-error').hidden = true;
      try {
        const created = await post('/tokens', { name: name.value.trim(), role: role.value });
        clear(shown).append(h('p', {}, 'Copy this token now — it is not shown again:'), h('code.secret', {}, created.token));
        shown.hidden = false;
        form.reset();
        done();
      } catch (err) { fieldError(form, err); }
    },
  }, name, role, h('button.button.primary.small', { type: 'submit' }, 'Create token'), h('div.field-error', { role: 'alert', hidden: true }), shown);
  return form;
}
