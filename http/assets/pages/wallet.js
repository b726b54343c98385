// My wallet (`/wallet`): the balance and its totals (GET /wallet), a
// top-up, and the ledger of charges, payments and refunds
// (GET /wallet/transactions, newest first, "Show more" pages through).
//
// A top-up is a direct charge; on a box office that takes top-ups by card
// only (direct charges answer 403) the same form pays by card instead: the
// payer goes to the provider's page and is sent back here, and this page
// watches the ledger for the top-up's transaction (a card top-up's ledger
// entry carries its id), remembered in localStorage (`boxoffice.cardTopUp`)
// across the trip.

import { api, newIdempotencyKey, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { busy, errorBox, formatMoney, formatTime, notice, startPage } from '../js/layout.js';
import { requireSignIn } from '../js/session.js';

const PAGE_SIZE = 20;
/** How often the ledger is read while a card top-up is open. */
const CARD_POLL_MS = 2000;

const KIND_WORDS = { CHARGE: 'Top-up', PAYMENT: 'Payment', REFUND: 'Refund' };

const main = startPage('My wallet');
const summary = h('div', { id: 'wallet-summary' });
const topUpArea = h('section', { 'aria-labelledby': 'topup-title' });
const ledgerBody = h('tbody');
const ledgerStatus = h('p', { class: 'muted', role: 'status' });
const more = h('div', { class: 'more' });
/**
 * Direct charges were refused here once (403: this box office takes top-ups
 * by card only): remembered, so the fan is not refused again on every visit.
 * The checkout page reads it too.
 */
const BY_CARD_KEY = 'boxoffice.topUpByCard';
let byCard = localStorage.getItem(BY_CARD_KEY) === '1';
/** The card top-up on its way: `{transactionId, amount, checkoutUrl, expiresAt}`. */
const CARD_TOP_UP_KEY = 'boxoffice.cardTopUp';

function drawSummary(wallet) {
  replace(
    summary,
    h('p', { class: 'balance' }, 'Balance ', h('strong', { id: 'balance' }, formatMoney(wallet.balance))),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Topped up'), h('dd', {}, formatMoney(wallet.totalCharged)),
      h('dt', {}, 'Spent'), h('dd', {}, formatMoney(wallet.totalUsed)),
      h('dt', {}, 'Refunded'), h('dd', {}, formatMoney(wallet.totalRefunded)),
    ),
  );
}

function ledgerRow(entry) {
  const sign = entry.kind === 'PAYMENT' ? '−' : '+';
  return h(
    'tr',
    {},
    h('td', {}, formatTime(entry.at)),
    h('td', {}, KIND_WORDS[entry.kind] || entry.kind),
    h('td', { class: 'number' }, `${sign}${formatMoney(entry.amount)}`),
    h('td', { class: 'number' }, formatMoney(entry.balanceAfter)),
  );
}

async function loadLedger(page) {
  replace(more);
  if (page === 1) replace(ledgerBody);
  try {
    const answer = await api(`/wallet/transactions${query({ page, pageSize: PAGE_SIZE })}`);
    ledgerBody.append(...answer.items.map(ledgerRow));
    ledgerStatus.textContent = answer.total === 0 ? 'Nothing yet: top up to start.' : '';
    if ((page - 1) * PAGE_SIZE + answer.items.length < answer.total) {
      more.append(h('button', { type: 'button', class: 'secondary', onClick: () => loadLedger(page + 1) }, 'Show more'));
    }
  } catch (error) {
    replace(more, errorBox(error));
  }
}

async function refresh() {
  drawSummary(await api('/wallet'));
  await loadLedger(1);
}

function pendingTopUp() {
  try {
    return JSON.parse(localStorage.getItem(CARD_TOP_UP_KEY) || 'null');
  } catch {
    return null;
  }
}

/** Reads the ledger until the card top-up shows up in it, or its payment page has closed. */
function watchCardTopUp(pending, status) {
  const forget = () => {
    localStorage.removeItem(CARD_TOP_UP_KEY);
    replace(status);
  };
  replace(
    status,
    h(
      'div',
      { class: 'waiting', role: 'status' },
      h('p', {}, h('strong', {}, `Waiting for your card top-up of ${formatMoney(pending.amount)}…`)),
      h('p', {}, 'If you declined it or left the payment page, nothing was charged.'),
      h(
        'p',
        { class: 'row-actions' },
        h('a', { class: 'button', href: pending.checkoutUrl }, 'Go to the payment page'),
        ' ',
        h('button', { type: 'button', class: 'secondary', onClick: forget }, 'Stop waiting'),
      ),
    ),
  );
  const poll = async () => {
    if (!pendingTopUp()) return;
    try {
      const answer = await api(`/wallet/transactions${query({ page: 1, pageSize: PAGE_SIZE })}`);
      const entry = answer.items.find((item) => item.transactionId === pending.transactionId);
      if (entry) {
        localStorage.removeItem(CARD_TOP_UP_KEY);
        replace(status, h('div', { class: 'success', role: 'status' }, h('p', {}, `Your card top-up of ${formatMoney(entry.amount)} arrived.`)));
        await refresh();
        return;
      }
    } catch {
      // A network blip: keep watching.
    }
    if (Date.now() < new Date(pending.expiresAt).getTime()) {
      setTimeout(poll, CARD_POLL_MS);
    } else {
      localStorage.removeItem(CARD_TOP_UP_KEY);
      replace(status, h('p', {}, 'No card top-up arrived: the payment page has closed, and nothing was charged.'));
    }
  };
  poll();
}

async function topUp(form, errors, status, amount, key) {
  await busy(form, async () => {
    try {
      if (byCard) {
        const answer = await api('/wallet/charges', { method: 'POST', body: { amount, method: 'CARD' }, idempotencyKey: key });
        const { transactionId, checkoutUrl, expiresAt } = answer;
        localStorage.setItem(CARD_TOP_UP_KEY, JSON.stringify({ transactionId, amount: answer.amount, checkoutUrl, expiresAt }));
        location.assign(checkoutUrl);
        return;
      }
      const receipt = await api('/wallet/charges', { method: 'POST', body: { amount }, idempotencyKey: key });
      notice(`Added ${formatMoney(receipt.amount)}. Your balance is now ${formatMoney(receipt.balance)}.`);
      form.reset();
      await refresh();
    } catch (error) {
      if (error.code === 'FORBIDDEN' && !byCard) {
        // This box office takes top-ups by card only: the same form pays by card.
        byCard = true;
        localStorage.setItem(BY_CARD_KEY, '1');
        drawTopUp('This box office takes top-ups by card only. Press the button again to pay by card.', amount);
        topUpArea.querySelector('button[type=submit]').focus();
        return;
      }
      replace(errors, errorBox(error));
    }
  });
}

/** The top-up form (`amount` filled in when it is drawn again). */
function drawTopUp(message, amount) {
  const errors = h('div');
  const status = h('div', { id: 'topup-status' });
  const input = h('input', { id: 'topup-amount', name: 'amount', type: 'number', inputmode: 'numeric', min: '1', step: '1', required: true, value: amount });
  const form = h(
    'form',
    {
      id: 'topup',
      class: 'topup',
      onSubmit: (event) => {
        event.preventDefault();
        replace(errors);
        topUp(form, errors, status, Number(input.value), newIdempotencyKey());
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'topup-amount' }, 'Amount'), input),
    message ? h('p', { class: 'muted' }, message) : null,
    errors,
    h('button', { type: 'submit' }, byCard ? 'Top up by card' : 'Top up'),
  );
  replace(topUpArea, h('h2', { id: 'topup-title' }, 'Top up'), form, status);
  return status;
}

async function show() {
  if (!requireSignIn()) return;
  const status = drawTopUp();
  main.append(
    summary,
    topUpArea,
    h(
      'section',
      { 'aria-labelledby': 'ledger-title' },
      h('h2', { id: 'ledger-title' }, 'History'),
      h(
        'table',
        { class: 'ledger' },
        h('caption', { class: 'visually-hidden' }, 'Wallet history, newest first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'When'),
            h('th', { scope: 'col' }, 'What'),
            h('th', { scope: 'col', class: 'number' }, 'Amount'),
            h('th', { scope: 'col', class: 'number' }, 'Balance after'),
          ),
        ),
        ledgerBody,
      ),
      ledgerStatus,
      more,
    ),
  );
  try {
    await refresh();
  } catch (error) {
    replace(summary, errorBox(error));
    return;
  }
  const pending = pendingTopUp();
  if (pending) watchCardTopUp(pending, status);
}

show();
