"""graphql-core's coercion of a request's variables against portal's compiled one
(`portal.schema.variable_coercion`), on the variables of a `recordOrders` batch of 500 orders with
10 basket positions each (the cart-mapping bench's orders; no database):

    .venv/bin/python -m bench.variable_coercion [--rounds 20]

Prints the CPU per batch and per order of `get_variable_values` either way (the start-up heap
frozen and the collection thresholds of `portal serve`), after checking that both give the same
values.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from graphql import parse
from graphql.execution import values

from bench.cart_mapping import basket
from bench.record_orders import MUTATION, orders
from portal.heap import freeze_startup_heap
from portal.schema import schema
from portal.schema import variable_coercion as compiled

SIZE = 500


def cpu_per_batch(variables: dict[str, Any], rounds: int) -> tuple[float, Any]:
    definitions = parse(MUTATION).definitions[0].variable_definitions  # type: ignore[attr-defined]
    result = values.get_variable_values(schema._schema, definitions, variables)  # warm-up
    started = time.process_time()
    for _ in range(rounds):
        result = values.get_variable_values(schema._schema, definitions, variables)
    assert not isinstance(result, list), result
    return (time.process_time() - started) / rounds, result.coerced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    freeze_startup_heap()  # as `portal serve` runs: fewer collections
    rng = random.Random(42)
    batch = orders(0, SIZE, 1, [1, 2, 3], rng)
    for n, order in enumerate(batch):
        order["basket"] = basket(rng, n)
        order.pop("orderValue")
    variables = {"input": {"orders": batch}}
    with compiled.graphql_core_coercion():
        theirs, expected = cpu_per_batch(variables, args.rounds)
    ours, got = cpu_per_batch(variables, args.rounds)
    assert got == expected
    print(f"variables of one recordOrders batch ({SIZE} orders, 10 positions each):")
    for label, cpu in (("graphql-core", theirs), ("compiled", ours)):
        print(f"  {label}: {cpu * 1000:.1f} ms per batch, {cpu / SIZE * 1e6:.0f} µs per order")


if __name__ == "__main__":
    main()
