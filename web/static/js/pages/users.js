// Users and API tokens (admins only): create, change role, disable, delete; create a token
// (shown once) and revoke.

import { h, table, fmtTime, pageHeader, card, clear, toast, confirmDialog, errorBox, badge } from '../dom.js';
import { get, post, patch, del } from '../api.js';
import { can, user } from '../session.js';
import { t, errorText } from '../i18n.js';

// Labels are looked up when drawn: the language can change while the page is open.
const roles = () => [['viewer', t('role.viewer')], ['operator', t('role.operator')], ['admin', t('role.admin')]];

export async function usersPage(main) {
  main.append(pageHeader(t('nav.users')));
  if (!can('admin')) {
    main.append(h('div.alert.error', { role: 'alert' }, t('users.admins_only')));
    return;
  }
  const users = h('div', { id: 'users-results' });
  const tokens = h('div', { id: 'tokens-results' });
  main.append(card(t('users.users'), newUserForm(() => drawUsers()), users), card(t('users.tokens'), newTokenForm(() => drawTokens()), tokens));

  const drawUsers = async () => {
    try {
      const list = await get('/users');
      clear(users).append(table(t('users.users'), [t('users.user'), t('users.role'), t('agents.state'), t('users.created'), t('users.last_login'), ''], list.users.map((u) => {
        const self = user() && user().name === u.username;
        const role = h('select', { 'aria-label': t('users.role_of', { user: u.username }), disabled: self },
          roles().map(([v, t]) => h('option', { value: v, selected: v === u.role }, t)));
        role.addEventListener('change', () => change(u, { role: role.value }, t('users.role_changed', { user: u.username, role: t(`role.${role.value}`) })));
        return [
          h('strong', {}, u.username), role, badge(u.disabled ? 'paused' : 'enabled', u.disabled ? t('users.disabled') : t('users.active')),
          fmtTime(u.created_at), fmtTime(u.last_login_at),
          self ? h('span.muted', {}, t('users.you')) : h('span.actions', {},
            h('button.button.small', { type: 'button', onclick: () => change(u, { disabled: !u.disabled }, u.disabled ? t('users.enabled_toast') : t('users.disabled_toast')) }, u.disabled ? t('users.enable') : t('users.disable')),
            h('button.button.small.danger', {
              type: 'button',
              onclick: async () => {
                if (!await confirmDialog(t('users.delete_title'), t('users.delete_text', { user: u.username }), t('common.delete'))) return;
                try { await del(`/users/${u.id}`); toast(t('users.deleted_toast')); drawUsers(); } catch (e) { toast(errorText(e), 'bad'); }
              },
            }, t('common.delete'))),
        ];
      }), t('users.none')));
    } catch (e) { clear(users).append(errorBox(e)); }
  };
  const change = async (u, body, done) => {
    try { await patch(`/users/${u.id}`, body); toast(done); } catch (e) { toast(errorText(e), 'bad'); }
    drawUsers();
  };
  const drawTokens = async () => {
    try {
      const list = await get('/tokens');
      clear(tokens).append(table(t('users.tokens'), [t('col.name'), t('users.role'), t('users.prefix'), t('users.created_by'), t('users.expires'), t('users.last_used'), ''], list.tokens.map((tok) => [
        h('strong', {}, tok.name), t(`role.${tok.role}`), h('code', {}, `${tok.prefix}…`), tok.created_by || '—', fmtTime(tok.expires_at), fmtTime(tok.last_used_at),
        tok.revoked_at ? badge('paused', t('users.revoked')) : h('button.button.small.danger', {
          type: 'button',
          onclick: async () => {
            if (!await confirmDialog(t('users.revoke_title'), t('users.revoke_text', { name: tok.name }), t('users.revoke'))) return;
            try { await del(`/tokens/${tok.id}`); toast(t('users.revoked_toast')); drawTokens(); } catch (e) { toast(errorText(e), 'bad'); }
          },
        }, t('users.revoke')),
      ]), t('users.no_tokens')));
    } catch (e) { clear(tokens).append(errorBox(e)); }
  };
  await Promise.all([drawUsers(), drawTokens()]);
}

function fieldError(form, err) {
  const box = form.querySelector('.field-error');
  box.textContent = err.field ? `${err.field}: ${errorText(err)}` : errorText(err);
  box.hidden = false;
}

function newUserForm(done) {
  const name = h('input', { name: 'username', 'aria-label': t('users.new_name'), placeholder: t('users.username_placeholder'), autocomplete: 'off', required: true });
  const password = h('input', { name: 'password', type: 'password', 'aria-label': t('login.password'), placeholder: t('users.password_placeholder'), autocomplete: 'new-password', required: true });
  const role = h('select', { 'aria-label': t('users.role') }, roles().map(([v, t]) => h('option', { value: v }, t)));
  const form = h('form.inline-form', {
    'aria-label': t('users.add_user_form'),
    onsubmit: async (e) => {
      e.preventDefault();
      form.querySelector('.field-error').hidden = true;
      try {
        await post('/users', { username: name.value.trim(), password: password.value, role: role.value });
        toast(t('users.added_toast', { user: name.value.trim() }));
        form.reset();
        done();
      } catch (err) { fieldError(form, err); }
    },
  }, name, password, role, h('button.button.primary.small', { type: 'submit' }, t('users.add_user')), h('div.field-error', { role: 'alert', hidden: true }));
  return form;
}

function newTokenForm(done) {
  const name = h('input', { name: 'name', 'aria-label': t('users.token_name'), placeholder: t('users.token_name_placeholder'), autocomplete: 'off', required: true });
  const role = h('select', { 'aria-label': t('users.token_role') }, roles().map(([v, t]) => h('option', { value: v }, t)));
  const shown = h('div.token-once', { hidden: true, role: 'status' });
  const form = h('form.inline-form', {
    id: 'new-token',
    'aria-label': t('users.create_token_form'),
    onsubmit: async (e) => {
      e.preventDefault();
      form.querySelector('.field-error').hidden = true;
      try {
        const created = await post('/tokens', { name: name.value.trim(), role: role.value });
        clear(shown).append(h('p', {}, t('users.token_once')), h('code.secret', {}, created.token));
        shown.hidden = false;
        form.reset();
        done();
      } catch (err) { fieldError(form, err); }
    },
  }, name, role, h('button.button.primary.small', { type: 'submit' }, t('users.create_token')), h('div.field-error', { role: 'alert', hidden: true }), shown);
  return form;
}
