"""Who is asking: roles and the viewer every read and write is scoped to."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class Role(enum.Enum):
    ADMIN = "ADMIN"
    ADVERTISER = "ADVERTISER"
    PARTNER = "PARTNER"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The authenticated principal. An advertiser user belongs to one advertiser, a partner user
    to one partner; an admin to neither."""

    user_id: int
    role: Role
    advertiser_id: int | None = None
    partner_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str
    role: Role
    advertiser_id: int | None
    partner_id: int | None
    created_at: datetime

    def as_viewer(self) -> Viewer:
        return Viewer(self.id, self.role, self.advertiser_id, self.partner_id)


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def is_usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at


def normalize_email(email: str) -> str:
    """E-mail addresses are compared trimmed and case-folded."""
    return email.strip().casefold()
