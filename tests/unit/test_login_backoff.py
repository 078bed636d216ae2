"""The sign-in backoff rule: free failures, then a doubling wait up to a cap."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from portal.domain.login_backoff import ACCOUNT, ADDRESS, Backoff

backoffs = st.builds(
    Backoff,
    free_failures=st.integers(0, 50),
    first_delay_seconds=st.integers(1, 100),
    max_delay_seconds=st.integers(1, 10**6),
    memory_seconds=st.integers(1, 10**6),
)


@given(backoffs, st.integers(0, 10_000))
def test_the_wait_never_shrinks_with_more_failures_and_never_passes_the_cap(
    backoff: Backoff, failures: int
) -> None:
    wait = backoff.delay_after(failures)
    assert 0 <= wait <= backoff.max_delay_seconds
    assert backoff.delay_after(failures + 1) >= wait


@given(backoffs, st.integers(0, 10_000))
def test_the_schedule_is_the_rule_as_data(backoff: Backoff, failures: int) -> None:
    schedule = backoff.schedule()
    assert schedule[min(failures, len(schedule) - 1)] == backoff.delay_after(failures)
    assert schedule[-1] == backoff.max_delay_seconds


def test_the_product_rules() -> None:
    # An account: 5 free failures, then 1, 2, 4 … seconds, never more than a minute.
    assert [ACCOUNT.delay_after(n) for n in range(13)] == [0] * 5 + [1, 2, 4, 8, 16, 32, 60, 60]
    # An address: 20 free failures over all accounts, then up to 15 minutes.
    assert ADDRESS.delay_after(19) == 0
    assert ADDRESS.delay_after(20) == 1
    assert ADDRESS.delay_after(40) == 900
