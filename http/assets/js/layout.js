// What every page shares: the navigation (links by the signed-in user's
// role), the page's main area, messages (errors in words, notices read out
// by screen readers), and how money and times are written.

import { h, replace } from './dom.js';
import { currentUser, requireSignIn } from './session.js';
import { explain } from './words.js';

/** The deployment's currency (API.md: integers in its smallest unit, default KRW). */
const money = new Intl.NumberFormat('en', { style: 'currency', currency: 'KRW' });
const dateTime = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short' });

export function formatMoney(amount) {
  return money.format(amount);
}

export function formatTime(rfc3339) {
  const date = new Date(rfc3339);
  return Number.isNaN(date.getTime()) ? '' : dateTime.format(date);
}

function navLink(href, text) {
  const current = location.pathname === href || (href !== '/' && location.pathname.startsWith(`${href}/`));
  return h('a', { href, 'aria-current': current ? 'page' : false }, text);
}

function renderNav() {
  const nav = document.getElementById('nav');
  if (!nav) return;
  const user = currentUser();
  const links = [h('a', { class: 'brand', href: '/' }, 'Boxoffice'), navLink('/', 'Concerts')];
  if (user) {
    links.push(navLink('/tickets', 'My tickets'));
    if (user.role === 'STAFF' || user.role === 'ADMIN') links.push(navLink('/door', 'Door'));
    if (user.role === 'ADMIN') links.push(navLink('/admin', 'Admin'));
    links.push(navLink('/account', user.name || 'Account'));
  } else {
    links.push(navLink('/account', 'Log in'));
  }
  replace(nav, links);
}

/**
 * Starts a page: draws the navigation, sets the heading and the document
 * title, and returns the emptied main area to draw into.
 */
export function startPage(title) {
  renderNav();
  const main = document.getElementById('main');
  setTitle(title);
  replace(main, h('h1', { id: 'page-title' }, title));
  return main;
}

/** Changes the heading and the tab's title once the page knows its subject. */
export function setTitle(title) {
  document.title = `${title} · Boxoffice`;
  const heading = document.getElementById('page-title');
  if (heading) heading.textContent = title;
}

/** An error box (role=alert) with the error in words; optional extra nodes (a link back). */
export function errorBox(error, ...extra) {
  return h('div', { class: 'error', role: 'alert' }, h('p', {}, explain(error)), extra);
}

/** Puts an error box in `where` (replacing what was there). */
export function showError(where, error, ...extra) {
  replace(where, errorBox(error, ...extra));
}

/** A short message read out politely (the shell's #notice region). */
export function notice(text) {
  const region = document.getElementById('notice');
  if (!region) return;
  replace(region, h('p', {}, text));
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => replace(region), 6000);
}

/** A labelled form field: `<label>` + `<input>` joined by id. */
export function field(label, props) {
  const id = props.id || `f-${props.name}`;
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('input', { ...props, id }));
}

/** Disables a form's controls while `work` runs (no double submits), re-enables after. */
export async function busy(form, work) {
  const controls = [...form.querySelectorAll('button, input, select, textarea')];
  const before = controls.map((c) => c.disabled);
  controls.forEach((c) => { c.disabled = true; });
  form.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    controls.forEach((c, i) => { c.disabled = before[i]; });
    form.removeAttribute('aria-busy');
  }
}

/**
 * For a page of STAFF or ADMIN work: `requireSignIn()`, then, for an account
 * without one of `roles`, a plain message in `main` and null (the page then
 * calls nothing the API would refuse). The API still checks every call.
 */
export function requireRole(main, roles, message) {
  const user = requireSignIn();
  if (!user) return null;
  if (!roles.includes(user.role)) {
    main.append(h('p', { class: 'role-note' }, message));
    return null;
  }
  return user;
}

/** "Page 2 of 5" with Previous / Next buttons for a list answer; `go(page)` loads another. */
export function pager(answer, go, label = 'Pages') {
  const pages = Math.max(1, Math.ceil(answer.total / answer.pageSize));
  if (pages <= 1) return null;
  return h(
    'nav',
    { class: 'pager', 'aria-label': label },
    h('button', { type: 'button', class: 'secondary', disabled: answer.page <= 1, onClick: () => go(answer.page - 1) }, 'Previous'),
    h('span', {}, `Page ${answer.page} of ${pages}`),
    h('button', { type: 'button', class: 'secondary', disabled: answer.page >= pages, onClick: () => go(answer.page + 1) }, 'Next'),
  );
}

/**
 * A form's submit listener: no page reload, the last refusal cleared, the
 * controls disabled while `work(data, form)` runs (`data`: the form's
 * FormData, read before the controls are disabled, which drops them from
 * it), and a refusal (an ApiError) shown in `errors` in words, next to the form.
 */
export function submitting(errors, work) {
  return (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    replace(errors);
    return busy(form, async () => {
      try {
        await work(data, form);
      } catch (error) {
        replace(errors, errorBox(error));
      }
    });
  };
}

/**
 * Draws page `page` of a list into `where`: `fetchPage(page)` answers a list
 * (`{items, page, pageSize, total}`), `draw(items, answer)` turns a non-empty
 * page into nodes, `empty` is said when there is nothing; a pager follows.
 * Resolves to the answer (undefined after an error, which is shown in words).
 */
export async function pagedList(where, { fetchPage, draw, empty, label }, page = 1) {
  try {
    const answer = await fetchPage(page);
    replace(
      where,
      answer.items.length ? draw(answer.items, answer) : h('p', {}, empty),
      pager(answer, (next) => pagedList(where, { fetchPage, draw, empty, label }, next), label),
    );
    return answer;
  } catch (error) {
    replace(where, errorBox(error));
    return undefined;
  }
}

/** `requireRole` for the admin pages. */
export function requireAdmin(main) {
  return requireRole(main, ['ADMIN'], 'These pages are for box office admins. Your account cannot use them.');
}

let lastId = 0;
/** A new element id (`<name>-<n>`), for labelling fields an editor repeats. */
export function uniqueId(name) {
  lastId += 1;
  return `${name}-${lastId}`;
}
