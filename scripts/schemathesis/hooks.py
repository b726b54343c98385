"""Schemathesis hooks for scripts/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

Two adjustments to generated requests, made just before each call:

1. Idempotency keys. POST /reservations, /wallet/charges and /payments require
   an Idempotency-Key, and the OpenAPI document declares it (1-255 visible
   ASCII characters), so schemathesis generates it like any other parameter:
   invalid and missing keys in negative cases test the header's validation.
   A *valid* generated key, though, comes from a tiny space ("0", "00", ...),
   so nearly every positive request after the first would only replay a
   stored answer or be refused as a key reused with another body. Each valid
   key is replaced by a fresh one, so positive cases reach the engine.

2. Real ids. Generated ids name nothing, so every operation on a reservation,
   payment, ticket or queue token would stop at 404/401 and its success body
   would never be checked. When FUZZ_FIXTURES names the JSON file that
   fixtures.py wrote, about half of the requests get a real id (or seat id,
   QR code, refresh token, the demo user's email) in place of a generated
   string. Only strings are replaced, so negative cases with a wrong type
   stay negative. Ids the API hands out during the run (new holds, payments,
   tickets) join the pools (after_call), so the fuzzer pays and cancels its
   own holds too, not only the two fixtures.
"""

import json
import os
import random
import re
import uuid

import schemathesis

IDEMPOTENCY_HEADER = "idempotency-key"
QUEUE_TOKEN_HEADER = "queue-token"
# Mirrors http/src/idempotency_key.rs: 1-255 bytes, each visible ASCII.
VALID_KEY = re.compile(r"[!-~]{1,255}")
# Share of requests that get real data instead of generated strings.
REAL_DATA_SHARE = 0.5
# Seats per generated hold when seat ids are replaced (the demo allows 4 per user).
MAX_SEATS_PER_HOLD = 3
# Ids harvested from responses are kept per pool, newest last, up to this many.
MAX_POOL = 64

# Path parameter or body field -> the fixtures list it is drawn from.
PATH_PARAMETERS = {
    "reservationId": "reservationIds",
    "paymentId": "paymentIds",
    "ticketId": "ticketIds",
    "venueId": "venueIds",
    "concertId": "concertIds",
    "scheduleId": "scheduleIds",
    "userId": "userIds",
}
BODY_FIELDS = {
    "scheduleId": "scheduleIds",
    "reservationId": "reservationIds",
    "venueId": "venueIds",
    "qrCode": "qrCodes",
    "refreshToken": "refreshTokens",
}


def _load_fixtures():
    path = os.environ.get("FUZZ_FIXTURES")
    if not path:
        return None
    with open(path) as f:
        fixtures = json.load(f)
    fixtures["userIds"] = [fixtures["userId"]]
    fixtures["refreshTokens"] = [fixtures["userRefreshToken"]]
    return fixtures


FIXTURES = _load_fixtures()
# Seeded like the run, so a replay with the same FUZZ_SEED draws alike (up to
# the interleaving of schemathesis' workers).
CHOICE = random.Random(os.environ.get("FUZZ_SEED", "0"))


def _real(kind):
    values = FIXTURES.get(kind) if FIXTURES else None
    if values and CHOICE.random() < REAL_DATA_SHARE:
        return CHOICE.choice(values)
    return None


def _fresh_keys(headers):
    for name in list(headers):
        if name.lower() == IDEMPOTENCY_HEADER:
            value = headers[name]
            if isinstance(value, str) and VALID_KEY.fullmatch(value):
                headers[name] = f"fuzz-{uuid.uuid4()}"


def _real_headers(headers):
    for name in list(headers):
        if name.lower() == QUEUE_TOKEN_HEADER and isinstance(headers[name], str):
            token = _real("queueTokens")
            if token:
                headers[name] = token


def _real_path(parameters):
    for name, kind in PATH_PARAMETERS.items():
        if isinstance(parameters.get(name), str):
            value = _real(kind)
            if value:
                parameters[name] = value


def _spare_the_fuzzing_admin(parameters):
    # Roles are checked live, so a role change that reaches the admin pass's
    # own account (its id comes back in answers, and schemathesis links ids
    # from answers into later requests) demotes the fuzzer, and every admin
    # operation after it is 403: the pass would go on without testing them.
    if parameters.get("userId") == FIXTURES.get("adminUserId"):
        parameters["userId"] = FIXTURES["userId"]


def _real_body(path, body):
    for name, kind in BODY_FIELDS.items():
        if isinstance(body.get(name), str):
            value = _real(kind)
            if value:
                body[name] = value
    if path.endswith("/payments") and "amount" in body and CHOICE.random() < REAL_DATA_SHARE:
        # A generated amount is nearly never the total (409 AMOUNT_MISMATCH): often leave it out.
        del body["amount"]
    if isinstance(body.get("seatIds"), list) and FIXTURES and CHOICE.random() < REAL_DATA_SHARE:
        count = CHOICE.randint(1, MAX_SEATS_PER_HOLD)
        body["seatIds"] = CHOICE.sample(FIXTURES["seatIds"], count)
    grades = body.get("priceGrades")
    if isinstance(grades, list) and body.get("venueId") in FIXTURES["venueIds"]:
        # A real venue's sections, one per grade: the concert can then be valid.
        sections = FIXTURES["sectionIds"]
        for i, grade in enumerate(grades):
            if isinstance(grade, dict) and isinstance(grade.get("sectionIds"), list):
                grade["sectionIds"] = [sections[i % len(sections)]]
    if path.endswith("/auth/login") and isinstance(body.get("email"), str) and FIXTURES:
        if CHOICE.random() < REAL_DATA_SHARE:
            body["email"] = FIXTURES["userEmail"]
            if isinstance(body.get("password"), str) and CHOICE.random() < REAL_DATA_SHARE:
                body["password"] = FIXTURES["userPassword"]


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.headers:
        _fresh_keys(case.headers)
        if FIXTURES:
            _real_headers(case.headers)
    if not FIXTURES:
        return
    if isinstance(case.path_parameters, dict):
        _real_path(case.path_parameters)
        _spare_the_fuzzing_admin(case.path_parameters)
    if isinstance(case.body, dict):
        _real_body(case.operation.path, case.body)


def _remember(kind, value):
    pool = FIXTURES.setdefault(kind, [])
    if isinstance(value, str) and value not in pool:
        pool.append(value)
        del pool[:-MAX_POOL]


@schemathesis.hook
def after_call(context, case, response):
    if not FIXTURES or response.status_code != 201 or case.method.upper() != "POST":
        return
    try:
        body = response.json()
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    path = case.operation.path
    if path.endswith("/reservations"):
        _remember("reservationIds", body.get("reservationId"))
    elif path.endswith("/payments"):
        _remember("paymentIds", body.get("paymentId"))
        for ticket in body.get("tickets") or []:
            if isinstance(ticket, dict):
                _remember("ticketIds", ticket.get("ticketId"))
