"""Conversion request mutations: create, update, withdraw, comment, preview, decide (one and
bulk), retry. Each parses its input and calls portal.services.requests."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from portal.adapters.unit_of_work import UnitOfWork
from portal.domain.access import Viewer
from portal.domain.conversions import ConversionStatus
from portal.domain.errors import DomainError, ValidationFailed
from portal.domain.requests import CommentVisibility, Decision, RequestedValues, RequestKind
from portal.resolvers.support import (
    MUTATION_INPUT,
    Info,
    pk,
    require_pk,
    run_in_uow,
    to_user_errors,
    user_error_type,
)
from portal.schema.ids import encode_id
from portal.schema.scalars import CurrencyCode
from portal.schema.types.enums import ConversionStatusEnum
from portal.schema.types.requests import (
    CommentVisibilityEnum,
    ConversionRequest,
    DecisionEnum,
    RequestComment,
    RequestKindEnum,
    RequestPreview,
    preview_of,
)
from portal.services import requests as service

MAX_BULK_DECISIONS = 100
VALUE_CODES = [
    "REQUIRED",
    "BLANK",
    "NO_ACTIVE_RELATIONSHIP",
    "CONVERSION_PAID",
    "CONVERSION_RESERVED",
    "ORDER_ALREADY_CONVERTED",
    "OPEN_REQUEST_EXISTS",
    "UNKNOWN_TARGET",
    "INACTIVE_TARGET",
    "UNKNOWN_CATEGORY",
    "INACTIVE_CATEGORY",
    "UNKNOWN_CONVERSION_NOTE",
    "NOTE_REQUIRED",
    "NOTHING_TO_CHANGE",
    "INVALID_DATETIME",
    "FUTURE_TRACKING_TIME",
    "NEGATIVE_VALUE",
    "UNKNOWN_CURRENCY",
    "TOO_MANY_SUB_IDS",
    "TOO_LONG",
    "MISSING_EXCHANGE_RATE",
    "NO_COMMISSION_PERIOD",
    "NO_RATE",
    "INVALID_EXCHANGE_RATE",
    "INVALID_AMOUNT",
]
DECISION_CODES = [
    "INVALID_STATE",
    "CONVERSION_PAID",
    "CONVERSION_RESERVED",
    "SELF_DECISION_NOT_ALLOWED",
    "REASON_REQUIRED",
    "UNKNOWN_CONVERSION_NOTE",
    "ALREADY_DECIDED",
    "TOO_LONG",
]
CreateCode, CreateError = user_error_type("CreateConversionRequest", VALUE_CODES)
UpdateCode, UpdateError = user_error_type(
    "UpdateConversionRequest", [*VALUE_CODES, "INVALID_STATE"]
)
WithdrawCode, WithdrawError = user_error_type(
    "WithdrawConversionRequest", ["INVALID_STATE", "ALREADY_DECIDED"]
)
CommentCode, CommentError = user_error_type("CommentOnConversionRequest", ["BLANK", "TOO_LONG"])
PreviewCode, PreviewError = user_error_type(
    "PreviewConversionRequest", [*VALUE_CODES, "INVALID_INPUT"]
)
DecideCode, DecideError = user_error_type("DecideConversionRequest", DECISION_CODES)
DecideManyCode, DecideManyError = user_error_type(
    "DecideConversionRequests", [*DECISION_CODES, "TOO_MANY_DECISIONS"]
)
RetryCode, RetryError = user_error_type("RetryConversionRequest", ["INVALID_STATE"])


@strawberry.input(
    description="Conversion values a request asks for (CHANGE_EXISTING: leave out what stays)."
)
class RequestedValuesInput:
    order_id: str | None = strawberry.field(
        default=None, description="Order id (CREATE_NEW, required)."
    )
    conversion_target: str | None = strawberry.field(
        default=None, description="Target key (CREATE_NEW, required)."
    )
    tracking_category: str | None = strawberry.field(
        default=None, description="Category key (default `default`)."
    )
    tracking_time: datetime | None = strawberry.field(
        default=None, description="Tracking time (CREATE_NEW, required)."
    )
    order_value: Decimal | None = strawberry.field(
        default=None,
        description="Net order value (CREATE_NEW, required), in `currency`; another currency "
        "is converted exactly with the reference rates of the tracking day. For a conversion "
        "with basket positions, a new value is shared out over them in proportion.",
    )
    currency: CurrencyCode | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Currency of orderValue (default: the program's)."
    )
    status: ConversionStatusEnum | None = strawberry.field(
        default=None, description="Conversion status."
    )
    commission: Decimal | None = strawberry.field(
        default=None,
        description="Explicit commission in the program currency, with at most its minor digits "
        "(else INVALID_AMOUNT: it is never rounded to fit).",
    )
    sub_ids: list[str | None] | None = strawberry.field(
        default=None, description="Sub IDs 1–6 (null = unchanged)."
    )
    device: str | None = strawberry.field(default=None, description="Device.")
    conversion_note: str | None = strawberry.field(
        default=None, description="Conversion note code."
    )

    def to_domain(self) -> RequestedValues:
        return RequestedValues(
            order_id=self.order_id,
            target=self.conversion_target,
            category=self.tracking_category,
            tracking_time=self.tracking_time,
            order_value=self.order_value,
            currency=self.currency,
            status=ConversionStatus(self.status.value) if self.status else None,
            commission=self.commission,
            sub_ids=tuple(self.sub_ids) if self.sub_ids is not None else None,
            device=self.device,
            conversion_note=self.conversion_note,
        )


@strawberry.input(
    description="A new conversion request. A CREATE_NEW request for an order the partner has "
    "already is ORDER_ALREADY_CONVERTED (change it with CHANGE_EXISTING). One for an order "
    "tracked for another partner is an attribution claim: it is raised (INQUIRED) like any "
    "other, and the partner is not told whether the order exists; the advertiser sees it "
    "against that conversion (`claimedConversion`) next to other partners' requests for the "
    "order (`competingRequests`). Accepting one settles the order (the others INQUIRED are "
    "rejected); processing it moves the order's conversions to the partner, rated under its "
    "relationship. Each partner may hold one open request per order and target kind; it never "
    "learns about other partners' requests."
)
class CreateConversionRequestInput:
    kind: RequestKindEnum = strawberry.field(description="CREATE_NEW or CHANGE_EXISTING.")
    requested: RequestedValuesInput = strawberry.field(
        description="What the conversion should look like."
    )
    program_id: strawberry.ID | None = strawberry.field(
        default=None, description="Program (CREATE_NEW)."
    )
    partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Partner (admins and advertisers; partners raise for themselves)."
    )
    conversion_id: strawberry.ID | None = strawberry.field(
        default=None, description="Conversion (CHANGE_EXISTING)."
    )
    comment: str | None = strawberry.field(default=None, description="Why (shown to the decider).")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Repeat with the same key to get the first call's request, not a second one.",
    )

    def to_draft(self) -> service.Draft:
        return service.Draft(
            kind=RequestKind(self.kind.value),
            program_id=pk(self.program_id, "Program", "programId"),
            partner_id=pk(self.partner_id, "Partner", "partnerId"),
            conversion_id=pk(self.conversion_id, "Conversion", "conversionId"),
            requested=self.requested.to_domain(),
            comment=self.comment,
            idempotency_key=self.idempotency_key,
        )


@strawberry.type(description="The raised request.")
class CreateConversionRequestPayload:
    conversion_request: ConversionRequest | None = strawberry.field(description="The request.")
    user_errors: list[CreateError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="Amend an INQUIRED request (its author only).")
class UpdateConversionRequestInput:
    request_id: strawberry.ID = strawberry.field(description="The request.")
    requested: RequestedValuesInput = strawberry.field(
        description="Values to change (others stay)."
    )
    comment: str | None = strawberry.field(default=None, description="New comment.")


@strawberry.type(description="The amended request.")
class UpdateConversionRequestPayload:
    conversion_request: ConversionRequest | None = strawberry.field(description="The request.")
    user_errors: list[UpdateError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="Withdraw an INQUIRED request (its author only).")
class WithdrawConversionRequestInput:
    request_id: strawberry.ID = strawberry.field(description="The request.")


@strawberry.type(description="The withdrawn request.")
class WithdrawConversionRequestPayload:
    conversion_request: ConversionRequest | None = strawberry.field(description="The request.")
    user_errors: list[WithdrawError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="A comment on a request.")
class CommentOnConversionRequestInput:
    request_id: strawberry.ID = strawberry.field(description="The request.")
    body: str = strawberry.field(description="Text (up to 2000 characters).")
    visibility: CommentVisibilityEnum | None = strawberry.field(
        default=None, description="SHARED (default) or INTERNAL (admins and advertisers only)."
    )


@strawberry.type(description="The posted comment.")
class CommentOnConversionRequestPayload:
    comment: RequestComment | None = strawberry.field(description="The comment.")
    user_errors: list[CommentError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(
    description="Preview a saved request (requestId) or an unsaved draft — give one. A draft "
    "for an order tracked for another partner previews like any new order: the preview never "
    "tells a partner whether an order exists or is claimed."
)
class PreviewConversionRequestInput:
    request_id: strawberry.ID | None = strawberry.field(
        default=None, description="A saved request."
    )
    draft: CreateConversionRequestInput | None = strawberry.field(
        default=None, description="An unsaved request."
    )


@strawberry.type(description="The preview; nothing was saved.")
class PreviewConversionRequestPayload:
    preview: RequestPreview | None = strawberry.field(description="Changes and revised commission.")
    user_errors: list[PreviewError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(
    description="Accept or reject a request (reject needs a conversion note and/or reason)."
)
class DecideConversionRequestInput:
    request_id: strawberry.ID = strawberry.field(description="The request.")
    decision: DecisionEnum = strawberry.field(description="ACCEPT or REJECT.")
    conversion_note: str | None = strawberry.field(
        default=None, description="Conversion note code."
    )
    reason: str | None = strawberry.field(default=None, description="Reason text.")


@strawberry.type(description="The decided request.")
class DecideConversionRequestPayload:
    conversion_request: ConversionRequest | None = strawberry.field(description="The request.")
    user_errors: list[DecideError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


@strawberry.input(description="Up to 100 decisions; each is applied or refused on its own.")
class DecideConversionRequestsInput:
    decisions: list[DecideConversionRequestInput] = strawberry.field(description="The decisions.")


@strawberry.type(description="The outcome of one decision of a bulk call.")
class DecisionResult:
    index: int = strawberry.field(description="Position in the input list.")
    request_id: strawberry.ID = strawberry.field(description="The request id as given.")
    conversion_request: ConversionRequest | None = strawberry.field(
        description="The decided request."
    )
    user_errors: list[DecideManyError] = strawberry.field(description="Problems of this decision.")  # type: ignore[valid-type]


@strawberry.type(description="One result per decision, in input order.")
class DecideConversionRequestsPayload:
    results: list[DecisionResult] = strawberry.field(description="Per-decision outcomes.")
    user_errors: list[DecideManyError] = strawberry.field(
        description="Problems of the call as a whole."
    )  # type: ignore[valid-type]


@strawberry.input(description="Process a FAILED request again (deciders).")
class RetryConversionRequestInput:
    request_id: strawberry.ID = strawberry.field(description="The request.")


@strawberry.type(description="The request, ACCEPTED again and queued.")
class RetryConversionRequestPayload:
    conversion_request: ConversionRequest | None = strawberry.field(description="The request.")
    user_errors: list[RetryError] = strawberry.field(description="Problems.")  # type: ignore[valid-type]


def _request_pk(raw: strawberry.ID) -> int:
    return require_pk(raw, "ConversionRequest", "requestId")


@strawberry.type
class RequestMutations:
    @strawberry.mutation(description="Raise a request to create a missed conversion or change one.")
    async def create_conversion_request(
        self, info: Info, input: Annotated[CreateConversionRequestInput, MUTATION_INPUT]
    ) -> CreateConversionRequestPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ConversionRequest:
            return ConversionRequest.from_domain(
                await service.create_request(uow, viewer, input.to_draft())
            )

        request, errors = await run_in_uow(info, CreateError, CreateCode, use_case)
        return CreateConversionRequestPayload(conversion_request=request, user_errors=errors)

    @strawberry.mutation(
        description="Amend your INQUIRED request; it is validated and rated again."
    )
    async def update_conversion_request(
        self, info: Info, input: Annotated[UpdateConversionRequestInput, MUTATION_INPUT]
    ) -> UpdateConversionRequestPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ConversionRequest:
            updated = await service.update_request(
                uow,
                viewer,
                _request_pk(input.request_id),
                input.requested.to_domain(),
                input.comment,
            )
            return ConversionRequest.from_domain(updated)

        request, errors = await run_in_uow(info, UpdateError, UpdateCode, use_case)
        return UpdateConversionRequestPayload(conversion_request=request, user_errors=errors)

    @strawberry.mutation(description="Withdraw your INQUIRED request.")
    async def withdraw_conversion_request(
        self, info: Info, input: Annotated[WithdrawConversionRequestInput, MUTATION_INPUT]
    ) -> WithdrawConversionRequestPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ConversionRequest:
            return ConversionRequest.from_domain(
                await service.withdraw_request(uow, viewer, _request_pk(input.request_id))
            )

        request, errors = await run_in_uow(info, WithdrawError, WithdrawCode, use_case)
        return WithdrawConversionRequestPayload(conversion_request=request, user_errors=errors)

    @strawberry.mutation(description="Comment on a request (partners: SHARED only).")
    async def comment_on_conversion_request(
        self, info: Info, input: Annotated[CommentOnConversionRequestInput, MUTATION_INPUT]
    ) -> CommentOnConversionRequestPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> RequestComment:
            from portal.adapters.request_reader import Comment

            visibility = (
                CommentVisibility(input.visibility.value)
                if input.visibility
                else CommentVisibility.SHARED
            )
            request_id = _request_pk(input.request_id)
            comment_id = await service.comment_on_request(
                uow, viewer, request_id, input.body, visibility
            )
            return RequestComment.from_domain(
                Comment(
                    comment_id,
                    request_id,
                    viewer.user_id,
                    "",
                    viewer.role,
                    visibility,
                    input.body.strip(),
                    uow.now,
                )
            )

        comment, errors = await run_in_uow(info, CommentError, CommentCode, use_case)
        if comment is not None:
            # The author's own name, read back through the same path as every comment.
            from portal.schema.types.requests import load_actor

            actor = await load_actor(info, info.context.require_viewer().user_id)
            if actor is not None:
                comment.author = actor
        return CommentOnConversionRequestPayload(comment=comment, user_errors=errors)

    @strawberry.mutation(
        description="What accepting would do — for a saved request or a draft. Saves nothing."
    )
    async def preview_conversion_request(
        self, info: Info, input: Annotated[PreviewConversionRequestInput, MUTATION_INPUT]
    ) -> PreviewConversionRequestPayload:
        viewer = info.context.require_viewer()
        try:
            result = await service.preview_without_saving(
                info.context.engine,
                viewer,
                None if input.request_id is None else _request_pk(input.request_id),
                None if input.draft is None else input.draft.to_draft(),
            )
        except (DomainError, ValidationFailed) as error:
            errors = to_user_errors(error, PreviewError, PreviewCode)
            if input.draft is not None and input.request_id is None:
                for e in errors:
                    if e.field and e.field[0] == "input":
                        e.field = ["input", "draft", *e.field[1:]]
            return PreviewConversionRequestPayload(preview=None, user_errors=errors)
        new = result.revised.conversion
        return PreviewConversionRequestPayload(
            preview=preview_of(
                result.changes,
                new.commission,
                new.currency,
                new.commission_model_name,
                new.commission_breakdown,
            ),
            user_errors=[],
        )

    @strawberry.mutation(
        description="Accept or reject a request; an accepted one is processed by a job."
    )
    async def decide_conversion_request(
        self, info: Info, input: Annotated[DecideConversionRequestInput, MUTATION_INPUT]
    ) -> DecideConversionRequestPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ConversionRequest:
            decided = await service.decide_request(
                uow,
                viewer,
                _request_pk(input.request_id),
                Decision(input.decision.value),
                input.conversion_note,
                input.reason,
            )
            return ConversionRequest.from_domain(decided)

        request, errors = await run_in_uow(info, DecideError, DecideCode, use_case)
        return DecideConversionRequestPayload(conversion_request=request, user_errors=errors)

    @strawberry.mutation(description="Decide up to 100 requests; one result per decision.")
    async def decide_conversion_requests(
        self, info: Info, input: Annotated[DecideConversionRequestsInput, MUTATION_INPUT]
    ) -> DecideConversionRequestsPayload:
        if len(input.decisions) > MAX_BULK_DECISIONS:
            error = DomainError(
                "TOO_MANY_DECISIONS",
                f"at most {MAX_BULK_DECISIONS} decisions per call",
                ("decisions",),
            )
            return DecideConversionRequestsPayload(
                results=[], user_errors=to_user_errors(error, DecideManyError, DecideManyCode)
            )
        entries = []
        for d in input.decisions:
            try:
                entries.append(
                    (
                        _request_pk(d.request_id),
                        Decision(d.decision.value),
                        d.conversion_note,
                        d.reason,
                        None,
                    )
                )
            except DomainError as error:
                entries.append((None, Decision(d.decision.value), None, None, error))

        async def use_case(uow: UnitOfWork, viewer: Viewer) -> list[service.DecisionOutcome]:
            return await service.decide_requests(uow, viewer, entries)

        outcomes, errors = await run_in_uow(info, DecideManyError, DecideManyCode, use_case)
        results = []
        for index, (d, outcome) in enumerate(zip(input.decisions, outcomes or [], strict=False)):
            item_errors = []
            for e in outcome.errors:
                field = (
                    ["input", "decisions", str(index), *e.field]
                    if e.field
                    else ["input", "decisions", str(index)]
                )
                item_errors.append(
                    DecideManyError(field=field, message=e.message, code=DecideManyCode[e.code])
                )
            results.append(
                DecisionResult(
                    index=index,
                    request_id=d.request_id,
                    conversion_request=ConversionRequest.from_domain(outcome.request)
                    if outcome.request
                    else None,
                    user_errors=item_errors,
                )
            )
        return DecideConversionRequestsPayload(results=results, user_errors=errors)

    @strawberry.mutation(description="Queue a FAILED request for processing again.")
    async def retry_conversion_request(
        self, info: Info, input: Annotated[RetryConversionRequestInput, MUTATION_INPUT]
    ) -> RetryConversionRequestPayload:
        async def use_case(uow: UnitOfWork, viewer: Viewer) -> ConversionRequest:
            return ConversionRequest.from_domain(
                await service.retry_request(uow, viewer, _request_pk(input.request_id))
            )

        request, errors = await run_in_uow(info, RetryError, RetryCode, use_case)
        return RetryConversionRequestPayload(conversion_request=request, user_errors=errors)


__all__ = ["RequestMutations", "encode_id"]
