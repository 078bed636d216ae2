"""Issue 14, tracing: OpenTelemetry spans for the request, its GraphQL operation, each SQL
statement and each job, when tracing is on (and none when it is off, the default)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.observability import tracing
from tests.conftest import Api
from tests.factories import build_world
from tests.observed import captured_logs

EXPORT = """mutation Export($input: ExportConversionRequestsInput!) {
  exportConversionRequests(input: $input) { export { id } userErrors { code } } }"""
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.disable()
        provider.shutdown()


def _named(found: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in found if s.name.startswith(prefix)]


async def test_a_mutation_and_its_job_are_traced_down_to_sql(
    api: Api, engine: AsyncEngine, spans: InMemorySpanExporter
) -> None:
    world = await build_world(engine)
    response = await api.post(
        EXPORT,
        {"input": {"format": "CSV"}},
        token=world.tokens["A"],
        headers={"traceparent": TRACEPARENT},
    )
    assert response.json().get("errors") is None
    await api.drain_jobs()
    found = spans.get_finished_spans()

    [request] = _named(found, "POST /graphql")
    assert request.kind is SpanKind.SERVER
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["portal.request_id"] == response.headers["X-Request-Id"]
    # A child of the caller's trace (W3C traceparent).
    assert format(request.context.trace_id, "032x") == TRACEPARENT.split("-")[1]

    [operation] = _named(found, "mutation Export")
    assert operation.parent is not None and operation.parent.span_id == request.context.span_id
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "Export"

    in_request = [
        s
        for s in found
        if s.kind is SpanKind.CLIENT and s.context.trace_id == request.context.trace_id
    ]
    assert {s.name for s in in_request} >= {"SELECT", "INSERT"}
    assert all(s.attributes and s.attributes["db.statement"] for s in in_request)

    [job] = _named(found, "job run_export")
    assert job.kind is SpanKind.CONSUMER
    assert job.attributes is not None and job.attributes["portal.job.outcome"] == "succeeded"
    job_sql = [s for s in found if s.parent is not None and s.parent.span_id == job.context.span_id]
    assert job_sql and all(s.kind is SpanKind.CLIENT for s in job_sql)


def test_tracing_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_TRACING", raising=False)
    tracing.configure_from_env()
    assert not tracing.enabled()
    with tracing.span("request") as span:
        assert span is None
    assert tracing.start_sql_span("SELECT 1", "sqlite") is None


def test_tracing_is_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_TRACING", "console")
    try:
        tracing.configure_from_env()
        assert tracing.enabled()
    finally:
        tracing.disable()
    monkeypatch.setenv("PORTAL_TRACING", "zipkin")
    with pytest.raises(tracing.TracingUnavailable, match="otlp, console or off"):
        tracing.configure_from_env()
    monkeypatch.setenv("PORTAL_TRACING", "off")
    tracing.configure_from_env()
    assert not tracing.enabled()


async def test_a_read_answered_by_the_compiled_lane_is_traced_and_counted(
    api: Api, engine: AsyncEngine, spans: InMemorySpanExporter
) -> None:
    """The compiled lane answers without strawberry, and on PostgreSQL runs its statement on
    the asyncpg connection itself (portal.adapters.raw_reads): the operation still has its
    span, each statement its span, and the request log counts them."""
    world = await build_world(engine)
    query = "query Mine { conversions(first: 2) { nodes { id orderId } } }"
    lane = api.app.state.compiled_lane
    await api.post(query, token=world.tokens["A"])  # admits the operation to the lane
    served = lane.served
    spans.clear()
    with captured_logs() as logs:
        response = await api.post(query, token=world.tokens["A"])
    assert response.json().get("errors") is None
    assert lane.served == served + 1
    found = spans.get_finished_spans()
    [request] = _named(found, "POST /graphql")
    [operation] = _named(found, "query Mine")
    assert operation.parent is not None and operation.parent.span_id == request.context.span_id
    statements = [
        str((s.attributes or {}).get("db.statement"))
        for s in found
        if s.kind is SpanKind.CLIENT and s.context.trace_id == request.context.trace_id
    ]
    assert any("FROM conversions" in statement for statement in statements), statements
    [line] = logs.requests()
    housekeeping = ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")  # spanned, not counted as work
    work = [s for s in statements if not s.lstrip().upper().startswith(housekeeping)]
    assert line["sql_statements"] == len(work) >= 1
