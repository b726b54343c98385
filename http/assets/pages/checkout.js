// Checkout (`/checkout/{reservationId}`): a hold's seats, prices and total
// (the API's `totalAmount`), a countdown to its `expiresAt`, and three ways
// on: pay from the wallet (topping it up right here when it is short), pay
// by card on the provider's checkout page, or give the seats back.
//
// Paying by card goes to the provider's checkout page in this tab, as
// Stripe Checkout does: the server asks the provider to send the payer back
// here after paying (the intent's `return_url`; a declined card's page links
// back too). Back here, the page polls the payment (GET /payments/{id}) and
// shows the tickets once it is COMPLETED, or the failure in words. The
// pending payment is remembered in localStorage (`boxoffice.card.<reservationId>`)
// so the page knows it on the way back (and in any other tab).

import { api, newIdempotencyKey } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { busy, errorBox, formatMoney, formatTime, notice, setTitle, startPage } from '../js/layout.js';
import { requireSignIn } from '../js/session.js';

/** How often a pending card payment is asked about. */
const CARD_POLL_MS = 2000;
/** How long after the countdown ends the reservation is asked again (the sweep frees seats within 1 s). */
const EXPIRY_RECHECK_MS = 1500;
/** Set by a refused direct top-up: this box office takes top-ups by card only (pages/wallet.js). */
const BY_CARD_KEY = 'boxoffice.topUpByCard';

const main = startPage('Checkout');
const reservationId = decodeURIComponent(location.pathname.split('/')[2] || '');
const cardKey = `boxoffice.card.${reservationId}`;

/** The page's state: the reservation and wallet as last read, timers. */
const state = { reservation: null, wallet: null, countdown: null, poll: null, payKey: null };

const statusArea = h('div', { id: 'hold-status' });
const payArea = h('div', { id: 'pay-area' });

function queueToken(reservation) {
  return localStorage.getItem(`boxoffice.queue.${reservation.scheduleId}`) || undefined;
}

function seatMapLink(reservation, text) {
  return h('a', { class: 'button', href: `/schedules/${encodeURIComponent(reservation.scheduleId)}` }, text);
}

function pendingCard() {
  try {
    return JSON.parse(localStorage.getItem(cardKey) || 'null');
  } catch {
    return null;
  }
}

function stopTimers() {
  clearInterval(state.countdown);
  clearTimeout(state.poll);
  state.countdown = null;
  state.poll = null;
}

function seatsTable(reservation) {
  return h(
    'table',
    { class: 'order' },
    h('caption', {}, 'Your seats'),
    h(
      'thead',
      {},
      h('tr', {}, h('th', { scope: 'col' }, 'Seat'), h('th', { scope: 'col' }, 'Grade'), h('th', { scope: 'col', class: 'number' }, 'Price')),
    ),
    h(
      'tbody',
      {},
      reservation.seats.map((seat) =>
        h('tr', {}, h('th', { scope: 'row' }, seat.seatId), h('td', {}, seat.grade), h('td', { class: 'number' }, formatMoney(seat.price)))),
    ),
    h(
      'tfoot',
      {},
      h('tr', {}, h('th', { scope: 'row', colspan: '2' }, 'Total'), h('td', { class: 'number total' }, formatMoney(reservation.totalAmount))),
    ),
  );
}

function minutesSeconds(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

/** The live countdown to the hold's `expiresAt`; at zero the reservation is read again. */
function startCountdown(reservation) {
  const expiresAt = new Date(reservation.expiresAt).getTime();
  const clock = h('strong', { class: 'countdown-clock' });
  // The clock itself is not announced every second; a screen reader hears the start and the last minute.
  const spoken = h('span', { class: 'visually-hidden', 'aria-live': 'polite' });
  replace(
    statusArea,
    h(
      'p',
      { class: 'countdown', role: 'timer', 'aria-live': 'off' },
      'Your seats are held for ', clock, ` (until ${formatTime(reservation.expiresAt)}).`,
    ),
    spoken,
  );
  let warned = false;
  const tick = () => {
    const left = expiresAt - Date.now();
    clock.textContent = minutesSeconds(left);
    if (!warned && left <= 60_000 && left > 0) {
      warned = true;
      spoken.textContent = 'Less than a minute left to pay.';
    }
    if (left <= 0) {
      clearInterval(state.countdown);
      state.countdown = null;
      setTimeout(reload, EXPIRY_RECHECK_MS);
    }
  };
  tick();
  state.countdown = setInterval(tick, 1000);
}

function ticketsDone(tickets) {
  stopTimers();
  localStorage.removeItem(cardKey);
  replace(
    statusArea,
    h(
      'div',
      { class: 'success', role: 'status' },
      h('p', {}, h('strong', {}, 'Paid. Enjoy the show!')),
      tickets && tickets.length
        ? h('p', {}, `Your ticket${tickets.length === 1 ? '' : 's'}: ${tickets.map((t) => t.seatId).join(', ')}.`)
        : null,
    ),
  );
  replace(payArea, h('p', {}, h('a', { class: 'button', href: '/tickets' }, 'See my tickets')));
}

function ended(reservation) {
  stopTimers();
  localStorage.removeItem(cardKey);
  const words = {
    EXPIRED: 'Your hold expired and the seats were released.',
    CANCELLED: reservation.refundAmount
      ? `This booking was cancelled and ${formatMoney(reservation.refundAmount)} refunded.`
      : 'This hold was cancelled and the seats were released.',
  };
  replace(statusArea, h('div', { class: 'error', role: 'alert' }, h('p', {}, words[reservation.status])));
  replace(payArea, h('p', {}, seatMapLink(reservation, 'Choose seats again')));
}

/** Shows the hold as the API has it now. */
function draw(reservation) {
  state.reservation = reservation;
  stopTimers();
  if (reservation.status === 'CONFIRMED') {
    ticketsDone(null);
    return;
  }
  if (reservation.status !== 'HELD') {
    ended(reservation);
    return;
  }
  const pending = pendingCard();
  if (pending) {
    // Back from the provider's page (or another tab paying): ask at once.
    waitForCard(pending, 0);
    return;
  }
  startCountdown(reservation);
  drawPayment();
}

async function reload() {
  try {
    const reservation = await api(`/reservations/${encodeURIComponent(reservationId)}`);
    if (reservation.status === 'HELD' && new Date(reservation.expiresAt).getTime() <= Date.now() && !pendingCard()) {
      // This browser's clock is ahead of the server's: ask again shortly.
      state.reservation = reservation;
      setTimeout(reload, EXPIRY_RECHECK_MS);
      return;
    }
    draw(reservation);
  } catch (error) {
    replace(statusArea, errorBox(error));
  }
}

async function refreshWallet() {
  state.wallet = await api('/wallet');
  return state.wallet;
}

/** What to do on a refusal of a payment: the hold may have ended meanwhile. */
function payRefused(where, error) {
  if (['RESERVATION_EXPIRED', 'RESERVATION_CANCELLED', 'ALREADY_PAID'].includes(error.code)) {
    reload();
    return;
  }
  const extra = [];
  if (error.code === 'QUEUE_NOT_ACTIVE') {
    extra.push(h('p', {}, h('a', { href: `/schedules/${encodeURIComponent(state.reservation.scheduleId)}/queue` }, 'Go to the waiting room')));
  }
  if (error.code === 'INSUFFICIENT_BALANCE') {
    refreshWallet().then(drawPayment, () => {});
    return;
  }
  replace(where, errorBox(error, ...extra));
}

async function payFromWallet(form, errors) {
  const reservation = state.reservation;
  state.payKey = state.payKey || newIdempotencyKey();
  await busy(form, async () => {
    try {
      const receipt = await api('/payments', {
        method: 'POST',
        body: { reservationId: reservation.reservationId, amount: reservation.totalAmount },
        idempotencyKey: state.payKey,
        queueToken: queueToken(reservation),
      });
      state.payKey = null;
      if (receipt.queueTokenExpired) localStorage.removeItem(`boxoffice.queue.${reservation.scheduleId}`);
      notice(`Paid ${formatMoney(receipt.amount)}. Your balance is now ${formatMoney(receipt.balanceAfter)}.`);
      ticketsDone(receipt.tickets);
    } catch (error) {
      // A network failure keeps the key: trying again is the same payment, never a second one.
      if (!(error instanceof TypeError)) state.payKey = null;
      payRefused(errors, error);
    }
  });
}

async function topUp(form, errors, amount) {
  const key = newIdempotencyKey();
  await busy(form, async () => {
    try {
      const receipt = await api('/wallet/charges', { method: 'POST', body: { amount }, idempotencyKey: key });
      notice(`Added ${formatMoney(receipt.amount)}. Your balance is now ${formatMoney(receipt.balance)}.`);
      state.wallet = await api('/wallet');
      drawPayment();
      const pay = document.getElementById('pay-wallet');
      if (pay) pay.focus();
    } catch (error) {
      if (error.code === 'FORBIDDEN') {
        // As the wallet page remembers it (pages/wallet.js).
        localStorage.setItem(BY_CARD_KEY, '1');
        replace(errors, h('div', { class: 'error', role: 'alert' }, cardOnlyWords()));
      } else {
        replace(errors, errorBox(error));
      }
    }
  });
}

/** Top-ups here are by card only: where to go instead. */
function cardOnlyWords() {
  return h(
    'p',
    {},
    'This box office takes top-ups by card only: pay by card below, or ',
    h('a', { href: '/wallet' }, 'top up by card on your wallet page'),
    '.',
  );
}

function topUpForm(shortBy) {
  const errors = h('div');
  const input = h('input', { id: 'topup-amount', name: 'amount', type: 'number', inputmode: 'numeric', min: String(shortBy), step: '1', value: String(shortBy), required: true });
  const form = h(
    'form',
    {
      id: 'topup',
      class: 'topup',
      onSubmit: (event) => {
        event.preventDefault();
        const amount = Number(input.value);
        topUp(form, errors, amount);
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'topup-amount' }, 'Top-up amount'), input),
    errors,
    h('button', { type: 'submit' }, 'Top up wallet'),
  );
  return form;
}

function walletPanel() {
  const reservation = state.reservation;
  const wallet = state.wallet;
  const errors = h('div');
  const panel = h(
    'section',
    { class: 'pay-option', 'aria-labelledby': 'wallet-title' },
    h('h2', { id: 'wallet-title' }, 'Pay from your wallet'),
    h('p', {}, 'Balance: ', h('strong', { id: 'wallet-balance' }, formatMoney(wallet.balance)), ' (', h('a', { href: '/wallet' }, 'your wallet'), ')'),
  );
  const shortBy = reservation.totalAmount - wallet.balance;
  if (shortBy > 0) {
    panel.append(
      h('p', { class: 'shortfall', id: 'shortfall' }, `That is ${formatMoney(shortBy)} short of the total. Top up at least that much to pay from your wallet.`),
      localStorage.getItem(BY_CARD_KEY) === '1' ? cardOnlyWords() : topUpForm(shortBy),
    );
    return panel;
  }
  const form = h(
    'form',
    { id: 'pay-wallet-form', onSubmit: (event) => { event.preventDefault(); payFromWallet(form, errors); } },
    errors,
    h('button', { type: 'submit', id: 'pay-wallet' }, `Pay ${formatMoney(reservation.totalAmount)} from wallet`),
  );
  panel.append(form);
  return panel;
}

async function payByCard(form, errors) {
  const reservation = state.reservation;
  const key = newIdempotencyKey();
  await busy(form, async () => {
    try {
      const payment = await api('/payments', {
        method: 'POST',
        body: { reservationId: reservation.reservationId, amount: reservation.totalAmount, method: 'CARD' },
        idempotencyKey: key,
        queueToken: queueToken(reservation),
      });
      const pending = { paymentId: payment.paymentId, checkoutUrl: payment.checkoutUrl, expiresAt: payment.expiresAt };
      localStorage.setItem(cardKey, JSON.stringify(pending));
      waitForCard(pending);
      location.assign(payment.checkoutUrl);
    } catch (error) {
      payRefused(errors, error);
    }
  });
}

function cardPanel() {
  const errors = h('div');
  const form = h(
    'form',
    { id: 'pay-card-form', onSubmit: (event) => { event.preventDefault(); payByCard(form, errors); } },
    errors,
    h('button', { type: 'submit', id: 'pay-card', class: 'secondary' }, 'Pay by card'),
  );
  return h(
    'section',
    { class: 'pay-option', 'aria-labelledby': 'card-title' },
    h('h2', { id: 'card-title' }, 'Pay by card'),
    h('p', { class: 'muted' }, 'You pay on the payment provider’s page and come back here for your tickets.'),
    form,
  );
}

function cancelPanel() {
  const errors = h('div');
  const button = h('button', { type: 'button', id: 'cancel-hold', class: 'secondary' }, 'Cancel hold');
  button.addEventListener('click', async () => {
    if (!window.confirm('Give these seats back? Someone else may take them.')) return;
    button.disabled = true;
    try {
      const reservation = await api(`/reservations/${encodeURIComponent(reservationId)}/cancel`, { method: 'POST' });
      notice('Your hold was cancelled and the seats released.');
      draw(reservation);
    } catch (error) {
      button.disabled = false;
      if (['NOT_CANCELLABLE'].includes(error.code)) {
        reload();
        return;
      }
      replace(errors, errorBox(error));
    }
  });
  return h('div', { class: 'cancel-hold' }, errors, button);
}

function drawPayment() {
  if (!state.wallet) return;
  replace(payArea, h('div', { class: 'pay-options' }, walletPanel(), cardPanel()), cancelPanel());
}

/** A card payment under way: poll it until the provider has answered (first after `firstPollMs`). */
function waitForCard(pending, firstPollMs = CARD_POLL_MS) {
  stopTimers();
  const reservation = state.reservation;
  replace(
    statusArea,
    h(
      'div',
      { class: 'waiting', role: 'status' },
      h('p', {}, h('strong', {}, 'Waiting for your card payment…')),
      h('p', {}, 'Your seats stay held while the payment is open', pending.expiresAt ? ` (until ${formatTime(pending.expiresAt)}).` : '.'),
    ),
  );
  replace(
    payArea,
    h(
      'p',
      {},
      h('a', { class: 'button', id: 'open-card-page', href: pending.checkoutUrl }, 'Go to the payment page'),
    ),
    cancelPanel(),
  );
  const pollError = h('div');
  payArea.append(pollError);
  const poll = async () => {
    try {
      const payment = await api(`/payments/${encodeURIComponent(pending.paymentId)}`);
      replace(pollError);
      if (payment.status === 'COMPLETED') {
        const tok = `boxoffice.queue.${reservation.scheduleId}`;
        // A completed payment ends the waiting-room token (API.md).
        localStorage.removeItem(tok);
        ticketsDone(payment.tickets);
        return;
      }
      if (payment.status !== 'PENDING') {
        localStorage.removeItem(cardKey);
        const fresh = await api(`/reservations/${encodeURIComponent(reservationId)}`);
        draw(fresh);
        if (fresh.status === 'HELD') {
          statusArea.prepend(h('div', { class: 'error', role: 'alert' }, h('p', {}, 'The card payment did not go through: it was declined, cancelled or timed out. Nothing was charged. You can try again.')));
        }
        return;
      }
    } catch (error) {
      // A network blip: say so and keep asking.
      replace(pollError, errorBox(error));
    }
    state.poll = setTimeout(poll, CARD_POLL_MS);
  };
  state.poll = setTimeout(poll, firstPollMs);
}

/** Names the concert, date and venue above the seats (public catalogue reads; a failure leaves them out). */
async function showEvent(order, scheduleId) {
  try {
    const schedule = await api(`/schedules/${encodeURIComponent(scheduleId)}`, { auth: false });
    const concert = await api(`/concerts/${encodeURIComponent(schedule.concertId)}`, { auth: false });
    order.prepend(
      h(
        'div',
        { class: 'event' },
        h('h2', {}, h('a', { href: `/concerts/${encodeURIComponent(concert.concertId)}` }, concert.title)),
        h('p', {}, formatTime(schedule.startsAt), concert.venueName ? ` · ${concert.venueName}` : ''),
      ),
    );
  } catch {
    // The seats and total are what checkout needs; the names are a courtesy.
  }
}

async function show() {
  if (!requireSignIn()) return;
  main.append(h('div', { class: 'checkout' }, h('div', { id: 'order' }), h('div', {}, statusArea, payArea)));
  try {
    const [reservation, wallet] = await Promise.all([
      api(`/reservations/${encodeURIComponent(reservationId)}`),
      api('/wallet'),
    ]);
    state.wallet = wallet;
    setTitle(`Checkout ${reservation.reservationNumber}`);
    const order = document.getElementById('order');
    replace(order, seatsTable(reservation));
    draw(reservation);
    showEvent(order, reservation.scheduleId);
  } catch (error) {
    replace(main, h('h1', { id: 'page-title' }, 'Checkout'), errorBox(error, h('p', {}, h('a', { href: '/' }, 'See the concerts'))));
  }
}

show();
