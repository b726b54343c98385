//! The whole booking flow through real HTTP, once, end to end: the walk-through
//! of the README (login, join the queue, seat map, hold, charge, pay, ticket,
//! check-in). Detailed cases live in the other `http_*` test files.

use serde_json::json;
use test_support::app::*;

#[actix_rt::test]
async fn the_whole_booking_flow_works_over_http() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let queue = json!({"enabled": true, "batchSize": 10, "intervalMs": 100, "maxActive": 100, "activeSeconds": 600});
    let (concert, schedule) = app.create_concert(&admin, Some(queue), 300).await;
    app.get(&format!("/api/v1/concerts/{concert}"), None)
        .await
        .expect(200, "");
    let (_user, token) = app.register_and_login("fan").await;

    let joined = app
        .post(
            "/api/v1/queue/tokens",
            Some(&token),
            json!({"scheduleId": schedule}),
        )
        .await;
    joined.expect(201, "");
    let queue_token = joined.body["token"].as_str().expect("token").to_string();
    // Admitted by the queue's own timer within moments.
    let mut active = false;
    for _ in 0..50 {
        let current = app
            .get_with(
                "/api/v1/queue/tokens/current",
                Some(&token),
                &[("Queue-Token", &queue_token)],
            )
            .await;
        current.expect(200, "");
        if current.body["status"] == "ACTIVE" {
            active = true;
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(active, "admitted");
    let headers = [("Queue-Token", queue_token.as_str())];
    let seats = format!("/api/v1/schedules/{schedule}/seats");
    let mut map = app.get_with(&seats, Some(&token), &headers).await;
    for _ in 0..50 {
        if map.status.as_u16() == 200 {
            break;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
        map = app.get_with(&seats, Some(&token), &headers).await;
    }
    map.expect(200, "");
    assert_eq!(map.body["summary"]["total"], 60);

    let key = app.unique("hold");
    let hold = app
        .post_with(
            "/api/v1/reservations",
            Some(&token),
            &[("Idempotency-Key", &key), ("Queue-Token", &queue_token)],
            json!({"scheduleId": schedule, "seatIds": ["VIP-1-1", "VIP-1-2"]}),
        )
        .await;
    hold.expect(201, "");
    assert_eq!(hold.body["status"], "HELD");
    assert_eq!(hold.body["totalAmount"], 300000);
    let reservation = hold.body["reservationId"].as_str().expect("id").to_string();

    app.fund(&token, 500_000).await;
    let key = app.unique("pay");
    let paid = app
        .post_with(
            "/api/v1/payments",
            Some(&token),
            &[("Idempotency-Key", &key), ("Queue-Token", &queue_token)],
            json!({"reservationId": reservation, "amount": 300000}),
        )
        .await;
    paid.expect(201, "");
    assert_eq!(paid.body["status"], "COMPLETED");
    assert_eq!(paid.body["balanceAfter"], 200000);
    assert_eq!(paid.body["queueTokenExpired"], true);
    let ticket_id = paid.body["tickets"][0]["ticketId"]
        .as_str()
        .expect("ticket")
        .to_string();

    let ticket = app
        .get(&format!("/api/v1/tickets/{ticket_id}"), Some(&token))
        .await;
    ticket.expect(200, "");
    assert_eq!(ticket.body["concert"]["title"], "Test Concert");
    assert_eq!(ticket.body["status"], "ISSUED");
    let qr = ticket.body["qrCode"].as_str().expect("qr").to_string();
    let svg = app
        .get(&format!("/api/v1/tickets/{ticket_id}/qr.svg"), Some(&token))
        .await;
    assert_eq!(svg.status.as_u16(), 200);
    assert!(svg.text.contains("<svg"));

    // Staff checks the ticket in; a replay is refused.
    let staff_user = app
        .registry
        .ensure_account(
            "door@test.boxoffice".into(),
            "Door".into(),
            "x".into(),
            boxoffice_actors::Role::Staff,
        )
        .await
        .expect("staff");
    let staff = app.token_for(staff_user.user_id, boxoffice_actors::Role::Staff);
    let checkin = app
        .post("/api/v1/checkins", Some(&staff), json!({"qrCode": qr}))
        .await;
    checkin.expect(200, "");
    assert_eq!(checkin.body["valid"], true);
    app.post("/api/v1/checkins", Some(&staff), json!({"qrCode": qr}))
        .await
        .expect(409, "TICKET_ALREADY_USED");
    app.post("/api/v1/checkins", Some(&token), json!({"qrCode": qr}))
        .await
        .expect(403, "FORBIDDEN");

    let spec = app.get("/api/v1/openapi.json", None).await;
    spec.expect(200, "");
    assert!(spec.body["paths"]["/api/v1/reservations"].is_object());
    let metrics = app.get("/metrics", None).await;
    assert!(
        metrics.text.contains("boxoffice_http_requests_total")
            && metrics.text.contains("boxoffice_seats_sold 2"),
        "{}",
        metrics.text
    );
    app.stop().await;
}
