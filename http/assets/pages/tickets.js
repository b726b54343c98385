// My tickets (`/tickets`): every ticket of the signed-in fan (GET /tickets,
// paged), grouped by concert and date, soonest first, each with its seat,
// status and QR code, ready to print (one ticket per block, no navigation).
// A paid booking can be cancelled for a refund from here (POST
// /reservations/{id}/cancel); the API decides whether it still may be.
//
// The QR image (GET /tickets/{id}/qr.svg) needs the bearer token, so it is
// fetched and shown through a blob URL rather than a plain <img src>.

import { api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { errorBox, formatMoney, formatTime, notice, startPage } from '../js/layout.js';
import { requireSignIn } from '../js/session.js';

/** Tickets per request: the API's most. */
const PAGE_SIZE = 100;

const STATUS_WORDS = { ISSUED: 'Valid', USED: 'Used at the door', VOID: 'Cancelled' };

const main = startPage('My tickets');
const toolbar = h('div', { class: 'ticket-toolbar no-print' });
const list = h('div', { id: 'ticket-list' });
const status = h('p', { class: 'muted', role: 'status' });
const more = h('div', { class: 'more no-print' });
/** Every ticket loaded so far (pages appended). */
let tickets = [];
/** Blob URLs by ticket id, made once per ticket. */
const qrUrls = new Map();

function seatWords(seat) {
  return `Section ${seat.sectionId}, row ${seat.row}, seat ${seat.number}`;
}

function qrImage(ticket) {
  const alt = `QR code of the ticket for ${ticket.concert.title}, ${formatTime(ticket.schedule.startsAt)}, ${seatWords(ticket.seat)}`;
  const img = h('img', { class: 'qr', alt, width: '160', height: '160' });
  const known = qrUrls.get(ticket.ticketId);
  if (known) {
    img.src = known;
    return img;
  }
  const holder = h('div', { class: 'qr-holder' }, h('p', { class: 'muted' }, 'Loading the QR code…'));
  api(`/tickets/${encodeURIComponent(ticket.ticketId)}/qr.svg`, { as: 'blob' })
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      qrUrls.set(ticket.ticketId, url);
      img.src = url;
      replace(holder, img);
    })
    .catch((error) => replace(holder, errorBox(error)));
  return holder;
}

function ticketBlock(ticket) {
  return h(
    'article',
    { class: `ticket status-${ticket.status.toLowerCase()}`, 'aria-label': `Ticket ${ticket.seat.seatId}`, dataset: { ticketId: ticket.ticketId } },
    h(
      'div',
      { class: 'ticket-text' },
      h('p', { class: 'ticket-event' }, ticket.concert.title),
      h('p', {}, formatTime(ticket.schedule.startsAt)),
      h('h3', {}, seatWords(ticket.seat)),
      h('p', {}, h('span', { class: 'ticket-status' }, STATUS_WORDS[ticket.status] || ticket.status), ' · ', formatMoney(ticket.price)),
      h('p', { class: 'muted ticket-id' }, `Seat ${ticket.seat.seatId}`),
    ),
    ticket.status === 'VOID' ? null : qrImage(ticket),
  );
}

async function cancelBooking(reservationId, button, errors) {
  if (!window.confirm('Cancel this booking? Its tickets stop working and the money goes back to where you paid from.')) return;
  button.disabled = true;
  try {
    const reservation = await api(`/reservations/${encodeURIComponent(reservationId)}/cancel`, { method: 'POST' });
    notice(`Booking ${reservation.reservationNumber} cancelled: ${formatMoney(reservation.refundAmount || 0)} refunded.`);
    await load(1);
  } catch (error) {
    button.disabled = false;
    replace(errors, errorBox(error));
  }
}

/** One booking (a reservation's tickets on a date), with its cancel button while all are valid. */
function bookingBlock(reservationId, own) {
  const errors = h('div');
  const cancellable = own.every((t) => t.status === 'ISSUED');
  const seats = own.map((t) => t.seat.seatId).join(', ');
  const button = cancellable
    ? h('button', { type: 'button', class: 'secondary cancel-booking' }, `Cancel booking (${seats})`)
    : null;
  if (button) button.addEventListener('click', () => cancelBooking(reservationId, button, errors));
  return h(
    'div',
    { class: 'booking' },
    h('div', { class: 'ticket-grid' }, own.map(ticketBlock)),
    h('div', { class: 'no-print booking-actions' }, errors, button),
  );
}

function draw() {
  const bySchedule = new Map();
  for (const ticket of tickets) {
    const key = ticket.schedule.scheduleId;
    if (!bySchedule.has(key)) bySchedule.set(key, []);
    bySchedule.get(key).push(ticket);
  }
  const groups = [...bySchedule.values()].sort((a, b) => a[0].schedule.startsAt.localeCompare(b[0].schedule.startsAt));
  replace(
    list,
    groups.map((own) => {
      const first = own[0];
      const byReservation = new Map();
      for (const ticket of own) {
        if (!byReservation.has(ticket.reservationId)) byReservation.set(ticket.reservationId, []);
        byReservation.get(ticket.reservationId).push(ticket);
      }
      return h(
        'section',
        { class: 'ticket-date', 'aria-label': `${first.concert.title}, ${formatTime(first.schedule.startsAt)}` },
        h('h2', {}, first.concert.title, h('span', { class: 'muted date' }, ` · ${formatTime(first.schedule.startsAt)}`)),
        [...byReservation.entries()].map(([reservationId, mine]) => bookingBlock(reservationId, mine)),
      );
    }),
  );
}

async function load(page) {
  replace(more);
  try {
    const answer = await api(`/tickets${query({ page, pageSize: PAGE_SIZE })}`);
    tickets = page === 1 ? answer.items : tickets.concat(answer.items);
    draw();
    status.textContent = answer.total === 0 ? 'No tickets yet.' : `${answer.total} ticket${answer.total === 1 ? '' : 's'}`;
    if (tickets.length < answer.total) {
      more.append(h('button', { type: 'button', class: 'secondary', onClick: () => load(page + 1) }, 'Show more'));
    }
    if (answer.total === 0) list.append(h('p', {}, h('a', { class: 'button', href: '/' }, 'Find a concert')));
  } catch (error) {
    replace(more, errorBox(error));
  }
}

if (requireSignIn()) {
  toolbar.append(h('button', { type: 'button', id: 'print', class: 'secondary', onClick: () => window.print() }, 'Print tickets'));
  main.append(toolbar, status, list, more);
  load(1);
}
