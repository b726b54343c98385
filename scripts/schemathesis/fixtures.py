"""Real data for scripts/fuzz.sh, made through the API of a fresh `serve --demo`.

    python3 scripts/schemathesis/fixtures.py BASE_URL OUT_JSON

Generated ids name nothing, so without real ones every operation on a
reservation, payment, ticket or queue token stops at 404/401 and its success
body is never checked against the document. This logs in as the demo user
and the demo admin, looks the demo catalogue up, and makes a paid booking, a
live hold and a waiting-room token as the demo user, and tickets for
check-in as the demo admin (the user pass cancels whatever of the user's it
can reach, which would void them; the admin pass does not cancel), then writes them all to OUT_JSON for
hooks.py to mix into generated requests (and the tokens for fuzz.sh).

Every request is bounded (timeout) and any unexpected answer stops the script
with the response, so fuzz.sh fails early and says why.
"""

import json
import sys
import urllib.error
import urllib.request
import uuid

TIMEOUT_SECONDS = 30
USER = ("user@demo.boxoffice", "demo-user-pass")
ADMIN = ("admin@demo.boxoffice", "demo-admin-pass")
# Seat ids handed to the fuzzer: enough variety, small enough to pass around.
MAX_SEAT_IDS = 200


def call(base, method, path, token=None, body=None, headers=None, expect=(200, 201)):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    if status not in expect:
        sys.exit(f"fixtures: {method} {path} answered {status}: {text}")
    return json.loads(text)


def login(base, credentials):
    email, password = credentials
    return call(base, "POST", "/api/v1/auth/login", body={"email": email, "password": password})


def main():
    base, out = sys.argv[1], sys.argv[2]
    user = login(base, USER)
    admin = login(base, ADMIN)
    token = user["accessToken"]

    concerts = call(base, "GET", "/api/v1/concerts?pageSize=100")["items"]
    concert_ids = [c["concertId"] for c in concerts]
    gated, open_schedules, venue_ids = [], [], set()
    for concert_id in concert_ids:
        concert = call(base, "GET", f"/api/v1/concerts/{concert_id}")
        venue_ids.add(concert["venueId"])
        for schedule in concert["schedules"]:
            (gated if schedule.get("queue") else open_schedules).append(schedule["scheduleId"])
    if not gated or not open_schedules:
        sys.exit("fixtures: the demo data has no gated or no open schedule")
    seat_ids, section_ids = [], []
    for venue_id in sorted(venue_ids):
        venue = call(base, "GET", f"/api/v1/venues/{venue_id}")
        for section in venue["sections"]:
            section_ids.append(section["sectionId"])
            for row in section["rows"]:
                seat_ids.extend(row["seatIds"])
    # Spread the sample over every section rather than the first rows only.
    step = max(1, len(seat_ids) // MAX_SEAT_IDS)
    seat_sample = seat_ids[::step][:MAX_SEAT_IDS]

    def keyed():
        return {"Idempotency-Key": f"fixture-{uuid.uuid4()}"}

    schedule = open_schedules[0]
    paid_hold = call(base, "POST", "/api/v1/reservations", token,
                     {"scheduleId": schedule, "quantity": 2}, keyed())
    payment = call(base, "POST", "/api/v1/payments", token,
                   {"reservationId": paid_hold["reservationId"]}, keyed())
    ticket_ids = [t["ticketId"] for t in payment["tickets"]]
    admin_token = admin["accessToken"]
    call(base, "POST", "/api/v1/wallet/charges", admin_token, {"amount": 5_000_000}, keyed())
    door_hold = call(base, "POST", "/api/v1/reservations", admin_token,
                     {"scheduleId": open_schedules[1], "quantity": 4}, keyed())
    door_payment = call(base, "POST", "/api/v1/payments", admin_token,
                        {"reservationId": door_hold["reservationId"]}, keyed())
    door_tickets = [t["ticketId"] for t in door_payment["tickets"]]
    qr_codes = [call(base, "GET", f"/api/v1/tickets/{t}", admin_token)["qrCode"]
                for t in door_tickets]
    live_hold = call(base, "POST", "/api/v1/reservations", token,
                     {"scheduleId": open_schedules[-1], "quantity": 1}, keyed())
    queue_token = call(base, "POST", "/api/v1/queue/tokens", token, {"scheduleId": gated[0]})

    fixtures = {
        "userToken": token,
        "userRefreshToken": user["refreshToken"],
        "userId": user["user"]["userId"],
        "userEmail": USER[0],
        "userPassword": USER[1],
        "adminToken": admin_token,
        "adminUserId": admin["user"]["userId"],
        "venueIds": sorted(venue_ids),
        "concertIds": concert_ids,
        "scheduleIds": gated + open_schedules,
        "seatIds": seat_sample,
        "sectionIds": section_ids,
        "reservationIds": [paid_hold["reservationId"], live_hold["reservationId"]],
        "paymentIds": [payment["paymentId"]],
        "ticketIds": ticket_ids,
        "qrCodes": qr_codes,
        "queueTokens": [queue_token["token"]],
    }
    with open(out, "w") as f:
        json.dump(fixtures, f)
    print(
        f"fixtures: {len(concert_ids)} concerts, {len(fixtures['scheduleIds'])} schedules, "
        f"{len(seat_sample)} seat ids, 2 reservations (one paid), {len(ticket_ids)} tickets, "
        f"{len(qr_codes)} QR codes for check-in, 1 queue token"
    )


if __name__ == "__main__":
    main()
