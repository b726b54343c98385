// A concert (`/concerts/{concertId}`): what it is, where, its prices by
// grade, and its dates, each with what is left and a way to its seat map
// (a date behind a waiting room sends the fan there first).

import { api } from '../js/api.js';
import { h } from '../js/dom.js';
import { errorBox, formatMoney, formatTime, setTitle, startPage } from '../js/layout.js';
import { saleStatusWords } from '../js/words.js';

function holdWords(seconds) {
  return seconds < 120 ? `${seconds} seconds` : `${Math.round(seconds / 60)} minutes`;
}

const main = startPage('Concert');
const concertId = decodeURIComponent(location.pathname.split('/')[2] || '');

function dateRow(concert, schedule) {
  const open = schedule.status === 'ON_SALE';
  // A schedule's own queue overrides the concert's (API.md).
  const queue = schedule.queue || concert.queue;
  const gated = Boolean(queue && queue.enabled);
  const target = gated
    ? `/schedules/${encodeURIComponent(schedule.scheduleId)}/queue`
    : `/schedules/${encodeURIComponent(schedule.scheduleId)}`;
  return h(
    'li',
    { class: 'card date' },
    h('h3', {}, formatTime(schedule.startsAt)),
    h(
      'p',
      {},
      saleStatusWords(schedule.status),
      ' · ',
      `${schedule.availableSeats.toLocaleString('en')} of ${schedule.totalSeats.toLocaleString('en')} seats left`,
    ),
    schedule.status === 'UPCOMING' ? h('p', { class: 'muted' }, `Opens ${formatTime(schedule.bookingOpensAt)}`) : null,
    open
      ? h('a', { class: 'button', href: target }, gated ? 'Join the waiting room' : 'Choose seats')
      : null,
  );
}

async function show() {
  try {
    const concert = await api(`/concerts/${encodeURIComponent(concertId)}`);
    setTitle(concert.title);
    main.append(
      h('p', { class: 'muted' }, [concert.category, concert.venueName].filter(Boolean).join(' · ')),
      concert.description ? h('p', {}, concert.description) : null,
      h('h2', {}, 'Prices'),
      h(
        'table',
        { class: 'prices' },
        h('caption', { class: 'visually-hidden' }, 'Prices by grade'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Grade'), h('th', { scope: 'col' }, 'Price'))),
        h(
          'tbody',
          {},
          concert.priceGrades.map((grade) =>
            h('tr', {}, h('th', { scope: 'row' }, grade.grade), h('td', {}, formatMoney(grade.price)))),
        ),
      ),
      h('p', { class: 'muted' }, `Up to ${concert.maxSeatsPerUser} seats per person; seats are held for ${holdWords(concert.holdSeconds)} while you pay.`),
      h('h2', {}, 'Dates'),
      concert.schedules.length
        ? h('ul', { class: 'cards' }, concert.schedules.map((schedule) => dateRow(concert, schedule)))
        : h('p', {}, 'No dates yet.'),
    );
  } catch (error) {
    main.append(errorBox(error, h('p', {}, h('a', { href: '/' }, 'See all concerts'))));
  }
}

show();
