"""gzip for answers that are worth it: the client accepts gzip and the body has at least
`MINIMUM_SIZE` bytes. Level 5 is the measured knee of size against CPU for GraphQL JSON
(bench/compression.py): higher levels cost much more time for a few per cent of size."""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

MINIMUM_SIZE = 1024
LEVEL = 5


def compressed(app: ASGIApp) -> ASGIApp:
    return GZipMiddleware(app, minimum_size=MINIMUM_SIZE, compresslevel=LEVEL)
