"""Prefect's side of ``bench_pipelines.py`` (P9); run by the venv of benchmarks/anchors-pipelines.txt.

Never imported by Keel. ``python prefect_anchor.py {fanout|chain} --n N [--cache]`` runs one flow of N no-op tasks
on Prefect's default local setup (no ``PREFECT_API_URL``: Prefect starts a temporary API server over SQLite under
``PREFECT_HOME``, which the caller points at a fresh temporary folder) and the default task runner (threads):

- ``fanout``: N independent task calls, submitted then awaited (``noop.submit(i)`` for each i, then ``.result()``),
  the idiomatic Prefect 3 fan-out;
- ``chain``: N calls, each taking the previous output (``x = inc(x)``, +1: every call has other inputs, so a
  cache keyed on inputs cannot answer one step from another);
- ``--cache``: the task has ``cache_policy=INPUTS`` (results persisted under ``PREFECT_HOME``), so running the same
  command again with the same ``PREFECT_HOME`` finds every task cached.

The figure that counts is the whole process (start, imports, flow, exit), timed by the caller. It prints ONE JSON
line on stdout: in-process seconds (import, flow), how many task runs completed and how many of them were cached,
and the flow's result, so the caller can check the work was done (progress and Prefect's logs go to stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

_START = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    """Run one flow and print its JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=["fanout", "chain"])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--cache", action="store_true", help="cache_policy=INPUTS (run twice: the second is cached)")
    args = parser.parse_args(argv)
    if not os.environ.get("PREFECT_HOME"):
        print("prefect_anchor: set PREFECT_HOME to a fresh folder (the benchmark must not touch ~/.prefect)",
              file=sys.stderr)
        return 2

    from prefect import flow, task
    from prefect.cache_policies import INPUTS, NO_CACHE

    imported = time.perf_counter()

    policy = INPUTS if args.cache else NO_CACHE  # without --cache, results are not persisted by default anyway

    @task(cache_policy=policy)
    def noop(i: int) -> int:
        return i

    @task(cache_policy=policy)
    def inc(x: int) -> int:
        return x + 1

    @flow(name=f"bench-{args.shape}")
    def fanout(n: int) -> tuple[list[int], list[str]]:
        futures = [noop.submit(i) for i in range(n)]
        values = [f.result() for f in futures]
        return values, [f.state.name or "" for f in futures]

    @flow(name=f"bench-{args.shape}")
    def chain(n: int) -> tuple[list[int], list[str]]:
        x, names = 0, []
        for _ in range(n):
            state = inc(x, return_state=True)
            x = state.result()
            names.append(state.name or "")
        return [x], names

    values, names = (fanout if args.shape == "fanout" else chain)(args.n)
    done = time.perf_counter()
    print(json.dumps({
        "import_s": imported - _START, "flow_s": done - imported, "tasks": len(names),
        "completed": sum(name in ("Completed", "Cached") for name in names),
        "cached": sum(name == "Cached" for name in names), "result_sum": sum(values),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
