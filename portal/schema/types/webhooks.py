"""Webhook endpoints and their deliveries (issue 15)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from portal.global_ids import encode_id
from portal.services import webhooks as service


@strawberry.type(
    description="An HTTPS endpoint that receives signed events (Standard Webhooks). The "
    "secret is shown only by `createWebhookEndpoint` and `rotateWebhookSecret`."
)
class WebhookEndpoint:
    id: strawberry.ID = strawberry.field(description="Global id.")
    url: str = strawberry.field(description="Where events are POSTed.")
    event_types: list[str] = strawberry.field(
        description="The event types it receives (see `webhookEventTypes`)."
    )
    description: str = strawberry.field(description="What the endpoint is for.")
    enabled: bool = strawberry.field(
        description="False once disabled: by its owner, by a 410 answer, or after a day of "
        "failed deliveries (see `disabledReason`)."
    )
    disabled_reason: str | None = strawberry.field(description="Why it was disabled.")
    disabled_at: datetime | None = strawberry.field(description="When it was disabled.")
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_domain(cls, e: service.Endpoint) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(encode_id("WebhookEndpoint", e.id)),
            url=e.url,
            event_types=e.event_types,
            description=e.description,
            enabled=e.enabled,
            disabled_reason=e.disabled_reason,
            disabled_at=e.disabled_at,
            created_at=e.created_at,
            updated_at=e.updated_at,
        )


@strawberry.type(description="One attempt to deliver an event.")
class WebhookAttempt:
    attempted_at: datetime = strawberry.field(description="When it was sent.")
    status_code: int | None = strawberry.field(
        description="The receiver's HTTP status; null when there was no answer."
    )
    duration_ms: int = strawberry.field(description="How long the attempt took.")
    error: str | None = strawberry.field(
        description="Why there was no answer (timeout, refused address, connection reset)."
    )
    response: str | None = strawberry.field(
        description="The start of the receiver's answer (at most 1000 characters)."
    )


@strawberry.type(description="An event sent (or to be sent) to one endpoint.")
class WebhookDelivery:
    id: strawberry.ID = strawberry.field(description="Global id.")
    event_id: str = strawberry.field(
        description="The event's stable id (the `webhook-id` header): the same for every "
        "attempt and redelivery; deduplicate on it."
    )
    event_type: str = strawberry.field(description="The event type.")
    status: str = strawberry.field(
        description="PENDING (retrying until its next attempt), DELIVERED or FAILED."
    )
    attempt_count: int = strawberry.field(description="Attempts made.")
    next_attempt_at: datetime | None = strawberry.field(description="When it is tried next.")
    delivered_at: datetime | None = strawberry.field(description="When a 2xx answered.")
    created_at: datetime = strawberry.field(description="When the delivery was created.")
    payload: str = strawberry.field(description="The JSON body sent.")
    attempts: list[WebhookAttempt] = strawberry.field(description="The attempts, oldest first.")

    @classmethod
    def from_domain(cls, d: service.Delivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(encode_id("WebhookDelivery", d.id)),
            event_id=d.event_key,
            event_type=d.event_type,
            status=d.status,
            attempt_count=d.attempts,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
            payload=d.body,
            attempts=[
                WebhookAttempt(
                    attempted_at=a.attempted_at,
                    status_code=a.status_code,
                    duration_ms=a.duration_ms,
                    error=a.error,
                    response=a.response,
                )
                for a in d.attempt_log
            ],
        )
