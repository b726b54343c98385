// What the API's error codes mean, in words a fan or a steward understands.
// The codes are API.md's; a page shows `explain(error)` instead of any raw
// answer. An unknown code falls back to a plain apology, never to JSON.

const WORDS = {
  ALREADY_PAID: 'This reservation is already paid.',
  AMOUNT_MISMATCH: 'The price changed since you saw it. Please check the total and try again.',
  BOOKING_CLOSED: 'Booking is closed for this date.',
  CHARGE_LIMIT_EXCEEDED: 'That top-up would go over your wallet limit.',
  CONFLICT: 'That was already done, or conflicts with something else.',
  EMAIL_NOT_VERIFIED: 'Please verify your email address first: we sent you a code.',
  EMAIL_TAKEN: 'An account with this email address already exists. Try logging in.',
  FORBIDDEN: 'Your account is not allowed to do this.',
  IDEMPOTENCY_IN_PROGRESS: 'Your previous attempt is still being processed. Please wait a moment.',
  IDEMPOTENCY_KEY_REUSED: 'Something went wrong with this request. Please reload the page and try again.',
  INSUFFICIENT_BALANCE: 'Your wallet balance is too low. Top it up first.',
  INVALID_AMOUNT: 'Please enter a whole positive amount within the top-up limit.',
  INVALID_CODE: 'That code is wrong, used or expired.',
  INVALID_CREDENTIALS: 'Wrong email address or password.',
  INVALID_TICKET: 'Not a valid ticket: the code is forged, cancelled or unknown.',
  NOT_CANCELLABLE: 'This reservation can no longer be cancelled.',
  NOT_FOUND: 'We could not find that. It may have been removed.',
  PAYMENT_FAILED: 'The payment did not go through.',
  PAYMENT_METHOD_UNAVAILABLE: 'Card payments are not available here. Please pay from your wallet.',
  QUEUE_NOT_ACTIVE: 'It is not your turn yet. Please wait in the waiting room.',
  QUEUE_NOT_OPEN: 'The waiting room for this date is not open yet.',
  QUEUE_TOKEN_INVALID: 'Your place in the waiting room has expired. Please join again.',
  RATE_LIMITED: 'Too many attempts. Please wait a minute and try again.',
  RESERVATION_CANCELLED: 'This reservation was cancelled.',
  RESERVATION_EXPIRED: 'Your hold has expired and the seats were released. Please pick seats again.',
  SCHEDULE_CANCELLED: 'This date has been cancelled.',
  SEAT_LIMIT_EXCEEDED: 'That is more seats than one person may book for this date.',
  SEAT_UNAVAILABLE: 'Sorry, those seats were just taken. Please pick others.',
  TICKET_ALREADY_USED: 'This ticket has already been used.',
  UNAUTHORIZED: 'Please log in again.',
  UNAVAILABLE: 'The box office is very busy right now. Please try again in a moment.',
  UNKNOWN_SEAT: 'One of those seats does not exist on this map.',
  WRONG_SCHEDULE: 'This ticket is for another show.',
};

/** Words for an ApiError, a network failure, or anything else thrown. */
export function explain(error) {
  if (error instanceof TypeError) {
    return 'Cannot reach the box office. Check your connection and try again.';
  }
  if (error && error.code === 'VALIDATION_ERROR') {
    // The API's message names the field and the rule ("password: at least 8 characters").
    return `Please check what you entered: ${error.message}`;
  }
  if (error && WORDS[error.code]) return WORDS[error.code];
  return 'Something went wrong on our side. Please try again.';
}

/** A date's sale status (GET /concerts/{id}: `schedules[].status`) in words. */
const SALE_STATUS_WORDS = {
  UPCOMING: 'Booking opens soon',
  ON_SALE: 'On sale',
  SOLD_OUT: 'Sold out',
  CLOSED: 'Booking closed',
  CANCELLED: 'Cancelled',
};

export function saleStatusWords(status) {
  return SALE_STATUS_WORDS[status] || status;
}
