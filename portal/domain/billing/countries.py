"""The member states of the European Union (VAT area), by ISO 3166-1 alpha-2 code.

Greece is `GR` here (ISO); its VAT ids carry the prefix `EL` (`vat_prefix`)."""

from __future__ import annotations

EU_COUNTRIES: frozenset[str] = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)


def is_eu(country: str) -> bool:
    return country in EU_COUNTRIES


def vat_prefix(country: str) -> str:
    """The prefix of a VAT id of `country` (Greece: EL)."""
    return "EL" if country == "GR" else country
