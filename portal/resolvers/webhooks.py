"""webhookEndpoints, webhookDeliveries, webhookEventTypes; createWebhookEndpoint,
updateWebhookEndpoint, deleteWebhookEndpoint, rotateWebhookSecret, redeliverWebhookEvent,
sendTestWebhook. Partners manage their partner's endpoints, advertisers their advertiser's,
admins every endpoint (portal.adapters.visibility)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.events import EVENT_TYPES
from portal.resolvers.support import (
    MUTATION_INPUT,
    Info,
    require_pk,
    run_in_uow,
    user_error_type,
)
from portal.schema.errors import as_bad_input
from portal.schema.ids import decode_typed
from portal.schema.types.webhooks import WebhookDelivery, WebhookEndpoint
from portal.services import webhooks as service

URL_CODES = ["INVALID_URL", "INSECURE_URL", "REFUSED_URL", "UNRESOLVABLE_URL"]
CreateErrorCode, CreateUserError = user_error_type(
    "CreateWebhookEndpoint",
    [*URL_CODES, "UNKNOWN_EVENT_TYPE", "BLANK", "TOO_LONG", "TOO_MANY_ENDPOINTS"],
)
UpdateErrorCode, UpdateUserError = user_error_type(
    "UpdateWebhookEndpoint", [*URL_CODES, "UNKNOWN_EVENT_TYPE", "BLANK", "TOO_LONG"]
)
DeleteErrorCode, DeleteUserError = user_error_type("DeleteWebhookEndpoint", [])
RotateErrorCode, RotateUserError = user_error_type("RotateWebhookSecret", [])
RedeliverErrorCode, RedeliverUserError = user_error_type("RedeliverWebhookEvent", [])
SendTestErrorCode, SendTestUserError = user_error_type("SendTestWebhook", [])
ERRORS_DESCRIPTION = "Problems; nothing was changed when there are any."


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="https URL; one resolving to a private, loopback or link-local address "
        "is refused."
    )
    event_types: list[str] = strawberry.field(
        description="Event types to receive (see `webhookEventTypes`)."
    )
    description: str | None = strawberry.field(
        default=None, description="What the endpoint is for (at most 500 characters)."
    )


@strawberry.type(description="The created endpoint; `secret` is shown only here, once.")
class CreateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    secret: str | None = strawberry.field(
        description="The signing secret (`whsec_` + base64 of the key): keep it, it is not "
        "shown again."
    )
    user_errors: list[CreateUserError] = strawberry.field(description=ERRORS_DESCRIPTION)  # type: ignore[valid-type]


@strawberry.input(description="What to change of an endpoint; omitted fields stay.")
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")
    url: str | None = strawberry.field(default=None, description="A new URL.")
    event_types: list[str] | None = strawberry.field(
        default=None, description="The new list of event types."
    )
    description: str | None = strawberry.field(default=None, description="A new description.")
    enabled: bool | None = strawberry.field(
        default=None,
        description="false disables it; true enables a disabled endpoint (its pending "
        "deliveries are tried at once).",
    )


@strawberry.type(description="The changed endpoint.")
class UpdateWebhookEndpointPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    user_errors: list[UpdateUserError] = strawberry.field(description=ERRORS_DESCRIPTION)  # type: ignore[valid-type]


@strawberry.input(description="An endpoint.")
class WebhookEndpointInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")


@strawberry.type(description="The deleted endpoint's id; its deliveries are gone too.")
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: strawberry.ID | None = strawberry.field(description="Its id.")
    user_errors: list[DeleteUserError] = strawberry.field(description=ERRORS_DESCRIPTION)  # type: ignore[valid-type]


@strawberry.type(description="The endpoint with a new secret, shown only here, once.")
class RotateWebhookSecretPayload:
    webhook_endpoint: WebhookEndpoint | None = strawberry.field(description="The endpoint.")
    secret: str | None = strawberry.field(
        description="The new secret; the old one stops signing at once."
    )
    user_errors: list[RotateUserError] = strawberry.field(description=ERRORS_DESCRIPTION)  # type: ignore[valid-type]


@strawberry.input(description="An event to send again to an endpoint.")
class RedeliverWebhookEventInput:
    endpoint_id: strawberry.ID = strawberry.field(description="The endpoint.")
    event_id: str = strawberry.field(
        description="The event's id (`WebhookDelivery.eventId`), one sent to this endpoint."
    )


@strawberry.type(description="The new delivery (same event id and body).")
class RedeliverWebhookEventPayload:
    delivery: WebhookDelivery | None = strawberry.field(description="The delivery, queued.")
    user_errors: list[RedeliverUserError] = strawberry.field(description=ERRORS_DESCRIPTION)  # type: ignore[valid-type]


@strawberry.type(description="The test delivery.")
class SendTestWebhookPayload:
    delivery: WebhookDelivery | None = strawberry.field(
        description="The delivery of a `webhook.test` event, queued."
    )
    user_errors: list[SendTestUserError] = strawberry.field(description=ERRORS_DESCRIPTION)  # type: ignore[valid-type]


def _endpoint_pk(raw: strawberry.ID) -> int:
    return require_pk(raw, "WebhookEndpoint", "endpointId")


async def _delivery(
    uow: UnitOfWork, viewer: Viewer, endpoint_id: int, delivery_id: int
) -> WebhookDelivery:
    for d in await service.list_deliveries(uow, viewer, endpoint_id, first=100):
        if d.id == delivery_id:
            return WebhookDelivery.from_domain(d)
    raise AssertionError("the delivery just made is listed")


@strawberry.type(description="Reads of webhook endpoints and deliveries.")
class WebhookQueries:
    @strawberry.field(
        description="The webhook endpoints the viewer manages, newest first: a partner's, an "
        "advertiser's, or (admins) all."
    )
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        viewer = info.context.require_viewer()
        async with UnitOfWork(info.context.engine, writes=False) as uow:
            return [
                WebhookEndpoint.from_domain(e) for e in await service.list_endpoints(uow, viewer)
            ]

    @strawberry.field(
        description="An endpoint's deliveries, newest first, each with its attempts (status, "
        "duration, the start of the answer)."
    )
    async def webhook_deliveries(
        self,
        info: Info,
        endpoint_id: Annotated[strawberry.ID, strawberry.argument(description="The endpoint.")],
        first: Annotated[
            int, strawberry.argument(description="The newest n (1–100, default 50).")
        ] = 50,
    ) -> list[WebhookDelivery]:
        viewer = info.context.require_viewer()
        with as_bad_input():
            pk = decode_typed(endpoint_id, "WebhookEndpoint", ("endpointId",))
            async with UnitOfWork(info.context.engine, writes=False) as uow:
                found = await service.list_deliveries(uow, viewer, pk, first)
        return [WebhookDelivery.from_domain(d) for d in found]

    @strawberry.field(description="The event types an endpoint can subscribe to.")
    def webhook_event_types(self) -> list[str]:
        return list(EVENT_TYPES)


@strawberry.type(description="Webhook endpoint management.")
class WebhookMutations:
    @strawberry.mutation(description="Create a webhook endpoint; answers its secret, once.")
    async def create_webhook_endpoint(
        self, info: Info, input: Annotated[CreateWebhookEndpointInput, MUTATION_INPUT]
    ) -> CreateWebhookEndpointPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> tuple[WebhookEndpoint, str]:
            endpoint, secret = await service.create_endpoint(
                uow, viewer, input.url, input.event_types, input.description
            )
            return WebhookEndpoint.from_domain(endpoint), secret

        created, errors = await run_in_uow(info, CreateUserError, CreateErrorCode, use_case)
        return CreateWebhookEndpointPayload(
            webhook_endpoint=created[0] if created else None,
            secret=created[1] if created else None,
            user_errors=errors,
        )

    @strawberry.mutation(description="Change, disable or enable a webhook endpoint.")
    async def update_webhook_endpoint(
        self, info: Info, input: Annotated[UpdateWebhookEndpointInput, MUTATION_INPUT]
    ) -> UpdateWebhookEndpointPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> WebhookEndpoint:
            endpoint = await service.update_endpoint(
                uow,
                viewer,
                _endpoint_pk(input.endpoint_id),
                url=input.url,
                event_types=input.event_types,
                description=input.description,
                enabled=input.enabled,
            )
            return WebhookEndpoint.from_domain(endpoint)

        endpoint, errors = await run_in_uow(info, UpdateUserError, UpdateErrorCode, use_case)
        return UpdateWebhookEndpointPayload(webhook_endpoint=endpoint, user_errors=errors)

    @strawberry.mutation(description="Delete a webhook endpoint and its deliveries.")
    async def delete_webhook_endpoint(
        self, info: Info, input: Annotated[WebhookEndpointInput, MUTATION_INPUT]
    ) -> DeleteWebhookEndpointPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> strawberry.ID:
            await service.delete_endpoint(uow, viewer, _endpoint_pk(input.endpoint_id))
            return input.endpoint_id

        deleted, errors = await run_in_uow(info, DeleteUserError, DeleteErrorCode, use_case)
        return DeleteWebhookEndpointPayload(deleted_endpoint_id=deleted, user_errors=errors)

    @strawberry.mutation(description="Give an endpoint a new secret; answers it, once.")
    async def rotate_webhook_secret(
        self, info: Info, input: Annotated[WebhookEndpointInput, MUTATION_INPUT]
    ) -> RotateWebhookSecretPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> tuple[WebhookEndpoint, str]:
            endpoint, secret = await service.rotate_secret(
                uow, viewer, _endpoint_pk(input.endpoint_id)
            )
            return WebhookEndpoint.from_domain(endpoint), secret

        rotated, errors = await run_in_uow(info, RotateUserError, RotateErrorCode, use_case)
        return RotateWebhookSecretPayload(
            webhook_endpoint=rotated[0] if rotated else None,
            secret=rotated[1] if rotated else None,
            user_errors=errors,
        )

    @strawberry.mutation(description="Send an event to an endpoint again (same id and body).")
    async def redeliver_webhook_event(
        self, info: Info, input: Annotated[RedeliverWebhookEventInput, MUTATION_INPUT]
    ) -> RedeliverWebhookEventPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> WebhookDelivery:
            pk = _endpoint_pk(input.endpoint_id)
            delivery_id = await service.redeliver_event(uow, viewer, pk, input.event_id)
            return await _delivery(uow, viewer, pk, delivery_id)

        delivery, errors = await run_in_uow(info, RedeliverUserError, RedeliverErrorCode, use_case)
        return RedeliverWebhookEventPayload(delivery=delivery, user_errors=errors)

    @strawberry.mutation(description="Send a `webhook.test` event to an endpoint.")
    async def send_test_webhook(
        self, info: Info, input: Annotated[WebhookEndpointInput, MUTATION_INPUT]
    ) -> SendTestWebhookPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> WebhookDelivery:
            pk = _endpoint_pk(input.endpoint_id)
            delivery_id = await service.send_test(uow, viewer, pk)
            return await _delivery(uow, viewer, pk, delivery_id)

        delivery, errors = await run_in_uow(info, SendTestUserError, SendTestErrorCode, use_case)
        return SendTestWebhookPayload(delivery=delivery, user_errors=errors)
