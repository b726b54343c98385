// The seat map's drawing (`/schedules/{id}`): one SVG of a schedule's seats,
// sections one after another as the venue lists them (best first), each seat
// a <rect> carrying `data-seat-id` and `data-status`. It only draws and
// reports: which seats may be picked, prices and holds are the page's (and
// the API's) business.
//
// Kept lean for 2,000 seats updated 50 times a second: a seat is one element
// with no children and no listeners of its own (one delegated listener per
// kind of event), its colour comes from its section's `fill`, and its status
// from CSS on `data-status` (app.css, "Seat map"), so a live update is one
// attribute write, never a re-render. Status shows by more than colour:
// held seats are striped, sold ones shrunk and dark, picked ones outlined,
// and a seat's name, status and price are its tooltip (one <title> moved to
// the seat under the pointer) and, for the keyboard, its label.
//
// Keyboard: the map is one tab stop (a roving tabindex). Arrow keys move
// between seats (up and down keep the place in the row, crossing into the
// next section), Home and End go to a row's ends, Enter or Space picks.

import { s } from './dom.js';

/** Drawing units: a seat's side, the distance between seats, margins. */
const SEAT = 12;
const PITCH = 16;
const LABEL_W = 44;
const SECTION_HEAD = 30;
const SECTION_GAP = 14;
const STAGE_H = 40;
/** The most a map is enlarged to fill its box (zooming in goes further). */
const MAX_SCALE = 1.6;

/** Grade colours, in the order the concert lists its grades (contrast >= 3:1 on white). */
export const GRADE_COLOURS = ['#7c3aed', '#be185d', '#0369a1', '#15803d', '#b45309', '#0f766e', '#4338ca', '#a21caf'];

const STATUS_WORDS = {
  AVAILABLE: 'available',
  HELD: 'held by someone',
  SOLD: 'sold',
  BLOCKED: 'blocked by the box office',
};

/**
 * Draws `map` (GET /schedules/{id}/seats). `names`: section id → name (the
 * venue's), `colourOf(grade)`: the fill of a grade, `onActivate(seat)`: a
 * seat was clicked, tapped, or chosen with Enter/Space. Returns the map:
 * `{svg, seats, setStatus, setPicked}`; `seats` is seatId → seat record
 * `{id, el, sectionId, sectionName, grade, price, row, number, status}`.
 */
export function drawSeatMap(map, { names, colourOf, formatPrice, onActivate }) {
  const widest = Math.max(1, ...map.sections.flatMap((section) => section.rows.map((row) => row.seats.length)));
  const width = LABEL_W * 2 + widest * PITCH;
  const seats = new Map();
  const rows = []; // every row's seat records, top to bottom: the keyboard's grid
  const picked = new Set();

  const title = s('title');
  const groups = [];
  let y = STAGE_H + SECTION_GAP;
  for (const section of map.sections) {
    const name = names.get(section.sectionId) || `Section ${section.sectionId}`;
    const seatEls = [];
    const labels = [];
    labels.push(s('text', { x: LABEL_W + (widest * PITCH) / 2, y: y + 20, 'text-anchor': 'middle', class: 'section-name' }, `${name} · ${section.grade} · ${formatPrice(section.price)}`));
    y += SECTION_HEAD;
    for (const row of section.rows) {
      const left = LABEL_W + ((widest - row.seats.length) * PITCH) / 2;
      labels.push(s('text', { x: LABEL_W - 8, y: y + SEAT - 2, class: 'row-name', 'text-anchor': 'end' }, row.row));
      const records = [];
      row.seats.forEach((seat, i) => {
        const el = s('rect', {
          x: left + i * PITCH,
          y,
          width: SEAT,
          height: SEAT,
          rx: 3,
          class: 'seat',
          'data-seat-id': seat.seatId,
          'data-status': seat.status,
        });
        const record = {
          id: seat.seatId,
          el,
          sectionId: section.sectionId,
          sectionName: name,
          grade: section.grade,
          price: section.price,
          row: row.row,
          number: seat.seatId.slice(seat.seatId.lastIndexOf('-') + 1),
          status: seat.status,
          rowIndex: rows.length,
          index: i,
        };
        seats.set(seat.seatId, record);
        records.push(record);
        seatEls.push(el);
      });
      rows.push(records);
      y += PITCH;
    }
    groups.push(s('g', { class: 'section', fill: colourOf(section.grade) }, labels, seatEls));
    y += SECTION_GAP;
  }

  const svg = s(
    'svg',
    {
      class: 'seatmap',
      viewBox: `0 0 ${width} ${y}`,
      width,
      height: y,
      role: 'group',
      'aria-label': 'Seats',
      'aria-describedby': 'seat-help',
    },
    s(
      'defs',
      {},
      s(
        'pattern',
        { id: 'seat-held', width: 4, height: 4, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        s('rect', { width: 4, height: 4, fill: '#e4e2ea' }),
        s('rect', { width: 2, height: 4, fill: '#6b6878' }),
      ),
    ),
    s('rect', { x: LABEL_W, y: 4, width: widest * PITCH, height: STAGE_H - 12, rx: 6, class: 'stage' }),
    s('text', { x: LABEL_W + (widest * PITCH) / 2, y: STAGE_H / 2 + 4, 'text-anchor': 'middle', class: 'stage-name' }, 'Stage'),
    groups,
  );

  // A small hall is not blown up to the page's width (CSSOM, which the
  // pages' CSP allows, unlike a style attribute).
  svg.style.maxWidth = `${Math.round(width * MAX_SCALE)}px`;

  const label = (seat) => {
    const status = STATUS_WORDS[seat.status] || seat.status.toLowerCase();
    const mine = picked.has(seat.id) ? ', picked by you' : '';
    return `${seat.sectionName}, row ${seat.row}, seat ${seat.number} (${seat.grade}, ${formatPrice(seat.price)}): ${status}${mine}`;
  };

  // The one keyboard stop: the first available seat, or the first seat.
  let current = null;
  const describe = (seat) => {
    seat.el.setAttribute('aria-label', label(seat));
    seat.el.setAttribute('aria-pressed', picked.has(seat.id) ? 'true' : 'false');
    if (seat.status !== 'AVAILABLE') seat.el.setAttribute('aria-disabled', 'true');
    else seat.el.removeAttribute('aria-disabled');
  };
  const makeCurrent = (seat, focus) => {
    if (current && current !== seat) {
      for (const name of ['tabindex', 'role', 'aria-label', 'aria-pressed', 'aria-disabled']) current.el.removeAttribute(name);
    }
    current = seat;
    seat.el.setAttribute('tabindex', '0');
    seat.el.setAttribute('role', 'button');
    describe(seat);
    if (focus) seat.el.focus();
  };
  const first = [...seats.values()];
  if (first.length) makeCurrent(first.find((seat) => seat.status === 'AVAILABLE') || first[0], false);

  const seatOf = (target) => {
    const el = target instanceof Element ? target.closest('[data-seat-id]') : null;
    return el ? seats.get(el.getAttribute('data-seat-id')) : null;
  };
  svg.addEventListener('click', (event) => {
    const seat = seatOf(event.target);
    if (!seat) return;
    makeCurrent(seat, false);
    onActivate(seat);
  });
  svg.addEventListener('pointerover', (event) => {
    const seat = seatOf(event.target);
    if (!seat) return;
    title.textContent = label(seat);
    seat.el.append(title);
  });
  svg.addEventListener('keydown', (event) => {
    const seat = seatOf(event.target);
    if (!seat) return;
    const row = rows[seat.rowIndex];
    const inRow = (r, index) => rows[r][Math.min(index, rows[r].length - 1)];
    let next = null;
    switch (event.key) {
      case 'ArrowLeft': next = row[seat.index - 1]; break;
      case 'ArrowRight': next = row[seat.index + 1]; break;
      case 'ArrowUp': if (seat.rowIndex > 0) next = inRow(seat.rowIndex - 1, seat.index); break;
      case 'ArrowDown': if (seat.rowIndex < rows.length - 1) next = inRow(seat.rowIndex + 1, seat.index); break;
      case 'Home': next = row[0]; break;
      case 'End': next = row[row.length - 1]; break;
      case 'Enter':
      case ' ':
        event.preventDefault();
        onActivate(seat);
        return;
      default:
        return;
    }
    event.preventDefault();
    if (next) makeCurrent(next, true);
  });

  /** A seat's new status (a live update): one attribute, and its words if shown. */
  const setStatus = (seat, status) => {
    seat.status = status;
    seat.el.setAttribute('data-status', status);
    if (seat === current) describe(seat);
    if (title.parentNode === seat.el) title.textContent = label(seat);
  };
  const setPicked = (seat, on) => {
    if (on) picked.add(seat.id); else picked.delete(seat.id);
    seat.el.classList.toggle('picked', on);
    if (seat === current) describe(seat);
    if (title.parentNode === seat.el) title.textContent = label(seat);
  };
  return { svg, seats, setStatus, setPicked, label };
}

/**
 * A small SVG swatch for the legend: a seat as the map draws it (a held
 * one's stripes are the map's `#seat-held` pattern, found in the document).
 */
export function swatch({ fill, status = 'AVAILABLE', picked = false }) {
  return s(
    'svg',
    { class: 'swatch seatmap', width: 20, height: 20, viewBox: '0 0 16 16', 'aria-hidden': 'true', focusable: 'false' },
    s('g', { fill }, s('rect', {
      x: 2, y: 2, width: SEAT, height: SEAT, rx: 3, class: picked ? 'seat picked' : 'seat', 'data-status': status,
    })),
  );
}
