"""Root mutation type, merged from one class per area (see portal/resolvers)."""

from __future__ import annotations

from strawberry.tools import merge_types

from portal.resolvers.access import AccessMutations
from portal.resolvers.billing import BillingMutations
from portal.resolvers.cart_mapping import CartMappingMutations
from portal.resolvers.exports import ExportMutations
from portal.resolvers.imports import ImportMutations
from portal.resolvers.order_books import OrderBookMutations
from portal.resolvers.orders import OrderMutations
from portal.resolvers.rates import RatesMutations
from portal.resolvers.requests import RequestMutations
from portal.resolvers.setup import SetupMutations
from portal.resolvers.tracking_difference_export import TrackingDifferenceExportMutations
from portal.resolvers.validation import ValidationMutations
from portal.resolvers.webhooks import WebhookMutations

Mutation = merge_types(
    "Mutation",
    (
        AccessMutations,
        SetupMutations,
        OrderMutations,
        RequestMutations,
        ExportMutations,
        RatesMutations,
        ImportMutations,
        CartMappingMutations,
        BillingMutations,
        OrderBookMutations,
        TrackingDifferenceExportMutations,
        ValidationMutations,
        WebhookMutations,
    ),
)
