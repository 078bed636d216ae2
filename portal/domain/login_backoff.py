"""How long sign-in waits after failed attempts: a few are free, then each further failure
doubles the wait, up to a cap. Counted per account (or per known device of the account) and
per client address, each with its own rule.

The balance (README, "Login"): an attacker guessing one account's password gets 5 free tries,
then at most one every 60 s — the account's cap, which is also the longest a real user is kept
waiting while someone hammers the account from elsewhere. A browser that signed in to the
account before carries a device cookie and is counted on its own, so it is not kept waiting at
all by someone else's failures. One client address gets 20 free tries over all accounts, then
waits up to 15 minutes: the attacker's own address is what is locked out for long."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    free_failures: int  # failures before any wait
    first_delay_seconds: int  # the wait after the first failure past the free ones
    max_delay_seconds: int
    memory_seconds: int  # failures are forgotten this long after the last one

    def delay_after(self, failures: int) -> int:
        """Seconds to wait before the next attempt, after `failures` failed ones in a row."""
        if failures < self.free_failures:
            return 0
        doublings = failures - self.free_failures
        if doublings >= math.log2(self.max_delay_seconds / self.first_delay_seconds) + 1:
            return self.max_delay_seconds
        return min(self.max_delay_seconds, self.first_delay_seconds * (1 << doublings))

    def schedule(self) -> list[int]:
        """delay_after(0), delay_after(1), … up to the first count that reaches the cap (every
        later count waits the cap too): the whole rule as data, for a store that applies it
        atomically."""
        delays: list[int] = []
        failures = 0
        while not delays or delays[-1] < self.max_delay_seconds:
            delays.append(self.delay_after(failures))
            failures += 1
        return delays


ACCOUNT = Backoff(free_failures=5, first_delay_seconds=1, max_delay_seconds=60, memory_seconds=900)
ADDRESS = Backoff(
    free_failures=20, first_delay_seconds=1, max_delay_seconds=900, memory_seconds=3600
)
