"""The domain's enums, exposed to GraphQL with descriptions."""

from __future__ import annotations

import strawberry

from portal.adapters.reader import ConversionSortField, SortDirection
from portal.domain.access import Role
from portal.domain.conversions import ConversionStatus, RevisionSource
from portal.domain.partners import RelationshipStatus
from portal.domain.programs import ConsentMode, FollowUpPolicy, TargetKind

RoleEnum = strawberry.enum(Role, description="What a user may see and do (SPEC §2).")
RelationshipStatusEnum = strawberry.enum(
    RelationshipStatus,
    description="APPLIED → ACTIVE | REJECTED | BLOCKED; ACTIVE ⇄ PAUSED; REJECTED may re-apply, "
    "BLOCKED may not.",
)
FollowUpPolicyEnum = strawberry.enum(
    FollowUpPolicy, description="Who earns a returning customer's follow-up order (SPEC §5)."
)
ConsentModeEnum = strawberry.enum(
    ConsentMode, description="RESTRICTIVE ignores touchpoints recorded without consent."
)
ConversionStatusEnum = strawberry.enum(ConversionStatus, description="Status of a conversion.")
RevisionSourceEnum = strawberry.enum(
    RevisionSource, description="What caused a revision of a conversion."
)
SortDirectionEnum = strawberry.enum(SortDirection, description="Ascending or descending.")
ConversionSortFieldEnum = strawberry.enum(
    ConversionSortField, description="What conversions can be ordered by (id breaks ties)."
)
TargetKindEnum = strawberry.enum(
    TargetKind,
    description="SALE: an order; it makes the customer known, and an order id has at most one "
    "sale conversion. LEAD: no order (a sign-up); it never makes a customer returning nor "
    "counts as anyone's first order. An order id may have one conversion of each kind, both "
    "of the same partner.",
)
