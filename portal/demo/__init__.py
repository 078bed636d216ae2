"""Synthetic demo files shipped with the package (see README.md here: not ECB data)."""

from __future__ import annotations

from importlib.resources import files

SAMPLE_RATES_XML = "eurofxref-sample.xml"
SAMPLE_RATES_CSV = "eurofxref-hist-sample.csv"


def sample_file(name: str) -> bytes:
    """The content of one of the demo files, from the installed package."""
    return files("portal.demo").joinpath(name).read_bytes()
