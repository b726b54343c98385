// The door check-in page (`/door`, STAFF or ADMIN): pick the show (a
// concert, then one of its dates), then check tickets in one after another
// by their code (POST /checkins with the door's scheduleId), typed, pasted
// or, where the browser has `BarcodeDetector`, scanned with the camera.
// Each answer is a big green or red box with the seat, or the refusal in
// words from the API's own details (when a ticket was used, which show it is
// for). Whether a ticket admits is the API's decision alone.
//
// `?schedule=<id>&concert=<id>` keeps the chosen show across reloads.

import { allItems, api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { busy, errorBox, formatTime, requireRole, startPage } from '../js/layout.js';
import { explain } from '../js/words.js';

/** The door offers shows that started at most this long ago, or later (a late show's doors, a test run). */
const LOOKBACK_MS = 24 * 60 * 60 * 1000;
/** At most this many pages of concerts are offered (100 each). */
const MAX_CONCERT_PAGES = 10;
/** Answers kept in the "recent" list below the form. */
const RECENT_ANSWERS = 10;
/** Camera scanning: how often a video frame is looked at, and how long the same code is ignored after it was read. */
const SCAN_INTERVAL_MS = 250;
const SAME_CODE_PAUSE_MS = 4000;

const main = startPage('Door check-in');
const user = requireRole(main, ['STAFF', 'ADMIN'], 'The door check-in is for box office staff. Your account cannot check tickets in.');

/** When a ticket was used, to the second (two guests a minute apart matter at a door). */
const usedTime = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'medium' });

function seatWords(seat) {
  return `Section ${seat.sectionId} · Row ${seat.row} · Seat ${seat.number}`;
}

/** `from` for the lists: the earliest start a door may still be checking in for. */
function earliestStart() {
  return new Date(Date.now() - LOOKBACK_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A concert's dates from `earliestStart()` on, sold out ones included (their doors open too). */
function datesOf(concertId) {
  return allItems(`/concerts/${encodeURIComponent(concertId)}/schedules`, { available: false, from: earliestStart() });
}

function option(value, text, selected) {
  return h('option', { value, selected: selected || false }, text);
}

/** The show picker: concert, then date. Calls `onPick({concert, schedule})` or `onPick(null)`. */
function showPicker(concerts, onPick) {
  const params = new URLSearchParams(location.search);
  const concertSelect = h(
    'select',
    { id: 'door-concert', name: 'concert' },
    option('', 'Choose a concert'),
    concerts.map((c) => option(c.concertId, c.title, c.concertId === params.get('concert'))),
  );
  const dateSelect = h('select', { id: 'door-date', name: 'schedule', disabled: true }, option('', 'Choose a concert first'));
  const problem = h('div');
  let dates = [];

  function remember(concertId, scheduleId) {
    const url = new URL(location.href);
    url.search = query({ concert: concertId, schedule: scheduleId });
    history.replaceState(null, '', url);
  }

  function pickDate() {
    const schedule = dates.find((d) => d.scheduleId === dateSelect.value) || null;
    const concert = concerts.find((c) => c.concertId === concertSelect.value) || null;
    remember(concertSelect.value, schedule ? schedule.scheduleId : '');
    onPick(schedule && concert ? { concert, schedule } : null);
  }

  async function pickConcert(wantedSchedule) {
    replace(problem);
    dates = [];
    replace(dateSelect, option('', concertSelect.value ? 'Loading dates…' : 'Choose a concert first'));
    dateSelect.disabled = true;
    onPick(null);
    if (!concertSelect.value) {
      remember('', '');
      return;
    }
    try {
      dates = await datesOf(concertSelect.value);
    } catch (error) {
      replace(problem, errorBox(error));
      return;
    }
    replace(
      dateSelect,
      option('', dates.length ? 'Choose a date' : 'This concert has no dates'),
      dates.map((d) => option(d.scheduleId, `${formatTime(d.startsAt)}${d.status === 'CANCELLED' ? ' (cancelled)' : ''}`,
        d.scheduleId === wantedSchedule)),
    );
    dateSelect.disabled = dates.length === 0;
    pickDate();
  }

  concertSelect.addEventListener('change', () => pickConcert(''));
  dateSelect.addEventListener('change', pickDate);
  if (concertSelect.value) pickConcert(params.get('schedule') || '');

  return h(
    'fieldset',
    { class: 'door-show' },
    h('legend', {}, 'Show at this door'),
    h('div', { class: 'field' }, h('label', { for: 'door-concert' }, 'Concert'), concertSelect),
    h('div', { class: 'field' }, h('label', { for: 'door-date' }, 'Date'), dateSelect),
    problem,
  );
}

/** The words and colour of a check-in's answer (`ok` true for admitted). */
function admitted(answer) {
  return {
    ok: true,
    headline: 'Admitted',
    seat: seatWords(answer.seat),
    detail: `${answer.concert.title} · ${formatTime(answer.schedule.startsAt)}`,
  };
}

function refused(error) {
  const details = (error && error.details) || {};
  switch (error && error.code) {
    case 'TICKET_ALREADY_USED':
      return {
        ok: false,
        headline: 'Already used',
        detail: details.usedAt
          ? `This ticket was already checked in at ${usedTime.format(new Date(details.usedAt))}. Do not admit a second time.`
          : 'This ticket was already checked in. Do not admit a second time.',
      };
    case 'WRONG_SCHEDULE': {
      const concert = details.concert || {};
      const schedule = details.schedule || {};
      const when = schedule.startsAt ? formatTime(schedule.startsAt) : 'another date';
      return {
        ok: false,
        headline: 'Wrong show',
        detail: `This ticket is for ${concert.title || 'another concert'}, ${when}, not this show. It was not used.`,
      };
    }
    case 'INVALID_TICKET':
      return {
        ok: false,
        headline: 'Not a valid ticket',
        detail: 'The code is forged, cancelled (refunded) or unknown. Do not admit.',
      };
    default:
      return { ok: false, headline: 'Not checked in', detail: explain(error) };
  }
}

function answerBox(result) {
  return h(
    'div',
    { class: `door-answer ${result.ok ? 'good' : 'bad'}`, 'data-result': result.ok ? 'admitted' : 'refused' },
    h('p', { class: 'door-headline' }, result.ok ? '✓ ' : '✗ ', result.headline),
    result.seat ? h('p', { class: 'door-seat' }, result.seat) : null,
    h('p', {}, result.detail),
  );
}

/** The camera scanner, offered only where the browser has BarcodeDetector. */
function scanner(onCode) {
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices) return null;
  const video = h('video', { class: 'door-video', muted: true, playsinline: true, 'aria-label': 'Camera view' });
  const status = h('p', { class: 'muted', role: 'status' });
  const toggle = h('button', { type: 'button', class: 'secondary' }, 'Scan with the camera');
  let stream = null;
  let timer = null;
  let last = { code: '', at: 0 };

  function stop() {
    clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.hidden = true;
    toggle.textContent = 'Scan with the camera';
    status.textContent = '';
  }

  async function start() {
    let detector;
    try {
      detector = new window.BarcodeDetector({ formats: ['qr_code'] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    } catch {
      stop();
      status.textContent = 'The camera is not available (permission refused or no camera). Type or paste the code instead.';
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    await video.play().catch(() => {});
    toggle.textContent = 'Stop the camera';
    status.textContent = 'Hold the ticket’s QR code in front of the camera.';
    timer = setInterval(async () => {
      if (video.readyState < 2) return;
      let codes = [];
      try {
        codes = await detector.detect(video);
      } catch {
        return; // A frame the detector could not read: try the next one.
      }
      const code = codes.length ? codes[0].rawValue : '';
      const now = Date.now();
      if (!code || (code === last.code && now - last.at < SAME_CODE_PAUSE_MS)) return;
      last = { code, at: now };
      onCode(code);
    }, SCAN_INTERVAL_MS);
  }

  toggle.addEventListener('click', () => (stream ? stop() : start()));
  video.hidden = true;
  return h('div', { class: 'door-scanner' }, toggle, status, video);
}

function checkInDesk() {
  let show = null;
  const input = h('input', {
    id: 'door-code',
    name: 'qrCode',
    autocomplete: 'off',
    autocapitalize: 'off',
    spellcheck: 'false',
    required: true,
    disabled: true,
  });
  const submit = h('button', { type: 'submit', disabled: true }, 'Check in');
  const answer = h('div', { class: 'door-answer-region', 'aria-live': 'assertive', 'aria-atomic': 'true' });
  const recent = h('ol', { class: 'door-recent', 'aria-label': 'Recent answers' });
  const showLine = h('p', { class: 'muted' }, 'Choose the show first.');

  async function checkIn(code) {
    const qrCode = code.trim();
    if (!qrCode || !show) return;
    let result;
    try {
      result = admitted(await api('/checkins', { method: 'POST', body: { qrCode, scheduleId: show.schedule.scheduleId } }));
    } catch (error) {
      result = refused(error);
    }
    replace(answer, answerBox(result));
    recent.prepend(h('li', { class: result.ok ? 'good' : 'bad' },
      `${new Date().toLocaleTimeString('en')} · ${result.headline}${result.seat ? ` · ${result.seat}` : ''}`));
    while (recent.children.length > RECENT_ANSWERS) recent.lastElementChild.remove();
    input.value = '';
  }

  const form = h(
    'form',
    {
      class: 'door-form',
      onSubmit: async (event) => {
        event.preventDefault();
        await busy(form, () => checkIn(input.value));
        input.focus();
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'door-code' }, 'Ticket code'), h('div', { class: 'row' }, input, submit)),
  );

  const camera = scanner((code) => busy(form, () => checkIn(code)).then(() => input.focus()));

  function setShow(picked) {
    show = picked;
    input.disabled = !show;
    submit.disabled = !show;
    replace(answer);
    showLine.textContent = show
      ? `Checking in for ${show.concert.title}, ${formatTime(show.schedule.startsAt)}.`
      : 'Choose the show first.';
    if (show) input.focus();
  }

  const desk = h(
    'section',
    { class: 'door-desk', 'aria-labelledby': 'door-desk-title' },
    h('h2', { id: 'door-desk-title' }, 'Check a ticket in'),
    showLine,
    form,
    camera,
    answer,
    h('h2', {}, 'Recent answers'),
    recent,
  );
  return { desk, setShow };
}

async function draw() {
  let concerts;
  try {
    concerts = await allItems('/concerts', { sort: 'startsAt', order: 'asc', from: earliestStart() }, MAX_CONCERT_PAGES);
  } catch (error) {
    main.append(errorBox(error));
    return;
  }
  const { desk, setShow } = checkInDesk();
  main.append(showPicker(concerts, setShow), desk);
}

if (user) draw();
