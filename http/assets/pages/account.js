// The account page (`/account`): log in or register; once signed in, who
// you are and log out. `?next=/path` (a path on this site only) is where a
// page that needed a sign-in sent the user from; they go back there after.

import { api } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { busy, errorBox, field, notice, startPage } from '../js/layout.js';
import { clearSession, currentUser, getSession, saveSession } from '../js/session.js';

const main = startPage('Account');

/** Where to go after signing in: only a path on this site (never `//host`). */
function nextPath() {
  const next = new URLSearchParams(location.search).get('next') || '';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

function signedIn(user) {
  replace(
    main,
    h('h1', { id: 'page-title' }, 'Account'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Name'), h('dd', {}, user.name),
      h('dt', {}, 'Email'), h('dd', {}, user.email),
      h('dt', {}, 'Role'), h('dd', {}, user.role),
    ),
    h('p', {}, h('a', { href: '/tickets' }, 'My tickets'), ' · ', h('a', { href: '/wallet' }, 'My wallet')),
    h('button', { type: 'button', id: 'logout', onClick: logout }, 'Log out'),
  );
}

async function logout() {
  const session = getSession();
  try {
    if (session) await api('/auth/logout', { method: 'POST', body: { refreshToken: session.refreshToken } });
  } catch {
    // Signed out here either way: an already revoked token changes nothing.
  }
  clearSession();
  location.assign('/');
}

async function logIn(email, password) {
  const tokens = await api('/auth/login', { method: 'POST', body: { email, password }, auth: false });
  saveSession(tokens);
  location.assign(nextPath());
}

function loginForm() {
  const errors = h('div');
  const form = h(
    'form',
    {
      id: 'login',
      'aria-labelledby': 'login-title',
      onSubmit: (event) => {
        event.preventDefault();
        const data = new FormData(form);
        busy(form, () => logIn(data.get('email'), data.get('password')).catch((error) => replace(errors, errorBox(error))));
      },
    },
    h('h2', { id: 'login-title' }, 'Log in'),
    field('Email', { name: 'email', id: 'login-email', type: 'email', required: true, autocomplete: 'username' }),
    field('Password', { name: 'password', id: 'login-password', type: 'password', required: true, autocomplete: 'current-password' }),
    errors,
    h('button', { type: 'submit' }, 'Log in'),
  );
  return form;
}

function registerForm() {
  const errors = h('div');
  const form = h(
    'form',
    {
      id: 'register',
      'aria-labelledby': 'register-title',
      onSubmit: (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const body = { name: data.get('name'), email: data.get('email'), password: data.get('password') };
        if (data.get('phoneNumber')) body.phoneNumber = data.get('phoneNumber');
        busy(form, async () => {
          try {
            await api('/auth/register', { method: 'POST', body, auth: false });
            notice('Account created. Logging you in…');
            await logIn(body.email, body.password);
          } catch (error) {
            replace(errors, errorBox(error));
          }
        });
      },
    },
    h('h2', { id: 'register-title' }, 'New here? Register'),
    field('Name', { name: 'name', id: 'register-name', required: true, autocomplete: 'name' }),
    field('Email', { name: 'email', id: 'register-email', type: 'email', required: true, autocomplete: 'email' }),
    field('Password', { name: 'password', id: 'register-password', type: 'password', required: true, autocomplete: 'new-password' }),
    field('Phone number (optional)', { name: 'phoneNumber', id: 'register-phone', type: 'tel', autocomplete: 'tel' }),
    errors,
    h('button', { type: 'submit' }, 'Register'),
  );
  return form;
}

const user = currentUser();
if (user) {
  signedIn(user);
} else {
  main.append(h('div', { class: 'columns' }, loginForm(), registerForm()));
}
