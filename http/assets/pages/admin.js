// The admin start page (`/admin`, ADMIN): links to the admin pages, and
// the dates of the soonest concerts (one list page of them, drafts included)
// with their sales at a glance (GET /admin/schedules/{id}/sales), each
// linking to the date's own page.

import { api, MAX_PAGE_SIZE, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { errorBox, formatMoney, formatTime, requireAdmin, startPage } from '../js/layout.js';

/** Requests in flight at once: the page asks once per concert and once per date. */
const PARALLEL_REQUESTS = 6;

const main = startPage('Admin');
const user = requireAdmin(main);

const LINKS = [
  ['/admin/venues', 'Venues', 'sections, rows and seats'],
  ['/admin/concerts', 'Concerts and dates', 'create, publish, edit'],
  ['/admin/users', 'Users and roles', 'find an account, change its role'],
  ['/admin/webhooks', 'Webhooks', 'booking events sent to other systems'],
  ['/door', 'Door check-in', 'check tickets in'],
];

/** Runs `work(item)` for every item, at most `limit` at a time, in order. */
async function eachLimited(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function salesRow(concert, schedule, sales) {
  const href = `/admin/schedules/${encodeURIComponent(schedule.scheduleId)}?concert=${encodeURIComponent(concert.concertId)}`;
  return h(
    'tr',
    {},
    h('th', { scope: 'row' }, h('a', { href }, concert.title), concert.status === 'DRAFT' ? [' ', h('span', { class: 'badge draft' }, 'Draft')] : null),
    h('td', { 'data-label': 'Date' }, formatTime(schedule.startsAt)),
    h('td', { 'data-label': 'Status' }, schedule.status.replace('_', ' ').toLowerCase()),
    sales instanceof Error
      ? h('td', { colspan: 3 }, errorBox(sales))
      : [
          h('td', { class: 'number', 'data-label': 'Sold' }, `${sales.sold.toLocaleString('en')} / ${sales.capacity.toLocaleString('en')}`),
          h('td', { class: 'number', 'data-label': 'Held' }, sales.held.toLocaleString('en')),
          h('td', { class: 'number', 'data-label': 'Revenue' }, formatMoney(sales.revenue)),
        ],
  );
}

async function drawDates(where) {
  const status = h('p', { class: 'muted', role: 'status' }, 'Loading the dates…');
  replace(where, status);
  let concerts;
  let total;
  try {
    const answer = await api(`/concerts${query({ sort: 'startsAt', order: 'asc', pageSize: MAX_PAGE_SIZE })}`);
    concerts = answer.items;
    total = answer.total;
  } catch (error) {
    replace(where, errorBox(error));
    return;
  }
  const details = await eachLimited(concerts, PARALLEL_REQUESTS, (c) =>
    api(`/concerts/${encodeURIComponent(c.concertId)}`).catch((error) => error));
  const dates = [];
  concerts.forEach((concert, i) => {
    if (details[i] instanceof Error) return;
    for (const schedule of details[i].schedules) dates.push({ concert: details[i], schedule });
  });
  dates.sort((a, b) => a.schedule.startsAt.localeCompare(b.schedule.startsAt));
  const sales = await eachLimited(dates, PARALLEL_REQUESTS, (d) =>
    api(`/admin/schedules/${encodeURIComponent(d.schedule.scheduleId)}/sales`).catch((error) => error));
  if (dates.length === 0) {
    replace(where, h('p', {}, 'No dates yet. ', h('a', { href: '/admin/concerts' }, 'Create a concert'), '.'));
    return;
  }
  replace(
    where,
    total > concerts.length
      ? h('p', { class: 'muted' }, `The dates of the ${concerts.length} soonest of ${total} concerts. `,
        h('a', { href: '/admin/concerts' }, 'All concerts'), '.')
      : null,
    h(
      'div',
      { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Dates and sales' },
      h(
        'table',
        { class: 'admin-table stack' },
        h('caption', { class: 'visually-hidden' }, 'Every date with its sales'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'Concert'),
            h('th', { scope: 'col' }, 'Date'),
            h('th', { scope: 'col' }, 'Status'),
            h('th', { scope: 'col', class: 'number' }, 'Sold'),
            h('th', { scope: 'col', class: 'number' }, 'Held'),
            h('th', { scope: 'col', class: 'number' }, 'Revenue'),
          ),
        ),
        h('tbody', {}, dates.map((d, i) => salesRow(d.concert, d.schedule, sales[i]))),
      ),
    ),
  );
}

if (user) {
  const dates = h('div');
  main.append(
    h(
      'ul',
      { class: 'cards admin-links' },
      LINKS.map(([href, title, what]) =>
        h('li', { class: 'card' }, h('h2', {}, h('a', { href }, title)), h('p', { class: 'muted' }, what))),
    ),
    h('h2', {}, 'Dates and sales'),
    dates,
  );
  drawDates(dates);
}
