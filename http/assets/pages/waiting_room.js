// The waiting room of a date (`/schedules/{scheduleId}/queue`): joins its
// queue (POST /queue/tokens; joining again answers the same token and
// place), keeps the token where the seat map and checkout look for it
// (localStorage `boxoffice.queue.<scheduleId>`), and follows it live on the
// token's stream (`event: queue`, the token answer): place in line, the
// wait in words, the pre-queue explained, and on ACTIVE a move to the seat
// map. The order, the ETA and every refusal are the API's.
//
// Screen readers hear the place politely, and not every time it changes:
// when the status changes, or at most every ANNOUNCE_EVERY_MS otherwise.

import { api } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { errorBox, formatTime, setTitle, startPage } from '../js/layout.js';
import { requireSignIn } from '../js/session.js';

/** The least time between two spoken updates of the place in line. */
const ANNOUNCE_EVERY_MS = 30_000;
/** A stream that fails is replaced by joining again after this long (at least). */
const REJOIN_MIN_MS = 1_000;

const main = startPage('Waiting room');
const scheduleId = decodeURIComponent(location.pathname.split('/')[2] || '');
const schedulePath = encodeURIComponent(scheduleId);
const queueKey = `boxoffice.queue.${scheduleId}`;
const mapPath = `/schedules/${schedulePath}`;

const place = h('p', { class: 'queue-place' });
const placeWords = h('p', {});
const wait = h('p', {});
const explainer = h('p', { class: 'muted' });
const spoken = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
const errors = h('div');
const card = h('section', { class: 'queue-card', 'aria-labelledby': 'queue-title' }, h('h2', { id: 'queue-title' }, 'Your place'), place, placeWords, wait, explainer);

let schedule = null;
let stream = null;
let lastStatus = null;
let lastSpokenAt = 0;
let moving = false;

/** A wait in words: "less than a minute", "about 4 minutes", "about 2 hours". */
function waitWords(seconds) {
  if (seconds == null) return '';
  if (seconds < 60) return 'less than a minute';
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  return `about ${hours} hour${hours === 1 ? '' : 's'}`;
}

function say(text, force) {
  const now = Date.now();
  if (!force && now - lastSpokenAt < ANNOUNCE_EVERY_MS) return;
  lastSpokenAt = now;
  spoken.textContent = text;
}

function show(answer) {
  localStorage.setItem(queueKey, answer.token);
  const changed = answer.status !== lastStatus;
  lastStatus = answer.status;
  if (answer.status === 'ACTIVE') {
    place.textContent = "It's your turn";
    placeWords.textContent = 'Taking you to the seats…';
    replace(wait);
    replace(explainer);
    say("It's your turn. Taking you to the seats.", true);
    moveOn();
    return;
  }
  if (answer.status === 'PRE_QUEUE') {
    place.textContent = 'You are in';
    placeWords.textContent = schedule
      ? `The sale opens ${formatTime(schedule.bookingOpensAt)}.`
      : 'The sale has not opened yet.';
    wait.textContent = 'At opening, everyone who joined before then is put in line in an order drawn at random, ahead of anyone who joins later: arriving earlier now does not help, so there is no need to hurry or reload.';
    replace(explainer, 'Keep this page open: it updates by itself and takes you to the seats when it is your turn.');
    say(placeWords.textContent, changed);
    return;
  }
  const position = answer.position ?? 0;
  place.textContent = `${position.toLocaleString('en')}`;
  placeWords.textContent = position === 1 ? 'You are next in line.' : `You are number ${position.toLocaleString('en')} in line.`;
  wait.textContent = answer.estimatedWaitSeconds == null ? '' : `Expected wait: ${waitWords(answer.estimatedWaitSeconds)}.`;
  replace(explainer, 'Keep this page open: it updates by itself and takes you to the seats when it is your turn. Leaving for more than two minutes loses your place.');
  say(`${placeWords.textContent} ${wait.textContent}`, changed);
}

function moveOn() {
  if (moving) return;
  moving = true;
  if (stream) stream.close();
  location.assign(mapPath);
}

/** Follows the token on its stream; if the stream fails (the token expired, say), joins again. */
function follow(answer, pollAfterMs) {
  if (stream) stream.close();
  stream = new EventSource(`/api/v1/queue/tokens/${encodeURIComponent(answer.token)}/stream`);
  stream.addEventListener('queue', (event) => {
    const next = JSON.parse(event.data);
    pollAfterMs = next.pollAfterMs;
    show(next);
  });
  stream.addEventListener('error', () => {
    if (moving) return;
    // The stream ends after ACTIVE (handled above), or was refused: a token
    // that ran out. Joining again answers the same place, or a new one.
    stream.close();
    setTimeout(join, Math.max(REJOIN_MIN_MS, pollAfterMs || 0));
  });
}

async function join() {
  try {
    const answer = await api('/queue/tokens', { method: 'POST', body: { scheduleId } });
    replace(errors);
    card.hidden = false;
    show(answer);
    if (answer.status !== 'ACTIVE') follow(answer, answer.pollAfterMs);
  } catch (error) {
    card.hidden = true;
    const opensAt = error.code === 'QUEUE_NOT_OPEN' && error.details && error.details.opensAt;
    replace(errors, errorBox(
      error,
      opensAt ? h('p', {}, `It opens ${formatTime(opensAt)}: come back then.`) : null,
      h('p', {}, h('a', { href: '/' }, 'See all concerts')),
    ));
    if (error instanceof TypeError) setTimeout(join, REJOIN_MIN_MS * 5);
  }
}

async function start() {
  if (!requireSignIn()) return;
  try {
    schedule = await api(`/schedules/${schedulePath}`);
    const concert = await api(`/concerts/${encodeURIComponent(schedule.concertId)}`);
    setTitle(`Waiting room: ${concert.title}`);
    main.append(
      h('p', { class: 'muted' }, formatTime(schedule.startsAt), ' · ', concert.venueName, ' · ', h('a', { href: `/concerts/${encodeURIComponent(concert.concertId)}` }, 'All dates')),
      errors,
      card,
      spoken,
    );
  } catch (error) {
    main.append(errorBox(error, h('p', {}, h('a', { href: '/' }, 'See all concerts'))));
    return;
  }
  place.textContent = 'Joining…';
  await join();
}

window.addEventListener('pagehide', () => { if (stream) stream.close(); });
start();
