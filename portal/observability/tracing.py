"""Optional OpenTelemetry spans: the request, its GraphQL operation, each SQL statement and
each job run. Off by default; nothing of OpenTelemetry is imported unless it is turned on.

- `PORTAL_TRACING=otlp`: spans go to an OTLP/HTTP collector, configured by the standard
  variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, …);
- `PORTAL_TRACING=console`: spans are printed (to try it out);
- `OTEL_SERVICE_NAME` names the service (default `portal`).

It needs the `tracing` extra: `pip install 'portal[tracing]'`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

_tracer: Any = None


class TracingUnavailable(RuntimeError):
    pass


def enabled() -> bool:
    return _tracer is not None


def configure_from_env() -> None:
    mode = (os.environ.get("PORTAL_TRACING") or "off").strip().lower()
    if mode in ("", "off", "false", "0", "none"):
        return
    if mode not in ("otlp", "console"):
        raise TracingUnavailable(f"PORTAL_TRACING must be otlp, console or off, not {mode!r}")
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError:
        raise TracingUnavailable(
            f"PORTAL_TRACING={mode} needs the tracing extra: pip install 'portal[tracing]'"
        ) from None
    exporter: SpanExporter
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    name = os.environ.get("OTEL_SERVICE_NAME") or "portal"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use_provider(provider)


def use_provider(provider: Any) -> None:
    """Spans from now on go to `provider` (an OpenTelemetry TracerProvider)."""
    global _tracer
    _tracer = provider.get_tracer("portal")


def disable() -> None:
    global _tracer
    _tracer = None


def _kind(name: str) -> Any:
    from opentelemetry.trace import SpanKind

    return getattr(SpanKind, name.upper())


@contextlib.contextmanager
def span(
    name: str,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
    carrier: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """A span around the block (None when tracing is off). `carrier`: incoming headers whose
    `traceparent` makes this span a child of the caller's trace."""
    if _tracer is None:
        yield None
        return
    parent = None
    if carrier is not None:
        from opentelemetry.propagate import extract

        parent = extract(dict(carrier))
    with _tracer.start_as_current_span(
        name, context=parent, kind=_kind(kind), attributes=dict(attributes or {})
    ) as current:
        yield current


def start_sql_span(statement: str, dialect: str) -> Any:
    if _tracer is None:
        return None
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    return _tracer.start_span(
        verb,
        kind=_kind("client"),
        attributes={"db.system": dialect, "db.statement": statement[:2000]},
    )


def record_error(current: Any, error: BaseException) -> None:
    if current is None:
        return
    from opentelemetry.trace import Status, StatusCode

    current.record_exception(error)
    current.set_status(Status(StatusCode.ERROR, type(error).__name__))


def set_attributes(current: Any, **attributes: Any) -> None:
    if current is not None:
        current.set_attributes({k: v for k, v in attributes.items() if v is not None})
