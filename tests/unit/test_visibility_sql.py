"""The SQL form of "a column among an advertiser's programs" (`visibility.InIds`): `= ANY(ARRAY(…))`
on PostgreSQL, `IN (…)` elsewhere; one cached statement shape for every advertiser. What it
lets each role see is tested through the API on both databases (tests/api/test_visibility.py)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from portal.adapters.tables import conversions
from portal.adapters.visibility import visible
from portal.domain.access import Role, Viewer


def _statement(advertiser_id: int):  # type: ignore[no-untyped-def]
    viewer = Viewer(user_id=1, role=Role.ADVERTISER, advertiser_id=advertiser_id)
    return select(conversions.c.id).where(visible(conversions, viewer) & (conversions.c.id > 0))


def test_postgresql_reads_the_programs_once_as_an_array() -> None:
    sql = str(_statement(5).compile(dialect=postgresql.asyncpg.dialect()))
    assert "conversions.program_id = ANY(ARRAY(SELECT programs.id" in sql
    assert " IN " not in sql


def test_sqlite_gets_a_plain_in_without_a_boolean_comparison() -> None:
    sql = str(_statement(5).compile(dialect=sqlite.dialect()))
    assert "conversions.program_id IN (SELECT programs.id" in sql
    assert "= 1" not in sql and "ANY" not in sql


def test_every_advertiser_shares_one_cached_statement_with_its_own_value() -> None:
    mine, theirs = _statement(5)._generate_cache_key(), _statement(7)._generate_cache_key()
    assert mine is not None and theirs is not None
    assert mine.key == theirs.key
    assert [b.value for b in mine.bindparams] == [5, 0]
    assert [b.value for b in theirs.bindparams] == [7, 0]


def test_the_predicate_alone_names_its_table() -> None:
    """`select(count()).where(visible(…))` without `select_from`: FROM the table, as with IN."""
    viewer = Viewer(user_id=1, role=Role.ADVERTISER, advertiser_id=5)
    for dialect in (postgresql.asyncpg.dialect(), sqlite.dialect()):
        sql = str(select(func.count()).where(visible(conversions, viewer)).compile(dialect=dialect))
        assert "FROM conversions" in sql, sql
