// One date (`/admin/schedules/{scheduleId}`, ADMIN): its sales (GET
// /admin/schedules/{id}/sales, by grade too), every user's reservations of
// it (paged, by status), and "Cancel this date" behind a confirmation that
// says what cancelling does. `?concert=<concertId>` (the admin pages' links
// carry it) names the concert, for the heading and the date's status; there
// is no GET for a schedule alone.

import { api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import {
  errorBox, formatMoney, formatTime, pagedList, requireAdmin, setTitle, startPage, submitting,
} from '../js/layout.js';

const PAGE_SIZE = 20;
const STATUSES = [['', 'All'], ['HELD', 'Held'], ['CONFIRMED', 'Paid'], ['EXPIRED', 'Expired'], ['CANCELLED', 'Cancelled']];

const main = startPage('Date');
const user = requireAdmin(main);
const scheduleId = decodeURIComponent(location.pathname.split('/')[3] || '');
const concertId = new URLSearchParams(location.search).get('concert') || '';
const path = encodeURIComponent(scheduleId);

function stat(label, value) {
  return h('div', {}, h('dt', {}, label), h('dd', {}, value));
}

async function drawSales(where) {
  try {
    const sales = await api(`/admin/schedules/${path}/sales`);
    const n = (count) => count.toLocaleString('en');
    replace(
      where,
      h(
        'dl',
        { class: 'stats' },
        stat('Capacity', n(sales.capacity)),
        stat('Sold', n(sales.sold)),
        stat('Held', n(sales.held)),
        stat('Available', n(sales.available)),
        stat('Revenue (net)', formatMoney(sales.revenue)),
        stat('Refunded', formatMoney(sales.refunded)),
        sales.comps != null ? stat('Free (comps)', n(sales.comps)) : null,
        sales.blocked != null ? stat('Blocked', n(sales.blocked)) : null,
      ),
      h(
        'table',
        { class: 'admin-table by-grade' },
        h('caption', {}, 'By grade'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Grade'), h('th', { scope: 'col', class: 'number' }, 'Seats sold'), h('th', { scope: 'col', class: 'number' }, 'Revenue'))),
        h('tbody', {}, sales.byGrade.map((g) => h(
          'tr',
          {},
          h('th', { scope: 'row' }, g.grade),
          h('td', { class: 'number' }, n(g.sold)),
          h('td', { class: 'number' }, formatMoney(g.revenue)),
        ))),
      ),
    );
    return true;
  } catch (error) {
    replace(where, errorBox(error, h('p', {}, h('a', { href: '/admin' }, 'Back to the admin start page'))));
    return false;
  }
}

function reservationRow(r) {
  const when = r.paidAt || r.cancelledAt || r.expiredAt || r.heldAt;
  return h(
    'tr',
    {},
    h('th', { scope: 'row', class: 'nowrap' }, r.reservationNumber),
    h('td', { 'data-label': 'Email' }, r.email || r.userId),
    h('td', { 'data-label': 'Seats' }, r.seats.map((s) => s.seatId).join(', ')),
    h('td', { class: 'number', 'data-label': 'Total' }, formatMoney(r.totalAmount)),
    h('td', { 'data-label': 'Status' }, r.status.toLowerCase(), r.refundAmount ? ` (refunded ${formatMoney(r.refundAmount)})` : ''),
    h('td', { 'data-label': 'Last change' }, formatTime(when)),
  );
}

function reservations(where) {
  const select = h('select', { id: 'reservation-status', name: 'status' }, STATUSES.map(([value, text]) => h('option', { value }, text)));
  const list = h('div', { 'aria-live': 'polite' });
  const load = () => pagedList(list, {
    fetchPage: (page) => api(`/admin/schedules/${path}/reservations${query({ status: select.value, page, pageSize: PAGE_SIZE })}`),
    draw: (items, answer) => [
      h(
        'div',
        { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Reservations' },
        h(
          'table',
          { class: 'admin-table stack' },
          h('caption', { class: 'visually-hidden' }, `Reservations, ${answer.total} in all`),
          h('thead', {}, h('tr', {}, ['Number', 'Email', 'Seats', 'Total', 'Status', 'Last change'].map((t) =>
            h('th', { scope: 'col', class: t === 'Total' ? 'number' : null }, t)))),
          h('tbody', {}, items.map(reservationRow)),
        ),
      ),
      h('p', { class: 'muted' }, `${answer.total} reservation${answer.total === 1 ? '' : 's'}`),
    ],
    empty: 'No reservations.',
    label: 'Reservation pages',
  });
  select.addEventListener('change', load);
  replace(where, h('div', { class: 'field filter' }, h('label', { for: 'reservation-status' }, 'Reservations with the status'), select), list);
  load();
  return load;
}

function cancelArea(where, refresh) {
  const result = h('div', { 'aria-live': 'polite' });
  const start = h('button', { type: 'button', class: 'danger', id: 'cancel-date' }, 'Cancel this date…');

  function confirmBox() {
    const form = h(
      'form',
      {
        class: 'confirm',
        'aria-labelledby': 'cancel-title',
        onSubmit: submitting(result, async () => {
          const done = await api(`/schedules/${path}/cancel`, { method: 'POST' });
          form.remove();
          start.remove();
          replace(result, h(
            'div',
            { class: 'success', role: 'status' },
            h('p', {}, h('strong', {}, 'This date is cancelled.')),
            h('p', {}, `${done.releasedHolds} hold${done.releasedHolds === 1 ? '' : 's'} released, `
              + `${done.refundedReservations} paid booking${done.refundedReservations === 1 ? '' : 's'} refunded, `
              + `${formatMoney(done.refundedAmount)} refunded in all.`),
          ));
          refresh();
        }),
      },
      h('h3', { id: 'cancel-title' }, 'Cancel this date?'),
      h('p', {}, 'This cannot be undone. Every seat hold on this date is released at once, every paid booking is '
        + 'refunded in full to where it was paid from (the wallet or the card), its tickets stop working at the door, '
        + 'and nobody can book it any more.'),
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'danger' }, 'Yes, cancel the date and refund everyone'),
        h('button', { type: 'button', class: 'secondary', onClick: () => { form.remove(); start.hidden = false; start.focus(); } }, 'No, keep the date'),
      ),
    );
    return form;
  }

  start.addEventListener('click', () => {
    start.hidden = true;
    const box = confirmBox();
    where.insertBefore(box, result);
    box.querySelector('button[type=submit]').focus();
  });
  replace(where, start, result);
}

async function heading(facts) {
  if (!concertId) return null;
  try {
    const concert = await api(`/concerts/${encodeURIComponent(concertId)}`);
    const schedule = concert.schedules.find((s) => s.scheduleId === scheduleId);
    if (!schedule) return null;
    setTitle(`${concert.title}, ${formatTime(schedule.startsAt)}`);
    replace(
      facts,
      h('p', {}, `${concert.venueName} · booking ${formatTime(schedule.bookingOpensAt)} to ${formatTime(schedule.bookingClosesAt)} · `,
        h('strong', {}, schedule.status.replace('_', ' ').toLowerCase())),
    );
    return schedule;
  } catch {
    // The heading is a convenience: the sales below say if the date itself is unknown.
    return null;
  }
}

async function draw() {
  const facts = h('div');
  const sales = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const list = h('div');
  const cancel = h('div');
  main.append(
    h('p', {}, h('a', { href: '/admin' }, '← All dates')),
    facts,
    h('h2', {}, 'Sales'),
    sales,
  );
  const [schedule, found] = await Promise.all([heading(facts), drawSales(sales)]);
  if (!found) return;
  main.append(h('h2', {}, 'Reservations'), list, h('h2', {}, 'Cancel the date'), cancel);
  const reloadList = reservations(list);
  if (schedule && schedule.status === 'CANCELLED') {
    cancel.append(h('p', {}, 'This date is cancelled.'));
    return;
  }
  cancelArea(cancel, () => {
    drawSales(sales);
    reloadList();
    heading(facts);
  });
}

if (user) draw();
