"""Recognising returning customers without storing who they are (SPEC §5.2).

A customer is known when an earlier attributed order of the program matches by customer id **or**
by e-mail. Only keyed hashes of both are ever stored, never the e-mail itself.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from portal.domain.access import normalize_email


@dataclass(frozen=True, slots=True)
class CustomerKeys:
    """HMAC-SHA256 hex digests of the shop's customer id and of the normalized e-mail.
    Either is None when the order did not carry it (or carried only blanks)."""

    customer_id_hash: str | None
    email_hash: str | None

    @property
    def is_empty(self) -> bool:
        """True when the order carries nothing to recognise the customer by."""
        return self.customer_id_hash is None and self.email_hash is None


def _keyed_hash(value: str, secret: bytes) -> str:
    return hmac.new(secret, value.encode("utf-8"), hashlib.sha256).hexdigest()


def customer_keys(*, customer_id: str | None, email: str | None, secret: bytes) -> CustomerKeys:
    """The keys a returning customer is looked up by.

    The customer id is stripped; the e-mail is trimmed and case-folded (`normalize_email`), so
    `" Foo@Example.COM "` and `"foo@example.com"` give the same hash. Blank inputs give None.
    An empty secret is refused: an unkeyed hash of an e-mail is guessable.
    """
    if not secret:
        raise ValueError("customer_keys needs a non-empty secret")
    cleaned_id = customer_id.strip() if customer_id is not None else ""
    cleaned_email = normalize_email(email) if email is not None else ""
    return CustomerKeys(
        customer_id_hash=_keyed_hash(cleaned_id, secret) if cleaned_id else None,
        email_hash=_keyed_hash(cleaned_email, secret) if cleaned_email else None,
    )
