// Venues (`/admin/venues`, ADMIN): the list, and a new venue's editor:
// sections (best first, as the API expects) -> rows -> the seat count of
// each row. The API validates the layout (ids, counts, limits); its
// refusals are shown next to the form in words.

import { api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import { busy, errorBox, field, formatTime, notice, pager, requireRole, startPage } from '../js/layout.js';

const PAGE_SIZE = 20;

const main = startPage('Venues');
const user = requireRole(main, ['ADMIN'], 'These pages are for box office admins. Your account cannot use them.');

let uid = 0;
/** A unique id for a label's `for` in the editor's repeated fields. */
function nextId(name) {
  uid += 1;
  return `v-${name}-${uid}`;
}

function numberOf(form, selector) {
  const input = form.querySelector(selector);
  return input && input.value !== '' ? Number(input.value) : NaN;
}

function rowEditor(rows, onChange, row = '', seats = '') {
  const line = h(
    'div',
    { class: 'editor-row venue-row' },
    field('Row', { id: nextId('row'), name: 'row', value: row, required: true, autocomplete: 'off' }),
    field('Seats in the row', { id: nextId('seats'), name: 'seats', type: 'number', min: 1, value: seats, required: true }),
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
  const fillRows = nextId('fill-rows');
  const fillSeats = nextId('fill-seats');
  const section = h(
    'fieldset',
    { class: 'editor venue-section' },
    h('legend', {}, 'Section'),
    h(
      'div',
      { class: 'editor-row' },
      field('Section id (letters and digits)', { id: nextId('section-id'), name: 'sectionId', required: true, autocomplete: 'off' }),
      field('Section name', { id: nextId('section-name'), name: 'sectionName', required: true, autocomplete: 'off' }),
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
      onSubmit: (event) => {
        event.preventDefault();
        replace(errors);
        busy(form, async () => {
          try {
            const venue = await api('/venues', { method: 'POST', body: venueBody(form) });
            notice(`Venue “${venue.name}” created with ${venue.capacity.toLocaleString('en')} seats.`);
            form.reset();
            replace(sections);
            sectionEditor(sections, count);
            onCreated(venue);
          } catch (error) {
            replace(errors, errorBox(error));
          }
        });
      },
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

async function drawList(where, page = 1) {
  try {
    const answer = await api(`/venues${query({ page, pageSize: PAGE_SIZE })}`);
    replace(
      where,
      answer.items.length
        ? h('ul', { class: 'cards', 'aria-label': 'Venues' }, answer.items.map(venueItem))
        : h('p', {}, 'No venues yet.'),
      pager(answer, (next) => drawList(where, next), 'Venue pages'),
    );
  } catch (error) {
    replace(where, errorBox(error));
  }
}

if (user) {
  const list = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('h2', {}, 'All venues'), list, createForm(() => drawList(list)));
  drawList(list);
}
