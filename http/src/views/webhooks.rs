//! Webhooks as the admin registers and lists them, and their delivery log
//! (API.md "Booking events and webhooks"). The URL's syntax is checked here
//! (`url`); the bounds are the actor layer's constants.

use boxoffice_actors::webhooks::{
    event_kind, Delivery, DeliveryStatus, NewWebhook, Webhook, WebhookStatus, EVENT_KINDS,
    MAX_WEBHOOK_DESCRIPTION_CHARS, MAX_WEBHOOK_URL_CHARS,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Limit;
use crate::error::{ApiError, ApiResult};
use crate::time_format::rfc3339;

pub const LIMITS: &[Limit] = &[
    Limit::max_length("WebhookRequestBody", "url", MAX_WEBHOOK_URL_CHARS),
    Limit::max_length(
        "WebhookRequestBody",
        "description",
        MAX_WEBHOOK_DESCRIPTION_CHARS,
    ),
];

/// Register an endpoint: `url` (http or https), `events` (event types), `description?`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRequestBody {
    /// Where events are POSTed: an absolute http or https URL.
    pub url: String,
    /// booking.created, booking.confirmed, booking.cancelled,
    /// booking.expired, payment.completed, payment.failed, refund.issued,
    /// schedule.cancelled; at least one (repeats count once).
    #[schema(min_items = 1)]
    pub events: Vec<String>,
    pub description: Option<String>,
}

impl WebhookRequestBody {
    pub fn validate(self) -> ApiResult<NewWebhook> {
        if self.url.chars().count() > MAX_WEBHOOK_URL_CHARS {
            return Err(ApiError::validation(format!(
                "url must be at most {MAX_WEBHOOK_URL_CHARS} characters"
            )));
        }
        let parsed = url::Url::parse(&self.url)
            .map_err(|err| ApiError::validation(format!("url is not a URL: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ApiError::validation(
                "url must be an absolute http or https URL with a host",
            ));
        }
        if self.events.is_empty() {
            return Err(ApiError::validation(
                "events must name at least one event type",
            ));
        }
        let mut events = Vec::new();
        for name in &self.events {
            let kind = event_kind(name).ok_or_else(|| {
                let known: Vec<&str> = EVENT_KINDS.iter().map(|k| k.name()).collect();
                ApiError::validation(format!(
                    "unknown event type {name:?}; the types are {}",
                    known.join(", ")
                ))
            })?;
            events.push(kind);
        }
        if let Some(description) = &self.description {
            if description.chars().count() > MAX_WEBHOOK_DESCRIPTION_CHARS {
                return Err(ApiError::validation(format!(
                    "description must be at most {MAX_WEBHOOK_DESCRIPTION_CHARS} characters"
                )));
            }
        }
        Ok(NewWebhook {
            url: self.url,
            events,
            description: self.description,
        })
    }
}

/// A webhook's status.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookStatusName {
    Active,
    Disabled,
}

/// A registered endpoint (its secret is shown only when it is created).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookBody {
    pub webhook_id: String,
    pub url: String,
    pub events: Vec<&'static str>,
    pub description: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// DISABLED once a receiver answered 410 Gone (or left 50,000
    /// deliveries pending): nothing more is sent.
    #[schema(value_type = WebhookStatusName)]
    pub status: &'static str,
}

impl From<&Webhook> for WebhookBody {
    fn from(webhook: &Webhook) -> Self {
        WebhookBody {
            webhook_id: webhook.webhook_id.to_string(),
            url: webhook.url.clone(),
            events: webhook.events.iter().map(|k| k.name()).collect(),
            description: webhook.description.clone(),
            created_at: rfc3339(webhook.created_at),
            status: match webhook.status {
                WebhookStatus::Active => "ACTIVE",
                WebhookStatus::Disabled => "DISABLED",
            },
        }
    }
}

/// A new endpoint, with its secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhookBody {
    #[serde(flatten)]
    pub webhook: WebhookBody,
    /// The HMAC-SHA256 key of `Boxoffice-Signature` (its UTF-8 bytes).
    pub secret: String,
}

impl From<&Webhook> for CreatedWebhookBody {
    fn from(webhook: &Webhook) -> Self {
        CreatedWebhookBody {
            webhook: WebhookBody::from(webhook),
            secret: webhook.secret.clone(),
        }
    }
}

/// A delivery's status.
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatusName {
    Pending,
    Delivered,
    Failed,
}

/// One delivery of one event to the endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryBody {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Attempts made so far (0: the first is due).
    pub attempt: u32,
    #[schema(value_type = DeliveryStatusName)]
    pub status: &'static str,
    /// The last attempt's HTTP status; null when there was no answer (or no attempt yet).
    pub response_status: Option<u16>,
    /// The last attempt's time (when recorded, before any).
    #[schema(format = DateTime)]
    pub at: String,
    /// When the next attempt is due; null once DELIVERED or FAILED.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
}

impl From<&Delivery> for DeliveryBody {
    fn from(delivery: &Delivery) -> Self {
        DeliveryBody {
            event_id: delivery.event_id.to_string(),
            kind: delivery.kind.name(),
            attempt: delivery.attempt,
            status: match delivery.status {
                DeliveryStatus::Pending => "PENDING",
                DeliveryStatus::Delivered => "DELIVERED",
                DeliveryStatus::Failed => "FAILED",
            },
            response_status: delivery.response_status,
            at: rfc3339(delivery.at),
            next_attempt_at: delivery.next_attempt_at.map(rfc3339),
        }
    }
}
