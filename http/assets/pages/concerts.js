// The concert list (`/`, `/?q=words`): every published concert, soonest
// first, or the search's best matches (GET /search/concerts, typo-tolerant)
// when words are given. "More" pages through (pageSize 20).

import { api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { errorBox, formatMoney, formatTime, startPage } from '../js/layout.js';

const PAGE_SIZE = 20;

const main = startPage('Concerts');
const params = new URLSearchParams(location.search);
const input = h('input', {
  type: 'search',
  id: 'search-q',
  name: 'q',
  value: params.get('q') || '',
  placeholder: 'Artist, title or venue',
  autocomplete: 'off',
});
const form = h(
  'form',
  { class: 'search', role: 'search', onSubmit: (event) => { event.preventDefault(); load(input.value.trim(), 1); } },
  h('label', { for: 'search-q' }, 'Search concerts'),
  h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Search')),
);
const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
const list = h('ul', { class: 'cards', 'aria-label': 'Concerts' });
const more = h('div', { class: 'more' });
main.append(form, status, list, more);

function priceRange(item) {
  if (item.minPrice == null) return '';
  return item.minPrice === item.maxPrice
    ? formatMoney(item.minPrice)
    : `${formatMoney(item.minPrice)} – ${formatMoney(item.maxPrice)}`;
}

function card(item) {
  return h(
    'li',
    { class: 'card' },
    h('h2', {}, h('a', { href: `/concerts/${encodeURIComponent(item.concertId)}` }, item.title)),
    h('p', { class: 'muted' }, [item.category, item.venueName].filter(Boolean).join(' · ')),
    item.firstStartsAt ? h('p', {}, formatTime(item.firstStartsAt)) : null,
    h(
      'p',
      {},
      priceRange(item),
      ' · ',
      item.availableSeats > 0 ? `${item.availableSeats.toLocaleString('en')} seats left` : 'Sold out',
    ),
  );
}

async function load(q, page) {
  const url = new URL(location.href);
  if (q) url.searchParams.set('q', q); else url.searchParams.delete('q');
  history.replaceState(null, '', url);
  if (page === 1) replace(list);
  replace(more);
  status.textContent = 'Loading…';
  try {
    const answer = q
      ? await api(`/search/concerts${query({ q, page, pageSize: PAGE_SIZE })}`, { auth: false })
      : await api(`/concerts${query({ page, pageSize: PAGE_SIZE, sort: 'startsAt', order: 'asc' })}`, { auth: false });
    list.append(...answer.items.map(card));
    const shown = (page - 1) * PAGE_SIZE + answer.items.length;
    status.textContent = answer.total === 0
      ? (q ? `No concerts match “${q}”.` : 'No concerts yet.')
      : `${answer.total} concert${answer.total === 1 ? '' : 's'}${q ? ` matching “${q}”` : ''}`;
    if (shown < answer.total) {
      more.append(h('button', { type: 'button', onClick: () => load(q, page + 1) }, 'Show more'));
    }
  } catch (error) {
    status.textContent = '';
    replace(more, errorBox(error));
  }
}

load(input.value.trim(), 1);
