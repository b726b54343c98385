// The seat map of a date (`/schedules/{scheduleId}`): every seat, live, to
// pick from or to ask for the best N, then a hold with its countdown and a
// way to pay (`/checkout/{reservationId}`).
//
// A date behind a waiting room shows its map only with the fan's ACTIVE
// queue token (localStorage `boxoffice.queue.<scheduleId>`, written by the
// waiting room): GET /schedules/{id} says whether the date is gated before
// anything could answer 401/403, and joining again (POST /queue/tokens
// answers the same token and place) says whether the token is ACTIVE; if
// not, the fan goes to the waiting room. An ungated map is public: signing
// in is asked for only to hold.
//
// Live: the schedule's stream (`event: seat`) recolours one seat per event
// (js/seat_svg.js); `event: reset` refetches the map. The first map is
// fetched while the stream connects (for a quick first drawing); a change
// made between that read and the stream's start would be missed, so when
// the stream first opens the map is fetched again and every seat brought up
// to date (events that arrive during a fetch are applied after it). Prices,
// totals, limits and refusals are the API's; the page adds up the prices it
// was given.

import { api, newIdempotencyKey, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { busy, errorBox, formatMoney, formatTime, notice, setTitle, startPage } from '../js/layout.js';
import { drawSeatMap, GRADE_COLOURS, swatch } from '../js/seat_svg.js';
import { currentUser, requireSignIn } from '../js/session.js';
import { saleStatusWords } from '../js/words.js';

/** A hold's countdown says so out loud this many seconds before the end. */
const HOLD_WARNING_S = 60;

const main = startPage('Seat map');
const scheduleId = decodeURIComponent(location.pathname.split('/')[2] || '');
const schedulePath = encodeURIComponent(scheduleId);
const queueKey = `boxoffice.queue.${scheduleId}`;
/** Seats picked before signing in to hold, restored on the way back. */
const pickedKey = `boxoffice.picked.${scheduleId}`;


let queueToken = null;
let drawn = null; // drawSeatMap's answer once the map is drawn
const picked = new Set();
const counts = { available: 0, total: 0 };
const holding = new Set(); // seat ids of a hold request under way
let lastHold = null; // {body, key}: a retry of the same hold reuses its key

// ---------------------------------------------------------------- the page's parts

const summary = h('span', { class: 'seat-summary' });
const liveState = h('span', { class: 'live-state' });
const legend = h('ul', { class: 'legend', 'aria-label': 'Legend' });
const mapBox = h('div', { class: 'map-scroll' });
const pickedList = h('ul', { class: 'picked-list' });
const pickedTotal = h('p', { class: 'picked-total', role: 'status', 'aria-live': 'polite' });
const holdErrors = h('div');
const holdButton = h('button', { type: 'button', id: 'hold-selected', disabled: true, onClick: () => holdPicked() }, 'Hold selected seats');
const holdsBox = h('div', { class: 'holds' });
const bestErrors = h('div');
const quantity = h('input', { type: 'number', id: 'best-quantity', name: 'quantity', min: 1, value: 2, required: true, inputmode: 'numeric' });
const gradeSelect = h('select', { id: 'best-grade', name: 'grade' }, h('option', { value: '' }, 'Any grade'));
const bestForm = h(
  'form',
  { class: 'best', 'aria-labelledby': 'best-title', onSubmit: (event) => { event.preventDefault(); findBest(); } },
  h('h2', { id: 'best-title' }, 'Best available'),
  h('div', { class: 'field' }, h('label', { for: 'best-quantity' }, 'Number of seats'), quantity),
  h('div', { class: 'field' }, h('label', { for: 'best-grade' }, 'Grade'), gradeSelect),
  bestErrors,
  h('button', { type: 'submit' }, 'Find seats'),
);

function layout(concert, schedule, venueName) {
  setTitle(concert.title);
  const open = schedule.status === 'ON_SALE';
  const parts = [
    h(
      'p',
      { class: 'muted' },
      formatTime(schedule.startsAt),
      venueName ? ` · ${venueName}` : '',
      ' · ',
      saleStatusWords(schedule.status),
      ' · ',
      h('a', { href: `/concerts/${encodeURIComponent(concert.concertId)}` }, 'All dates'),
    ),
    open ? null : h('p', { class: 'seat-note' }, schedule.status === 'UPCOMING'
      ? `Booking opens ${formatTime(schedule.bookingOpensAt)}. You can look at the seats now.`
      : 'Seats cannot be held for this date now.'),
    h(
      'div',
      { class: 'seat-page' },
      h(
        'section',
        { class: 'seat-area', 'aria-labelledby': 'map-title' },
        h('h2', { id: 'map-title' }, 'Seats'),
        h('p', {}, summary, ' ', liveState),
        legend,
        h('p', { id: 'seat-help', class: 'muted' }, 'Click or tap a free seat to pick it. With a keyboard: Tab to the map, arrow keys to move, Enter or Space to pick.'),
        zoomControls(),
        mapBox,
      ),
      h(
        'aside',
        { class: 'seat-panel', 'aria-label': 'Your seats' },
        h('h2', {}, 'Your seats'),
        holdsBox,
        pickedList,
        pickedTotal,
        holdErrors,
        open ? holdButton : null,
        h('p', { class: 'muted' }, `Up to ${concert.maxSeatsPerUser} seats per person. A hold keeps seats for you while you pay.`),
        open ? bestForm : null,
      ),
    ),
  ];
  main.append(...parts.filter(Boolean));
  quantity.max = String(concert.maxSeatsPerUser);
  for (const grade of concert.priceGrades) {
    gradeSelect.append(h('option', { value: grade.grade }, `${grade.grade} (${formatMoney(grade.price)})`));
  }
}

/** Zoom levels of the map (CSS classes in app.css): bigger seats to tap on a phone. */
const ZOOMS = ['zoom-1', 'zoom-2', 'zoom-3', 'zoom-4'];
let zoom = 0;

function zoomControls() {
  const level = h('span', { class: 'muted' });
  const set = (next) => {
    // Keep the middle of what is shown in the middle.
    const across = mapBox.scrollWidth ? (mapBox.scrollLeft + mapBox.clientWidth / 2) / mapBox.scrollWidth : 0.5;
    const down = mapBox.scrollHeight ? (mapBox.scrollTop + mapBox.clientHeight / 2) / mapBox.scrollHeight : 0;
    zoom = Math.max(0, Math.min(ZOOMS.length - 1, next));
    mapBox.classList.remove(...ZOOMS);
    mapBox.classList.add(ZOOMS[zoom]);
    mapBox.scrollLeft = across * mapBox.scrollWidth - mapBox.clientWidth / 2;
    mapBox.scrollTop = down * mapBox.scrollHeight - mapBox.clientHeight / 2;
    out.disabled = zoom === 0;
    into.disabled = zoom === ZOOMS.length - 1;
    level.textContent = `Zoom ${zoom + 1} of ${ZOOMS.length}`;
  };
  const out = h('button', { type: 'button', class: 'secondary', onClick: () => set(zoom - 1) }, 'Zoom out');
  const into = h('button', { type: 'button', class: 'secondary', onClick: () => set(zoom + 1) }, 'Zoom in');
  set(0);
  return h('div', { class: 'zoom', role: 'group', 'aria-label': 'Map size' }, out, into, level);
}

function drawLegend(concert, colourOf) {
  replace(
    legend,
    concert.priceGrades.map((grade) =>
      h('li', {}, swatch({ fill: colourOf(grade.grade) }), `${grade.grade} ${formatMoney(grade.price)}`)),
    h('li', {}, swatch({ fill: '#888', status: 'HELD' }), 'Held (striped)'),
    h('li', {}, swatch({ fill: '#888', status: 'SOLD' }), 'Sold (small, dark)'),
    h('li', {}, swatch({ fill: colourOf(concert.priceGrades[0]?.grade), picked: true }), 'Your pick (outlined)'),
  );
}

function showCounts() {
  summary.textContent = `${counts.available.toLocaleString('en')} of ${counts.total.toLocaleString('en')} seats free.`;
}
let countsQueued = false;
function countsChanged() {
  if (countsQueued) return;
  countsQueued = true;
  requestAnimationFrame(() => { countsQueued = false; showCounts(); });
}

// ---------------------------------------------------------------- picking

function seatName(seat) {
  return `${seat.sectionName} row ${seat.row} seat ${seat.number}`;
}

function showPicked() {
  const seats = [...picked].map((id) => drawn.seats.get(id)).filter(Boolean);
  replace(
    pickedList,
    seats.map((seat) =>
      h(
        'li',
        {},
        h('span', {}, `${seatName(seat)} · ${seat.grade} · ${formatMoney(seat.price)}`),
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Remove ${seatName(seat)}`, onClick: () => pick(seat, false) }, 'Remove'),
      )),
  );
  const total = seats.reduce((sum, seat) => sum + seat.price, 0);
  pickedTotal.textContent = seats.length
    ? `${seats.length} seat${seats.length === 1 ? '' : 's'} picked · Total ${formatMoney(total)}`
    : 'No seats picked yet.';
  holdButton.disabled = seats.length === 0;
}

function pick(seat, on) {
  if (on) picked.add(seat.id); else picked.delete(seat.id);
  drawn.setPicked(seat, on);
  showPicked();
}

function activate(seat) {
  if (picked.has(seat.id)) {
    pick(seat, false);
  } else if (seat.status === 'AVAILABLE') {
    replace(holdErrors);
    pick(seat, true);
  } else {
    notice(`${seatName(seat)} is ${seat.status === 'HELD' ? 'held by someone else' : 'not for sale'}.`);
  }
}

// ---------------------------------------------------------------- live updates

let stream = null;
let pending = null; // events that came while the map was being fetched
let refreshing = null;
let refreshAgain = false; // a reset came during a fetch that may predate it
let opened = false; // the stream has opened once
let refreshAfterDraw = false; // it opened before the first map was drawn
let concertShown = null;

function applySeat(change) {
  const seat = drawn && drawn.seats.get(change.seatId);
  if (!seat || seat.status === change.status) return;
  if (seat.status === 'AVAILABLE') counts.available -= 1;
  if (change.status === 'AVAILABLE') counts.available += 1;
  drawn.setStatus(seat, change.status);
  countsChanged();
  if (change.status === 'SOLD') paidCheck(seat.id);
  if (picked.has(seat.id) && change.status !== 'AVAILABLE') {
    pick(seat, false);
    if (!holding.has(seat.id)) notice(`${seatName(seat)} was just taken by someone else.`);
  }
}

/** Opens the stream; its first opening brings the first map up to date. */
function openStream() {
  const url = `/api/v1/schedules/${schedulePath}/stream${queueToken ? query({ queueToken }) : ''}`;
  stream = new EventSource(url);
  stream.addEventListener('seat', (event) => {
    const change = JSON.parse(event.data);
    if (pending) pending.push(change); else applySeat(change);
  });
  // Before the first drawing, the first fetch (made after the stream opened) is recent enough.
  stream.addEventListener('reset', () => { if (drawn) refresh(); });
  stream.addEventListener('error', () => {
    if (stream.readyState === EventSource.CLOSED) {
      // Refused: on a gated date, most likely the queue token's time ran out.
      replace(
        liveState,
        'Live updates stopped. ',
        queueToken
          ? h('a', { href: `/schedules/${schedulePath}/queue` }, 'Back to the waiting room')
          : h('a', { href: location.pathname }, 'Reload the seats'),
      );
    } else {
      liveState.textContent = 'Reconnecting…';
    }
  });
  stream.addEventListener('open', () => {
    liveState.textContent = 'Updated live.';
    if (opened) return; // a reconnection resumes after the last event (Last-Event-ID)
    opened = true;
    if (drawn) refresh(); else refreshAfterDraw = true;
  });
}

/** Fetches the map again and brings every seat up to date. */
function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  pending = [];
  refreshing = (async () => {
    try {
      const map = await api(`/schedules/${schedulePath}/seats`, { queueToken });
      update(map);
      setCounts(map);
    } catch (error) {
      replace(mapBox, errorBox(error));
    } finally {
      const missed = pending || [];
      pending = null;
      refreshing = null;
      missed.forEach(applySeat);
    }
    if (refreshAgain) {
      refreshAgain = false;
      await refresh();
    }
  })();
  return refreshing;
}

let colourOf = () => GRADE_COLOURS[0];
let sectionNames = new Map();

function draw(map) {
  drawn = drawSeatMap(map, { names: sectionNames, colourOf, formatPrice: formatMoney, onActivate: activate });
  replace(mapBox, drawn.svg);
  // A map wider than the screen (a phone) starts at its middle, under the stage's centre.
  mapBox.scrollLeft = (mapBox.scrollWidth - mapBox.clientWidth) / 2;
  drawLegend(concertShown, colourOf);
  restorePicked();
  showPicked();
}

function setCounts(map) {
  counts.available = map.summary.available;
  counts.total = map.summary.total;
  showCounts();
}

function update(map) {
  for (const section of map.sections) {
    for (const row of section.rows) {
      for (const seat of row.seats) applySeat(seat);
    }
  }
}

// ---------------------------------------------------------------- holds

/** Seats picked before a sign-in come back (those still free). */
function restorePicked() {
  let ids = [];
  try {
    ids = JSON.parse(sessionStorage.getItem(pickedKey) || '[]');
  } catch {
    ids = [];
  }
  sessionStorage.removeItem(pickedKey);
  for (const id of ids) {
    const seat = drawn.seats.get(id);
    if (seat && seat.status === 'AVAILABLE') pick(seat, true);
  }
}

async function requestHold(body, form, errors) {
  if (!currentUser()) {
    sessionStorage.setItem(pickedKey, JSON.stringify([...picked]));
    requireSignIn();
    return;
  }
  const full = { scheduleId, ...body };
  const same = lastHold && JSON.stringify(lastHold.body) === JSON.stringify(full);
  const key = same ? lastHold.key : newIdempotencyKey();
  lastHold = { body: full, key };
  replace(errors);
  (body.seatIds || []).forEach((id) => holding.add(id));
  await busy(form, async () => {
    try {
      const sentAt = Date.now();
      const reservation = await api('/reservations', { method: 'POST', body: full, queueToken, idempotencyKey: key });
      lastHold = null;
      for (const id of [...picked]) pick(drawn.seats.get(id), false);
      showHold(reservation, sentAt);
      notice(`Held ${reservation.seats.length} seat${reservation.seats.length === 1 ? '' : 's'}: pay before the time runs out.`);
    } catch (error) {
      // A network failure or a request still running may be retried with the same key.
      if (!(error instanceof TypeError) && error.code !== 'IDEMPOTENCY_IN_PROGRESS') lastHold = null;
      const taken = (error.details && error.details.unavailableSeats) || [];
      const names = taken.map((id) => drawn.seats.get(id)).filter(Boolean);
      names.forEach((seat) => pick(seat, false));
      replace(errors, errorBox(error, names.length ? h('p', {}, `Taken: ${names.map(seatName).join(', ')}.`) : null));
    } finally {
      holding.clear();
    }
  });
  holdButton.disabled = picked.size === 0;
}

function holdPicked() {
  if (picked.size === 0) return;
  requestHold({ seatIds: [...picked] }, holdButton.parentElement, holdErrors);
}

function findBest() {
  const body = { quantity: Number(quantity.value) };
  if (gradeSelect.value) body.grade = gradeSelect.value;
  requestHold(body, bestForm, bestErrors);
}

const holds = []; // {reservation, endsAt (local ms), timeEl, payEl, warned, box}

/**
 * Shows a hold with its countdown. The end is the hold's own length
 * (`expiresAt - heldAt`, both the server's) counted from when it was asked
 * for, so a wrong clock on this device does not shorten or stretch it.
 */
function showHold(reservation, sentAt) {
  const lengthMs = Date.parse(reservation.expiresAt) - Date.parse(reservation.heldAt);
  const endsAt = Number.isFinite(lengthMs) ? sentAt + lengthMs : Date.parse(reservation.expiresAt);
  const timeEl = h('strong', { class: 'countdown' });
  const payEl = h('a', { class: 'button', href: `/checkout/${encodeURIComponent(reservation.reservationId)}` }, 'Pay now');
  const box = h(
    'div',
    { class: 'card hold' },
    h('h3', {}, `Hold ${reservation.reservationNumber}`),
    h('ul', {}, reservation.seats.map((seat) => {
      const drawnSeat = drawn && drawn.seats.get(seat.seatId);
      return h('li', {}, `${drawnSeat ? seatName(drawnSeat) : seat.seatId} · ${seat.grade} · ${formatMoney(seat.price)}`);
    })),
    h('p', {}, `Total ${formatMoney(reservation.totalAmount)}`),
    h('p', { class: 'time-left' }, 'Time left to pay: ', timeEl),
    payEl,
  );
  const hold = { reservation, endsAt, timeEl, payEl, box, warned: false };
  holds.push(hold);
  holdsBox.prepend(box);
  tick(hold);
  startTicking();
}

function tick(hold) {
  if (hold.paid) return false;
  const leftS = Math.max(0, Math.ceil((hold.endsAt - Date.now()) / 1000));
  if (leftS === 0) {
    hold.timeEl.textContent = 'expired';
    hold.payEl.remove();
    hold.box.classList.add('expired');
    hold.box.append(h('p', {}, 'This hold has expired and its seats were released. Pick seats again.'));
    notice(`Hold ${hold.reservation.reservationNumber} expired.`);
    return false;
  }
  hold.timeEl.textContent = `${Math.floor(leftS / 60)}:${String(leftS % 60).padStart(2, '0')}`;
  if (!hold.warned && leftS <= HOLD_WARNING_S) {
    hold.warned = true;
    notice(`Less than a minute left to pay for hold ${hold.reservation.reservationNumber}.`);
  }
  return true;
}

/** A shown hold whose seats are all SOLD was paid (in checkout, maybe another tab): its countdown stops. */
function paidCheck(seatId) {
  for (const hold of holds) {
    const ids = hold.reservation.seats.map((seat) => seat.seatId);
    if (hold.paid || !ids.includes(seatId)) continue;
    if (!ids.every((id) => drawn.seats.get(id)?.status === 'SOLD')) continue;
    hold.paid = true;
    hold.timeEl.parentElement.replaceChildren('Paid. ', h('a', { href: '/tickets' }, 'See my tickets'));
    hold.payEl.remove();
  }
}

let ticking = null;
function startTicking() {
  if (ticking) return;
  ticking = setInterval(() => {
    for (let i = holds.length - 1; i >= 0; i--) {
      if (!tick(holds[i])) holds.splice(i, 1);
    }
    if (holds.length === 0) {
      clearInterval(ticking);
      ticking = null;
    }
  }, 1000);
}

/** The signed-in fan's unpaid holds on this date (after a reload, or coming back from checkout). */
async function showMyHolds() {
  if (!currentUser()) return;
  try {
    const sentAt = Date.now();
    const mine = await api(`/reservations${query({ status: 'HELD', pageSize: 100 })}`);
    for (const reservation of mine.items.filter((r) => r.scheduleId === scheduleId)) {
      // Already running: its end is counted from the server's heldAt, as best we can.
      const lengthMs = Date.parse(reservation.expiresAt) - Date.parse(reservation.heldAt);
      const elapsedMs = Math.max(0, Date.now() - Date.parse(reservation.heldAt));
      showHold(reservation, sentAt - Math.min(elapsedMs, lengthMs));
    }
  } catch (error) {
    holdsBox.append(errorBox(error));
  }
}

// ---------------------------------------------------------------- start

/** The gated date's ACTIVE token, or null after sending the fan to the waiting room. */
async function activeToken() {
  if (!requireSignIn()) return null;
  const answer = await api('/queue/tokens', { method: 'POST', body: { scheduleId } });
  localStorage.setItem(queueKey, answer.token);
  if (answer.status !== 'ACTIVE') {
    location.replace(`/schedules/${schedulePath}/queue`);
    return null;
  }
  return answer.token;
}

async function start() {
  try {
    const schedule = await api(`/schedules/${schedulePath}`);
    if (schedule.queue && schedule.queue.enabled) {
      queueToken = await activeToken();
      if (!queueToken) return;
    }
    pending = []; // until the first drawing
    openStream();
    const mapAsked = api(`/schedules/${schedulePath}/seats`, { queueToken });
    mapAsked.catch(() => {}); // awaited below; a failure before then is not "unhandled"
    const concert = await api(`/concerts/${encodeURIComponent(schedule.concertId)}`);
    // The venue only names the sections: without it they are called by their ids.
    const [venue, map] = await Promise.all([
      api(`/venues/${encodeURIComponent(concert.venueId)}`).catch(() => null),
      mapAsked,
    ]);
    sectionNames = new Map((venue ? venue.sections : []).map((section) => [section.sectionId, section.name]));
    const grades = concert.priceGrades.map((grade) => grade.grade);
    colourOf = (grade) => GRADE_COLOURS[Math.max(0, grades.indexOf(grade)) % GRADE_COLOURS.length];
    concertShown = concert;
    layout(concert, schedule, concert.venueName);
    draw(map);
    setCounts(map);
    const missed = pending;
    pending = null;
    missed.forEach(applySeat);
    if (refreshAfterDraw) refresh();
    showMyHolds();
  } catch (error) {
    if (stream) stream.close();
    main.append(errorBox(error, h('p', {}, h('a', { href: '/' }, 'See all concerts'))));
  }
}

window.addEventListener('pagehide', () => { if (stream) stream.close(); });
start();
