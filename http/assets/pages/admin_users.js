// Users and roles (`/admin/users`, ADMIN): find accounts by a part of the
// email or name (GET /admin/users?q=), and change one's role (PUT
// /admin/users/{id}/role). The API keeps at least one ADMIN (409): the page
// says so in words.

import { api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { busy, errorBox, formatTime, notice, pagedList, requireAdmin, startPage } from '../js/layout.js';
import { getSession, saveSession } from '../js/session.js';

const PAGE_SIZE = 20;
const ROLES = [['USER', 'User (fan)'], ['STAFF', 'Staff (door check-in)'], ['ADMIN', 'Admin']];

const main = startPage('Users and roles');
const user = requireAdmin(main);

function roleWords(error) {
  return error && error.code === 'CONFLICT'
    ? h('div', { class: 'error', role: 'alert' }, h('p', {}, 'This is the last admin account, so it cannot lose its role. Make another account ADMIN first.'))
    : errorBox(error);
}

function userRow(account) {
  const select = h(
    'select',
    { id: `role-${account.userId}`, name: 'role', 'aria-label': `Role of ${account.email}` },
    ROLES.map(([value, text]) => h('option', { value, selected: value === account.role }, text)),
  );
  const problem = h('div');
  const roleCell = h('td', {}, account.role);
  const form = h(
    'form',
    {
      class: 'row role-form',
      onSubmit: (event) => {
        event.preventDefault();
        replace(problem);
        busy(form, async () => {
          try {
            const saved = await api(`/admin/users/${encodeURIComponent(account.userId)}/role`, { method: 'PUT', body: { role: select.value } });
            roleCell.textContent = saved.role;
            notice(`${saved.email} is now ${saved.role}.`);
            const session = getSession();
            if (session && session.user.userId === saved.userId) {
              // Your own role: the navigation follows (the API already does).
              saveSession({ ...session, user: { ...session.user, role: saved.role } });
            }
          } catch (error) {
            select.value = roleCell.textContent;
            replace(problem, roleWords(error));
          }
        });
      },
    },
    select,
    h('button', { type: 'submit', class: 'secondary' }, 'Change'),
  );
  return h(
    'tr',
    { 'data-user-id': account.userId },
    h('th', { scope: 'row' }, account.name),
    h('td', {}, account.email),
    roleCell,
    h('td', {}, formatTime(account.createdAt)),
    h('td', {}, form, problem),
  );
}

function search() {
  const input = h('input', { type: 'search', id: 'user-q', name: 'q', autocomplete: 'off', placeholder: 'Part of an email or a name' });
  const results = h('div', { 'aria-live': 'polite' });
  const load = () => pagedList(results, {
    fetchPage: (page) => api(`/admin/users${query({ q: input.value.trim(), page, pageSize: PAGE_SIZE })}`),
    draw: (items, answer) => [
      h('p', { class: 'muted' }, `${answer.total} account${answer.total === 1 ? '' : 's'}`),
      h(
        'div',
        { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Accounts' },
        h(
          'table',
          { class: 'admin-table users' },
          h('caption', { class: 'visually-hidden' }, 'Accounts'),
          h('thead', {}, h('tr', {}, ['Name', 'Email', 'Role', 'Registered', 'Change the role'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, items.map(userRow)),
        ),
      ),
    ],
    empty: 'No account matches.',
    label: 'Account pages',
  });
  const form = h(
    'form',
    { class: 'search', role: 'search', onSubmit: (event) => { event.preventDefault(); load(); } },
    h('label', { for: 'user-q' }, 'Find accounts'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Search')),
  );
  load();
  return [form, results];
}

if (user) main.append(...search());
