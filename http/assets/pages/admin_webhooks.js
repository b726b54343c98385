// Webhooks (`/admin/webhooks`, ADMIN): the endpoints booking events are
// sent to, each with its delivery log (newest page first) and a delete
// behind a confirmation; and a new endpoint (url, event types,
// description), whose signing secret the API shows this once.

import { api, query } from '../js/api.js';
import { h, replace } from '../js/dom.js';
import {
  busy, errorBox, field, formatTime, notice, pagedList, requireAdmin, startPage, submitting,
} from '../js/layout.js';

const PAGE_SIZE = 20;
/** API.md's booking event types, with what each means. */
const EVENT_TYPES = [
  ['booking.created', 'seats held'],
  ['booking.confirmed', 'a booking paid'],
  ['booking.cancelled', 'a booking cancelled'],
  ['booking.expired', 'a hold expired'],
  ['payment.completed', 'a payment went through'],
  ['payment.failed', 'a payment failed'],
  ['refund.issued', 'money refunded'],
  ['schedule.cancelled', 'a date cancelled'],
];

const main = startPage('Webhooks');
const user = requireAdmin(main);

function deliveries(webhook) {
  const where = h('div', { 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  const base = `/admin/webhooks/${encodeURIComponent(webhook.webhookId)}/deliveries`;
  const fetchPage = async (page) => {
    const answer = await api(`${base}${query({ page: page || 1, pageSize: PAGE_SIZE })}`);
    const last = Math.max(1, Math.ceil(answer.total / PAGE_SIZE));
    // The log is oldest first: page 0 opens it at its newest page.
    return page === 0 && last > 1 ? api(`${base}${query({ page: last, pageSize: PAGE_SIZE })}`) : answer;
  };
  const draw = (items) => h(
    'div',
    { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': `Deliveries to ${webhook.url}` },
    h(
      'table',
      { class: 'admin-table' },
      h('caption', { class: 'visually-hidden' }, `Deliveries to ${webhook.url}`),
      h('thead', {}, h('tr', {}, ['Event', 'Status', 'Attempts', 'Answer', 'At', 'Next attempt'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, items.map((d) => h(
        'tr',
        {},
        h('th', { scope: 'row' }, d.type),
        h('td', {}, d.status.toLowerCase()),
        h('td', { class: 'number' }, String(d.attempt)),
        h('td', {}, d.responseStatus == null ? 'none' : `HTTP ${d.responseStatus}`),
        h('td', {}, formatTime(d.at)),
        h('td', {}, d.nextAttemptAt ? formatTime(d.nextAttemptAt) : ''),
      ))),
    ),
  );
  const load = () => pagedList(where, { fetchPage, draw, empty: 'Nothing sent yet.', label: 'Delivery pages' }, 0);
  // Deliveries are made after the event, by the sender: "Refresh" shows the newest.
  const refresh = h('button', { type: 'button', class: 'secondary', onClick: load }, 'Refresh deliveries');
  const details = h('details', {}, h('summary', {}, 'Deliveries'), refresh, where);
  details.addEventListener('toggle', () => { if (details.open) load(); });
  return details;
}

function deleteControl(webhook, onDeleted) {
  const area = h('div');
  const start = h('button', { type: 'button', class: 'secondary' }, 'Delete…');
  start.addEventListener('click', () => {
    start.hidden = true;
    const problem = h('div');
    const box = h(
      'div',
      { class: 'confirm', role: 'group', 'aria-label': 'Delete this webhook?' },
      h('p', {}, `Delete the webhook to ${webhook.url}? Nothing more is sent to it, and its delivery log is removed.`),
      h(
        'div',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'danger',
          onClick: () => busy(box, async () => {
            try {
              await api(`/admin/webhooks/${encodeURIComponent(webhook.webhookId)}`, { method: 'DELETE' });
              notice(`Deleted the webhook to ${webhook.url}.`);
              onDeleted();
            } catch (error) {
              replace(problem, errorBox(error));
            }
          }),
        }, 'Yes, delete it'),
        h('button', { type: 'button', class: 'secondary', onClick: () => { box.remove(); start.hidden = false; start.focus(); } }, 'No, keep it'),
      ),
      problem,
    );
    area.append(box);
    box.querySelector('button.danger').focus();
  });
  area.append(start);
  return area;
}

function webhookItem(webhook, reload) {
  return h(
    'li',
    { class: 'card webhook', 'data-webhook-id': webhook.webhookId },
    h('h3', { class: 'url' }, webhook.url),
    webhook.description ? h('p', {}, webhook.description) : null,
    h('p', { class: 'muted' }, `${webhook.status === 'ACTIVE' ? 'Active' : 'Disabled (the receiver answered 410 Gone)'} · since ${formatTime(webhook.createdAt)}`),
    h('p', {}, 'Events: ', webhook.events.join(', ')),
    deliveries(webhook),
    deleteControl(webhook, reload),
  );
}

function drawList(where) {
  const reload = () => drawList(where);
  return pagedList(where, {
    fetchPage: (page) => api(`/admin/webhooks${query({ page, pageSize: PAGE_SIZE })}`),
    draw: (items) => h('ul', { class: 'cards webhooks', 'aria-label': 'Webhooks' }, items.map((w) => webhookItem(w, reload))),
    empty: 'No webhooks yet.',
    label: 'Webhook pages',
  });
}

function createForm(onCreated) {
  const errors = h('div');
  const secret = h('div', { 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      id: 'webhook-form',
      'aria-labelledby': 'webhook-form-title',
      onSubmit: submitting(errors, async (data) => {
        const body = { url: String(data.get('url')).trim(), events: data.getAll('events') };
        const description = String(data.get('description')).trim();
        if (description) body.description = description;
        const created = await api('/admin/webhooks', { method: 'POST', body });
        replace(secret, h(
          'div',
          { class: 'success', role: 'status' },
          h('p', {}, h('strong', {}, `Webhook to ${created.url} created.`)),
          h('p', {}, 'Its signing secret, shown only this once: copy it now into the receiver (it checks Boxoffice-Signature with it).'),
          h('p', { class: 'secret', id: 'webhook-secret' }, created.secret),
        ));
        form.reset();
        onCreated();
      }),
    },
    h('h2', { id: 'webhook-form-title' }, 'New webhook'),
    field('URL (http or https)', { name: 'url', id: 'webhook-url', type: 'url', required: true, autocomplete: 'off' }),
    field('Description (optional)', { name: 'description', id: 'webhook-description', autocomplete: 'off' }),
    h(
      'fieldset',
      { class: 'checks' },
      h('legend', {}, 'Events to send'),
      EVENT_TYPES.map(([type, words]) => h('label', {}, h('input', { type: 'checkbox', name: 'events', value: type }), `${type} (${words})`)),
    ),
    errors,
    h('button', { type: 'submit' }, 'Create webhook'),
  );
  return [form, secret];
}

if (user) {
  const list = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('h2', {}, 'Endpoints'), list, ...createForm(() => drawList(list)));
  drawList(list);
}
