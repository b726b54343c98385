// Concerts and dates (`/admin/concerts`, ADMIN): every concert, drafts
// included (an admin's GET /concerts lists them), with its dates (each
// linking to the date's admin page), publishing a draft, and editing the
// title, description and category (PATCH); and a new concert on a venue:
// price grades by section, one or more dates, optionally as a DRAFT.
// Prices, windows and limits are checked by the API; the page shows its
// refusals next to the form.

import { allItems, api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import {
  errorBox, field, formatMoney, formatTime, notice, pagedList, requireAdmin, startPage, submitting, uniqueId,
} from '../js/layout.js';

const PAGE_SIZE = 20;
/** The first date a new concert's form suggests: this many days ahead, at 19:00, two hours long. */
const SUGGESTED_DAYS_AHEAD = 30;
const SUGGESTED_START_HOUR = 19;
const SUGGESTED_LENGTH_MS = 2 * 60 * 60 * 1000;

const main = startPage('Concerts and dates');
const user = requireAdmin(main);


/** A Date as a datetime-local input's value (local time, minutes). */
function localValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A datetime-local value as RFC 3339 UTC; '' stays '' (the API then names the field). */
function rfc3339(value) {
  const date = new Date(value);
  return value && !Number.isNaN(date.getTime()) ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : '';
}

function textArea(label, props) {
  const id = props.id || uniqueId(props.name);
  return h('div', { class: 'field' }, h('label', { for: id }, label), h('textarea', { rows: 3, ...props, id }));
}

// ---- The new concert's editors ----

function gradeEditor(where, venue, preset = {}) {
  const line = h(
    'fieldset',
    { class: 'editor grade-editor' },
    h('legend', {}, 'Price grade'),
    h(
      'div',
      { class: 'editor-row' },
      field('Grade', { id: uniqueId('grade'), name: 'grade', value: preset.grade || '', required: true, autocomplete: 'off' }),
      field('Price per seat (₩)', { id: uniqueId('price'), name: 'price', type: 'number', min: 0, step: 1, value: preset.price ?? '', required: true }),
    ),
    h(
      'fieldset',
      { class: 'checks' },
      h('legend', {}, 'Sections sold at this grade'),
      venue.sections.map((section) => h(
        'label',
        {},
        h('input', { type: 'checkbox', name: 'sectionIds', value: section.sectionId, checked: (preset.sectionIds || []).includes(section.sectionId) }),
        `${section.name} (${section.sectionId})`,
      )),
    ),
  );
  line.append(h('button', { type: 'button', class: 'secondary', onClick: () => line.remove() }, 'Remove grade'));
  where.append(line);
}

function dateEditor(where, preset) {
  const line = h(
    'fieldset',
    { class: 'editor date-editor' },
    h('legend', {}, 'Date'),
    h(
      'div',
      { class: 'editor-row' },
      field('Starts', { id: uniqueId('starts'), name: 'startsAt', type: 'datetime-local', value: preset.startsAt, required: true }),
      field('Ends', { id: uniqueId('ends'), name: 'endsAt', type: 'datetime-local', value: preset.endsAt, required: true }),
    ),
    h(
      'div',
      { class: 'editor-row' },
      field('Booking opens', { id: uniqueId('opens'), name: 'bookingOpensAt', type: 'datetime-local', value: preset.bookingOpensAt, required: true }),
      field('Booking closes', { id: uniqueId('closes'), name: 'bookingClosesAt', type: 'datetime-local', value: preset.bookingClosesAt, required: true }),
    ),
  );
  line.append(h('button', { type: 'button', class: 'secondary', onClick: () => line.remove() }, 'Remove date'));
  where.append(line);
}

/** A first date to edit: a month ahead at 19:00, booking open from now until the start. */
function suggestedDate(after) {
  const start = new Date(after ? after.getTime() + 24 * 60 * 60 * 1000 : Date.now() + SUGGESTED_DAYS_AHEAD * 24 * 60 * 60 * 1000);
  if (!after) start.setHours(SUGGESTED_START_HOUR, 0, 0, 0);
  const now = new Date();
  now.setSeconds(0, 0);
  return {
    start,
    startsAt: localValue(start),
    endsAt: localValue(new Date(start.getTime() + SUGGESTED_LENGTH_MS)),
    bookingOpensAt: localValue(now),
    bookingClosesAt: localValue(start),
  };
}

function concertBody(form) {
  const value = (name) => form.querySelector(`[name=${name}]`).value;
  const body = {
    title: value('title').trim(),
    description: value('description').trim(),
    category: value('category').trim(),
    venueId: value('venueId'),
    priceGrades: [...form.querySelectorAll('.grade-editor')].map((grade) => ({
      grade: grade.querySelector('[name=grade]').value.trim(),
      price: Number(grade.querySelector('[name=price]').value),
      sectionIds: [...grade.querySelectorAll('[name=sectionIds]:checked')].map((c) => c.value),
    })),
    schedules: [...form.querySelectorAll('.date-editor')].map((date) => ({
      startsAt: rfc3339(date.querySelector('[name=startsAt]').value),
      endsAt: rfc3339(date.querySelector('[name=endsAt]').value),
      bookingOpensAt: rfc3339(date.querySelector('[name=bookingOpensAt]').value),
      bookingClosesAt: rfc3339(date.querySelector('[name=bookingClosesAt]').value),
    })),
    status: value('status'),
  };
  if (value('maxSeatsPerUser') !== '') body.maxSeatsPerUser = Number(value('maxSeatsPerUser'));
  if (value('holdSeconds') !== '') body.holdSeconds = Number(value('holdSeconds'));
  return body;
}

function createForm(venues, onCreated) {
  const grades = h('div', { class: 'grades' });
  const dates = h('div', { class: 'dates' });
  const errors = h('div');
  let lastStart = null;
  const venueSelect = h(
    'select',
    { id: 'concert-venue', name: 'venueId', required: true },
    h('option', { value: '' }, 'Choose a venue'),
    venues.map((v) => h('option', { value: v.venueId }, `${v.name} (${v.capacity.toLocaleString('en')} seats)`)),
  );
  const addGrade = h('button', { type: 'button', class: 'secondary', disabled: true, onClick: () => gradeEditor(grades, chosenVenue()) }, 'Add a grade');

  function chosenVenue() {
    return venues.find((v) => v.venueId === venueSelect.value) || null;
  }

  function venueChanged() {
    replace(grades);
    const venue = chosenVenue();
    addGrade.disabled = !venue;
    if (!venue) {
      grades.append(h('p', { class: 'muted' }, 'Choose a venue to price its sections.'));
      return;
    }
    // One grade per section to start from; merge them by ticking several sections on one grade.
    venue.sections.forEach((section) => gradeEditor(grades, venue, { grade: section.sectionId, sectionIds: [section.sectionId] }));
  }

  function addDate() {
    const preset = suggestedDate(lastStart);
    lastStart = preset.start;
    dateEditor(dates, preset);
  }

  venueSelect.addEventListener('change', venueChanged);
  const form = h(
    'form',
    {
      id: 'concert-form',
      'aria-labelledby': 'concert-form-title',
      onSubmit: submitting(errors, async () => {
        const concert = await api('/concerts', { method: 'POST', body: concertBody(form) });
        notice(`“${concert.title}” created${concert.status === 'DRAFT' ? ' as a draft' : ''} with ${concert.schedules.length} date${concert.schedules.length === 1 ? '' : 's'}.`);
        form.reset();
        venueChanged();
        replace(dates);
        lastStart = null;
        addDate();
        onCreated(concert);
      }),
    },
    h('h2', { id: 'concert-form-title' }, 'New concert'),
    field('Title', { name: 'title', id: 'concert-title', required: true, autocomplete: 'off' }),
    textArea('Description', { name: 'description', id: 'concert-description' }),
    field('Category (for example JAZZ, K-POP)', { name: 'category', id: 'concert-category', required: true, autocomplete: 'off' }),
    h('div', { class: 'field' }, h('label', { for: 'concert-venue' }, 'Venue'), venueSelect),
    h('h3', {}, 'Price grades'),
    grades,
    h('div', { class: 'actions' }, addGrade),
    h('h3', {}, 'Dates'),
    dates,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onClick: addDate }, 'Add a date')),
    h(
      'div',
      { class: 'editor-row' },
      field('Seats per person (default 4)', { name: 'maxSeatsPerUser', id: 'concert-max-seats', type: 'number', min: 1 }),
      field('Hold seconds while paying (default 300)', { name: 'holdSeconds', id: 'concert-hold', type: 'number', min: 1 }),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'concert-status' }, 'Visible to fans'),
      h(
        'select',
        { id: 'concert-status', name: 'status' },
        h('option', { value: 'PUBLISHED' }, 'Yes, publish it now'),
        h('option', { value: 'DRAFT' }, 'Not yet: a draft only admins see until it is published'),
      ),
    ),
    errors,
    h('button', { type: 'submit' }, 'Create concert'),
  );
  venueChanged();
  addDate();
  return form;
}

// ---- The list ----

function editForm(concert, onSaved) {
  const errors = h('div');
  const form = h(
    'form',
    {
      class: 'concert-edit',
      'aria-label': `Edit ${concert.title}`,
      onSubmit: submitting(errors, async (data) => {
        const body = {
          title: String(data.get('title')).trim(),
          description: String(data.get('description')).trim(),
          category: String(data.get('category')).trim(),
        };
        const saved = await api(`/concerts/${encodeURIComponent(concert.concertId)}`, { method: 'PATCH', body });
        notice(`Saved “${saved.title}”.`);
        onSaved();
      }),
    },
    field('Title', { name: 'title', id: uniqueId('edit-title'), value: concert.title, required: true }),
    textArea('Description', { name: 'description', id: uniqueId('edit-description') }),
    field('Category', { name: 'category', id: uniqueId('edit-category'), value: concert.category, required: true }),
    errors,
    h('button', { type: 'submit' }, 'Save changes'),
  );
  form.querySelector('textarea').value = concert.description;
  return form;
}

function datesTable(concert) {
  if (!concert.schedules.length) return h('p', {}, 'No dates.');
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'admin-table' },
      h('caption', { class: 'visually-hidden' }, `Dates of ${concert.title}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'number' }, 'Seats left'))),
      h('tbody', {}, concert.schedules.map((s) => h(
        'tr',
        {},
        h('th', { scope: 'row' }, h('a', { href: `/admin/schedules/${encodeURIComponent(s.scheduleId)}?concert=${encodeURIComponent(concert.concertId)}` }, formatTime(s.startsAt))),
        h('td', {}, s.status.replace('_', ' ').toLowerCase()),
        h('td', { class: 'number' }, `${s.availableSeats.toLocaleString('en')} of ${s.totalSeats.toLocaleString('en')}`),
      ))),
    ),
  );
}

function concertItem(item, reload) {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const more = h('details', {}, h('summary', {}, 'Dates and editing'), body);
  let loaded = false;
  async function load() {
    try {
      const concert = await api(`/concerts/${encodeURIComponent(item.concertId)}`);
      replace(
        body,
        h('p', {}, concert.priceGrades.map((g) => `${g.grade} ${formatMoney(g.price)}`).join(' · ')),
        datesTable(concert),
        h('h4', {}, 'Edit'),
        editForm(concert, reload),
      );
    } catch (error) {
      replace(body, errorBox(error));
    }
  }
  more.addEventListener('toggle', () => {
    if (more.open && !loaded) {
      loaded = true;
      load();
    }
  });
  const problem = h('div');
  const publish = item.status === 'DRAFT'
    ? h('button', {
      type: 'button',
      onClick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await api(`/concerts/${encodeURIComponent(item.concertId)}/publish`, { method: 'POST' });
          notice(`“${item.title}” is published: fans can see it now.`);
          reload();
        } catch (error) {
          button.disabled = false;
          replace(problem, errorBox(error));
        }
      },
    }, 'Publish')
    : null;
  return h(
    'li',
    { class: 'card concert-item', 'data-concert-id': item.concertId },
    h('h3', {}, item.title, ' ', h('span', { class: `badge ${item.status === 'DRAFT' ? 'draft' : 'published'}` }, item.status === 'DRAFT' ? 'Draft' : 'Published')),
    h('p', { class: 'muted' }, [item.category, item.venueName].join(' · ')),
    item.firstStartsAt ? h('p', {}, `First date ${formatTime(item.firstStartsAt)}`) : null,
    publish,
    problem,
    more,
  );
}

function drawList(where) {
  const reload = () => drawList(where);
  return pagedList(where, {
    fetchPage: (page) => api(`/concerts${query({ page, pageSize: PAGE_SIZE, sort: 'createdAt', order: 'desc' })}`),
    draw: (items) => h('ul', { class: 'cards concert-list', 'aria-label': 'Concerts' }, items.map((item) => concertItem(item, reload))),
    empty: 'No concerts yet.',
    label: 'Concert pages',
  });
}

async function draw() {
  const list = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const formPlace = h('div');
  main.append(h('h2', {}, 'All concerts, newest first'), list, formPlace);
  drawList(list);
  try {
    const venues = await allItems('/venues');
    if (!venues.length) {
      replace(formPlace, h('p', {}, 'Create a venue first: ', h('a', { href: '/admin/venues' }, 'Venues'), '.'));
      return;
    }
    replace(formPlace, createForm(venues, () => drawList(list)));
  } catch (error) {
    replace(formPlace, errorBox(error));
  }
}

if (user) draw();
