"""Security headers on every answer (API, GraphiQL, downloads, health).

- `X-Content-Type-Options: nosniff`: a CSV or JSON answer is never run as HTML or script.
- `Referrer-Policy: no-referrer`: URLs (which may carry ids) do not leak to other sites.
- `Content-Security-Policy`: an answer that sets none (JSON, files) gets one that allows
  nothing — no scripts, no styles, no framing, and `sandbox` — so even a file opened in the
  browser cannot act. GraphiQL sets its own policy (this origin's assets only).
- `frame-ancestors 'none'` (in every policy) and `X-Frame-Options: DENY` for older browsers:
  no page of portal can be framed (clickjacking).
- `Cache-Control: no-store` unless the answer chose caching itself (GraphiQL's assets):
  answers carry personal data, and proxies must not keep them.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from portal.web.http_middleware import HttpMiddleware

LOCKED_DOWN_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
UNLESS_SET = {
    "Content-Security-Policy": LOCKED_DOWN_POLICY,
    "Cache-Control": "no-store",
}


class SecurityHeaders(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                for name, value in UNLESS_SET.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
