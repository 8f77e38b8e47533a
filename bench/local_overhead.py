"""Per-step overhead of the local engine against a bare ProcessPoolExecutor, in one process tree.

Both run N work units of a diamond DAG of six no-op steps (A → B,C,D → E → F) on the same number
of worker processes; the bare pool gets a minimal dependency-respecting driver, Rainbow records
every attempt in a SQLite store. Fixed costs (starting processes, creating runs) are taken out by
measuring two sizes and using the slope: per-step overhead = ΔT / Δsteps.

    python bench/local_overhead.py [--units 1500] [--workers 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import queue
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]


STEPS_PER_UNIT = 6


def plain_noop(x: int = 0, y: int = 0) -> int:
    return x + y


def bare_pool(units: int, workers: int) -> float:
    """The same DAG through concurrent.futures: submit each step when its inputs exist.

    Completions arrive through done-callbacks on a queue, O(1) each (``cf.wait`` over thousands
    of pending futures is O(n) per call and would make the baseline look slow).
    """
    started = time.perf_counter()
    done: queue.SimpleQueue[tuple[int, str, cf.Future[int]]] = queue.SimpleQueue()

    def submit(pool: cf.ProcessPoolExecutor, unit: int, name: str, *args: int) -> None:
        future = pool.submit(plain_noop, *args)
        future.add_done_callback(lambda f: done.put((unit, name, f)))

    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        results: dict[tuple[int, str], int] = {}
        for unit in range(units):
            submit(pool, unit, "a", unit)
        finished = 0
        while finished < units:
            unit, name, future = done.get()
            results[(unit, name)] = value = future.result()
            if name == "a":
                for branch in "bcd":
                    submit(pool, unit, branch, value)
            elif name in "bcd" and all((unit, b) in results for b in "bcd"):
                submit(pool, unit, "e", results[(unit, "b")], results[(unit, "c")])
            elif name == "e":
                submit(pool, unit, "f", value, results[(unit, "d")])
            elif name == "f":
                finished += 1
    return time.perf_counter() - started


def rainbow_local(units: int, workers: int, home: Path) -> float:
    from bench import noop_modules
    from rainbow.control.django_setup import open_store
    from rainbow.dsl.compiler import compile_pipeline
    from rainbow.engine.local import LocalEngine, LocalOptions
    from rainbow.engine.workunits import WorkUnit
    from rainbow.sdk.catalog import modules_in

    store = open_store(f"sqlite:///{home / 'bench.sqlite3'}")
    spec, _ = compile_pipeline(noop_modules.diamond)
    options = LocalOptions(
        workers=workers,
        assets_url=str(home / "assets"),
        work_root=home / "work",
        log_file=home / "bench.log",
    )
    engine = LocalEngine(store, modules_in(vars(noop_modules), depth=0), options)
    started = time.perf_counter()
    outcomes = engine.run(spec, [WorkUnit(f"u{i}", {"x": i}) for i in range(units)])
    elapsed = time.perf_counter() - started
    failed = [o for o in outcomes if o.status != "succeeded"]
    if failed:
        raise SystemExit(f"{len(failed)} runs failed: {failed[0].reason}")
    recorded = sum(
        len(s.attempts)
        for o in outcomes[:5]
        for s in store.get_run(o.run_id).steps  # type: ignore[union-attr]
    )
    assert recorded == 5 * STEPS_PER_UNIT, "every attempt must be in the store"
    return elapsed


def slope(measure: object, small: int, large: int, repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` marginal seconds per step between two sizes, and the large total."""
    best_small = min(measure(small) for _ in range(repeats))  # type: ignore[operator]
    best_large = min(measure(large) for _ in range(repeats))  # type: ignore[operator]
    return (best_large - best_small) / ((large - small) * STEPS_PER_UNIT), best_large


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    small = max(10, args.units // 10)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        bare, bare_total = slope(
            lambda n: bare_pool(n, args.workers), small, args.units, args.repeats
        )
        ours, ours_total = slope(
            lambda n: rainbow_local(n, args.workers, home), small, args.units, args.repeats
        )
    steps = args.units * STEPS_PER_UNIT
    print(f"diamond DAG, {args.units} units = {steps} steps, {args.workers} workers")
    print(f"bare ProcessPoolExecutor: {bare * 1e3:.3f} ms/step  ({bare_total:.2f} s total)")
    print(f"rainbow local + SQLite:   {ours * 1e3:.3f} ms/step  ({ours_total:.2f} s total)")
    print(f"ratio rainbow/bare: {ours / bare:.2f}x per step (target <= 3x)")
    print(f"ratio of totals, start-up included: {ours_total / bare_total:.2f}x")


if __name__ == "__main__":
    main()
