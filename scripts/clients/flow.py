"""The README's whole flow through the Python client generated from
Boxoffice's OpenAPI document (openapi-python-client), against a running
server: register, log in, browse, queue (poll until ACTIVE), hold, top up,
pay, ticket, check in (staff), cancel with a refund, and an admin's venue and
concert. Each step prints what it got; a failed step stops the run there with
its status and body. Run by scripts/clients/run.sh (which generates
`boxoffice_client` first); type-checked with `mypy --strict`.

Usage: python flow.py BASE_URL   (e.g. http://127.0.0.1:8080)
"""

from __future__ import annotations

import datetime
import sys
import time
import uuid
from typing import Any, NoReturn, TypeVar

from boxoffice_client import AuthenticatedClient, Client
from boxoffice_client.api.auth import login, me, register
from boxoffice_client.api.catalogue import (
    create_concert,
    create_venue,
    get_concert,
    list_concerts,
    list_schedules,
    seat_map,
)
from boxoffice_client.api.payments import create_payment, get_payment
from boxoffice_client.api.queue import current_queue_token, join_queue
from boxoffice_client.api.reservations import (
    cancel_reservation,
    create_reservation,
    get_reservation,
)
from boxoffice_client.api.tickets import check_in, get_ticket, list_tickets
from boxoffice_client.api.wallet import charge_wallet, get_wallet
from boxoffice_client.models import (
    ChargeBody,
    ChargeRequestBody,
    CheckInBody,
    CheckInRequestBody,
    ConcertBody,
    ConcertRequestBody,
    ErrorBody,
    HoldRequestBody,
    JoinRequestBody,
    ListConcertSummaryBody,
    ListScheduleBody,
    ListTicketBody,
    LoginRequestBody,
    PaymentBody,
    PaymentReceiptBody,
    PaymentRequestBody,
    PriceGradeBody,
    QueueBody,
    QueueTokenBody,
    QueueTokenStatusName,
    RegisterRequestBody,
    ReservationBody,
    ReservationStatusName,
    RowRequestBody,
    ScheduleRequestBody,
    SeatMapBody,
    SectionRequestBody,
    TicketBody,
    TicketStatusName,
    TokensBody,
    UserBody,
    VenueBody,
    VenueRequestBody,
    WalletBody,
)
from boxoffice_client.types import Response

T = TypeVar("T")

# The longest the flow waits for the waiting room to admit it.
QUEUE_WAIT_SECONDS = 60
RUN = uuid.uuid4().hex[:12]
steps = 0


def fail(step: str, why: str) -> NoReturn:
    print(f"FAIL {step}: {why}", file=sys.stderr)
    sys.exit(1)


def expect(step: str, response: Response[Any], status: int, kind: type[T]) -> T:
    """The parsed body of a step's answer, or the run stops at this step.
    (`Response[Any]`: an operation with two success bodies, such as a payment's
    201 or a card payment's 202, parses to a union `kind` picks from.)"""
    global steps
    body = response.parsed
    if response.status_code != status or not isinstance(body, kind):
        fail(step, f"expected {status}, got {int(response.status_code)}: {response.content!r}")
    steps += 1
    return body


def expect_error(step: str, response: Response[ErrorBody | T], status: int, code: str) -> None:
    """A step that must be refused with this status and code."""
    global steps
    body = response.parsed
    if response.status_code != status or not isinstance(body, ErrorBody) or body.error.code != code:
        fail(step, f"expected {status} {code}, got {int(response.status_code)}: {response.content!r}")
    steps += 1


def key(step: str) -> str:
    """A fresh Idempotency-Key per run and step (a fixed one would replay an earlier run)."""
    return f"py-{RUN}-{step}"


def login_as(base: str, email: str, password: str) -> AuthenticatedClient:
    anonymous = Client(base_url=base)
    tokens = expect(
        f"login {email}",
        login.sync_detailed(client=anonymous, body=LoginRequestBody(email=email, password=password)),
        200,
        TokensBody,
    )
    print(f"login {email}: role {tokens.user.role}")
    return AuthenticatedClient(base_url=base, token=tokens.access_token)


def main(base: str) -> None:
    anonymous = Client(base_url=base)
    email = f"py-{RUN}@example.com"
    password = f"flow-{RUN}-password"
    user = expect(
        "register",
        register.sync_detailed(
            client=anonymous,
            body=RegisterRequestBody(email=email, password=password, name="Python Flow"),
        ),
        201,
        UserBody,
    )
    print(f"register: userId {user.user_id}")
    client = login_as(base, email, password)
    who = expect("me", me.sync_detailed(client=client), 200, UserBody)
    if who.user_id != user.user_id:
        fail("me", f"{who.user_id} is not {user.user_id}")

    # browse: the gated Aurora Live date. The catalogue GETs take an optional
    # token (drafts are shown to admins), and openapi-python-client asks for an
    # AuthenticatedClient wherever `bearer` is listed, anonymous option or not.
    concerts = expect(
        "list concerts",
        list_concerts.sync_detailed(client=client, q="aurora"),
        200,
        ListConcertSummaryBody,
    )
    if not concerts.items:
        fail("list concerts", "no concert matches 'aurora' (is the server running with --demo?)")
    concert_id = concerts.items[0].concert_id
    print(f"browse: concertId {concert_id}")
    concert = expect("get concert", get_concert.sync_detailed(concert_id, client=client), 200, ConcertBody)
    schedule_id = concert.schedules[0].schedule_id
    schedules = expect(
        "list schedules",
        list_schedules.sync_detailed(concert_id, client=client, page=1, page_size=10),
        200,
        ListScheduleBody,
    )
    if schedule_id not in [s.schedule_id for s in schedules.items]:
        fail("list schedules", f"{schedule_id} not listed")
    print(f"browse: scheduleId {schedule_id}")

    # the waiting room: join, then poll until ACTIVE at the pace the server asks
    place = expect(
        "join queue",
        join_queue.sync_detailed(client=client, body=JoinRequestBody(schedule_id=schedule_id)),
        201,
        QueueTokenBody,
    )
    queue_token = place.token
    print(f"queue: {place.status} at position {place.position}")
    deadline = time.monotonic() + QUEUE_WAIT_SECONDS
    while place.status != QueueTokenStatusName.ACTIVE:
        if time.monotonic() > deadline:
            fail("queue", f"not ACTIVE after {QUEUE_WAIT_SECONDS} s (status {place.status})")
        time.sleep(place.poll_after_ms / 1000)
        place = expect(
            "poll queue",
            current_queue_token.sync_detailed(client=client, queue_token=queue_token),
            200,
            QueueTokenBody,
        )
        print(f"queue: {place.status} at position {place.position}")

    seats = expect(
        "seat map",
        seat_map.sync_detailed(schedule_id, client=client, section="VIP", queue_token=queue_token),
        200,
        SeatMapBody,
    )
    print(f"seat map: {seats.summary.available} of {seats.summary.total} available")

    # hold two best VIP seats, top up, pay
    hold = expect(
        "hold",
        create_reservation.sync_detailed(
            client=client,
            body=HoldRequestBody(schedule_id=schedule_id, quantity=2, grade="VIP"),
            idempotency_key=key("hold"),
            queue_token=queue_token,
        ),
        201,
        ReservationBody,
    )
    print(f"hold: reservationId {hold.reservation_id} ({hold.reservation_number}), total {hold.total_amount}")
    charge = expect(
        "charge",
        charge_wallet.sync_detailed(
            client=client,
            body=ChargeRequestBody(amount=hold.total_amount * 2),
            idempotency_key=key("charge"),
        ),
        201,
        ChargeBody,
    )
    print(f"charge: transactionId {charge.transaction_id}, balance {charge.balance}")
    paid = expect(
        "pay",
        create_payment.sync_detailed(
            client=client,
            body=PaymentRequestBody(reservation_id=hold.reservation_id, amount=hold.total_amount),
            idempotency_key=key("pay"),
            queue_token=queue_token,
        ),
        201,
        PaymentReceiptBody,
    )
    print(f"pay: paymentId {paid.payment_id}, balanceAfter {paid.balance_after}")
    record = expect("get payment", get_payment.sync_detailed(paid.payment_id, client=client), 200, PaymentBody)
    if record.amount != hold.total_amount:
        fail("get payment", f"amount {record.amount}, expected {hold.total_amount}")

    # the ticket and check-in at the door (staff)
    ticket_id = paid.tickets[0].ticket_id
    ticket = expect("get ticket", get_ticket.sync_detailed(ticket_id, client=client), 200, TicketBody)
    print(f"ticket: ticketId {ticket.ticket_id}, seat {ticket.seat.seat_id}")
    tickets = expect("list tickets", list_tickets.sync_detailed(client=client), 200, ListTicketBody)
    if ticket_id not in [t.ticket_id for t in tickets.items]:
        fail("list tickets", f"{ticket_id} not listed")
    staff = login_as(base, "staff@demo.boxoffice", "demo-staff-pass")
    admitted = expect(
        "check in",
        check_in.sync_detailed(client=staff, body=CheckInRequestBody(qr_code=ticket.qr_code)),
        200,
        CheckInBody,
    )
    print(f"check in: ticketId {admitted.ticket_id} admitted")
    expect_error(
        "check in again",
        check_in.sync_detailed(client=staff, body=CheckInRequestBody(qr_code=ticket.qr_code)),
        409,
        "TICKET_ALREADY_USED",
    )
    used_ticket = expect("ticket used", get_ticket.sync_detailed(ticket_id, client=client), 200, TicketBody)
    if used_ticket.status != TicketStatusName.USED:
        fail("ticket used", str(used_ticket.status))

    # cancel and refund: a second paid hold (the first payment ended the queue token,
    # so this uses an ungated date of the same concert)
    open_date = next((s for s in concert.schedules if not isinstance(s.queue, QueueBody) or not s.queue.enabled), None)
    if open_date is None:
        fail("cancel", "the demo concert has no ungated date")
    second = expect(
        "second hold",
        create_reservation.sync_detailed(
            client=client,
            body=HoldRequestBody(schedule_id=open_date.schedule_id, quantity=1),
            idempotency_key=key("hold-2"),
        ),
        201,
        ReservationBody,
    )
    print(f"second hold: reservationId {second.reservation_id}")
    expect(
        "second payment",
        create_payment.sync_detailed(
            client=client,
            body=PaymentRequestBody(reservation_id=second.reservation_id),
            idempotency_key=key("pay-2"),
        ),
        201,
        PaymentReceiptBody,
    )
    before = expect("wallet", get_wallet.sync_detailed(client=client), 200, WalletBody)
    cancelled = expect(
        "cancel",
        cancel_reservation.sync_detailed(second.reservation_id, client=client),
        200,
        ReservationBody,
    )
    after = expect("wallet after refund", get_wallet.sync_detailed(client=client), 200, WalletBody)
    if cancelled.refund_amount != second.total_amount or after.balance != before.balance + second.total_amount:
        fail("cancel", f"refund {cancelled.refund_amount!r}, balance {before.balance} -> {after.balance}")
    status = expect("get cancelled", get_reservation.sync_detailed(second.reservation_id, client=client), 200, ReservationBody)
    if status.status != ReservationStatusName.CANCELLED:
        fail("get cancelled", str(status.status))
    print(f"cancel: refundAmount {cancelled.refund_amount}, balance {after.balance}")

    # an admin creates a venue and a concert on it
    admin = login_as(base, "admin@demo.boxoffice", "demo-admin-pass")
    venue = expect(
        "create venue",
        create_venue.sync_detailed(
            client=admin,
            body=VenueRequestBody(
                name=f"Python Hall {RUN}",
                address="1 River Road, Seoul",
                sections=[
                    SectionRequestBody(
                        section_id="A",
                        name="Stalls",
                        rows=[RowRequestBody(row="1", seats=10), RowRequestBody(row="2", seats=10)],
                    )
                ],
            ),
        ),
        201,
        VenueBody,
    )
    print(f"create venue: venueId {venue.venue_id}, capacity {venue.capacity}")
    starts = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=30)
    created = expect(
        "create concert",
        create_concert.sync_detailed(
            client=admin,
            body=ConcertRequestBody(
                title=f"Python Quartet {RUN}",
                description="made by the generated Python client",
                category="CLASSICAL",
                venue_id=venue.venue_id,
                price_grades=[PriceGradeBody(grade="R", price=50_000, section_ids=["A"])],
                schedules=[
                    ScheduleRequestBody(
                        starts_at=starts,
                        ends_at=starts + datetime.timedelta(hours=2),
                        booking_opens_at=starts - datetime.timedelta(days=29),
                        booking_closes_at=starts - datetime.timedelta(hours=1),
                    )
                ],
            ),
        ),
        201,
        ConcertBody,
    )
    print(f"create concert: concertId {created.concert_id}, scheduleId {created.schedules[0].schedule_id}")
    print(f"python client: all {steps} steps passed")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage", "python flow.py BASE_URL")
    main(sys.argv[1])
