// Venues (`/admin/venues`, ADMIN): the list, and a new venue's editor:
// sections (best first, as the API expects) -> rows -> the seat count of
// each row. The API validates the layout (ids, counts, limits); its
// refusals are shown next to the form in words.

import { api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { field, formatTime, notice, pagedList, requireAdmin, startPage, submitting, uniqueId } from '../js/layout.js';

const PAGE_SIZE = 20;

const main = startPage('Venues');
const user = requireAdmin(main);


function numberOf(form, selector) {
  const input = form.querySelector(selector);
  return input && input.value !== '' ? Number(input.value) : NaN;
}

function rowEditor(rows, onChange, row = '', seats = '') {
  const line = h(
    'div',
    { class: 'editor-row venue-row' },
    field('Row', { id: uniqueId('row'), name: 'row', value: row, required: true, autocomplete: 'off' }),
    field('Seats in the row', { id: uniqueId('seats'), name: 'seats', type: 'number', min: 1, value: seats, required: true }),
  );
  line.append(h('button', {
    type: 'button',
    class: 'secondary',
    onClick: () => { line.remove(); onChange(); },
  }, 'Remove row'));
  line.addEventListener('input', onChange);
  rows.append(line);
  onChange();
}

function sectionEditor(sections, onChange) {
  const rows = h('div', { class: 'venue-rows' });
  const fillRows = uniqueId('fill-rows');
  const fillSeats = uniqueId('fill-seats');
  const section = h(
    'fieldset',
    { class: 'editor venue-section' },
    h('legend', {}, 'Section'),
    h(
      'div',
      { class: 'editor-row' },
      field('Section id (letters and digits)', { id: uniqueId('section-id'), name: 'sectionId', required: true, autocomplete: 'off' }),
      field('Section name', { id: uniqueId('section-name'), name: 'sectionName', required: true, autocomplete: 'off' }),
    ),
    rows,
    h(
      'div',
      { class: 'editor-row' },
      field('Number of rows', { id: fillRows, name: 'fillRows', type: 'number', min: 1 }),
      field('Seats per row', { id: fillSeats, name: 'fillSeats', type: 'number', min: 1 }),
      h('button', {
        type: 'button',
        class: 'secondary',
        onClick: () => {
          const count = numberOf(section, `#${fillRows}`);
          const seats = numberOf(section, `#${fillSeats}`);
          if (!(count >= 1) || !(seats >= 1)) {
            notice('Give the number of rows and the seats per row first.');
            return;
          }
          replace(rows);
          for (let i = 1; i <= count; i += 1) rowEditor(rows, onChange, String(i), String(seats));
        },
      }, 'Fill rows 1, 2, 3…'),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onClick: () => rowEditor(rows, onChange) }, 'Add a row'),
      h('button', { type: 'button', class: 'secondary', onClick: () => { section.remove(); onChange(); } }, 'Remove section'),
    ),
  );
  sections.append(section);
  rowEditor(rows, onChange);
}

/** The request body from the editor, as typed (the API checks it). */
function venueBody(form) {
  return {
    name: form.querySelector('[name=name]').value.trim(),
    address: form.querySelector('[name=address]').value.trim(),
    sections: [...form.querySelectorAll('.venue-section')].map((section) => ({
      sectionId: section.querySelector('[name=sectionId]').value.trim(),
      name: section.querySelector('[name=sectionName]').value.trim(),
      rows: [...section.querySelectorAll('.venue-row')].map((row) => ({
        row: row.querySelector('[name=row]').value.trim(),
        seats: Number(row.querySelector('[name=seats]').value),
      })),
    })),
  };
}

function createForm(onCreated) {
  const sections = h('div', { class: 'venue-sections' });
  const total = h('p', { class: 'muted', 'aria-live': 'polite' });
  const errors = h('div');
  const form = h(
    'form',
    {
      id: 'venue-form',
      'aria-labelledby': 'venue-form-title',
      onSubmit: submitting(errors, async () => {
        const venue = await api('/venues', { method: 'POST', body: venueBody(form) });
        notice(`Venue “${venue.name}” created with ${venue.capacity.toLocaleString('en')} seats.`);
        form.reset();
        replace(sections);
        sectionEditor(sections, count);
        onCreated(venue);
      }),
    },
    h('h2', { id: 'venue-form-title' }, 'New venue'),
    field('Name', { name: 'name', id: 'venue-name', required: true, autocomplete: 'off' }),
    field('Address (one line)', { name: 'address', id: 'venue-address', required: true, autocomplete: 'off' }),
    h('p', { class: 'muted' }, 'Sections best first: the best-available search fills them in this order.'),
    sections,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onClick: () => sectionEditor(sections, count) }, 'Add a section')),
    total,
    errors,
    h('button', { type: 'submit' }, 'Create venue'),
  );
  function count() {
    const body = venueBody(form);
    const seats = body.sections.reduce((sum, s) => sum + s.rows.reduce((n, r) => n + (r.seats > 0 ? r.seats : 0), 0), 0);
    total.textContent = `${body.sections.length} section${body.sections.length === 1 ? '' : 's'}, ${seats.toLocaleString('en')} seats so far.`;
  }
  sectionEditor(sections, count);
  return form;
}

function venueItem(venue) {
  const rows = venue.sections.reduce((n, s) => n + s.rows.length, 0);
  return h(
    'li',
    { class: 'card' },
    h('h3', {}, venue.name),
    h('p', { class: 'muted' }, venue.address),
    h('p', {}, `${venue.capacity.toLocaleString('en')} seats · ${venue.sections.length} sections · ${rows} rows`),
    h('p', {}, 'Sections: ', venue.sections.map((s) => `${s.name} (${s.sectionId})`).join(', ')),
    h('p', { class: 'muted' }, `Added ${formatTime(venue.createdAt)}`),
  );
}

function drawList(where) {
  return pagedList(where, {
    fetchPage: (page) => api(`/venues${query({ page, pageSize: PAGE_SIZE })}`),
    draw: (venues) => h('ul', { class: 'cards', 'aria-label': 'Venues' }, venues.map(venueItem)),
    empty: 'No venues yet.',
    label: 'Venue pages',
  });
}

if (user) {
  const list = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('h2', {}, 'All venues'), list, createForm(() => drawList(list)));
  drawList(list);
}
