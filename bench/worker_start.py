"""How long a worker takes to start serving a released version: on a cached environment and on
a cold one (artifact fetched, environment made), against a worker of local code.

    .venv/bin/python bench/worker_start.py [--repeats 3]

It makes a module project in a temporary git repository (one dependency, ``six``), releases it
as ``bench@latest`` into a temporary ``RAINBOW_HOME``, then times ``rainbow worker`` from start
until Celery says the worker is ready, three ways:

- baseline: ``rainbow worker FILE:bench --version latest`` (local code, Rainbow's own env);
- cached:   ``rainbow worker bench@latest`` with its environment already made;
- cold:     the same after deleting the fetched artifact and the environment.

Needs RabbitMQ on 127.0.0.1:5672 (guest/guest). Prints each median and its ratio to the
baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY = b" ready."
MODULE = """from typing import TypedDict

import six

import rainbow as rb


class Out(TypedDict):
    six: str


@rb.module(name="bench")
def bench(ctx: rb.Context, x: int = 0) -> Out:
    return {"six": six.__version__}
"""
PYPROJECT = """[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "rainbow-bench-module"
version = "0.0.0"
requires-python = ">=3.11"
dependencies = ["rainbow>=0.1,<1", "six==1.16.0"]

[project.entry-points."rainbow.modules"]
bench = "bench_module:bench"
"""


def rainbow(env: dict[str, str], *args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "rainbow", *args], cwd=cwd, env=env, check=True)


def time_until_ready(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if READY in line:
                return time.perf_counter() - started
        raise RuntimeError(f"{' '.join(argv)} exited before it was ready")
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rainbow-bench-start-"))
    try:
        project = work / "project"
        (project / "bench_module").mkdir(parents=True)
        (project / "pyproject.toml").write_text(PYPROJECT)
        (project / "bench_module" / "__init__.py").write_text(MODULE)
        who = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com"}
        who |= {"GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
        env = {**os.environ, **who, "RAINBOW_HOME": str(work / "home")}
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"]):
            subprocess.run(["git", *args], cwd=project, env=env, check=True)
        rainbow(env, "release", cwd=project)
        cache = work / "home" / "builds"
        local = [
            sys.executable,
            "-m",
            "rainbow",
            "worker",
            f"{project / 'bench_module' / '__init__.py'}:bench",
            "--version",
            "latest",
        ]
        released = [sys.executable, "-m", "rainbow", "worker", "bench@latest"]
        timings: dict[str, list[float]] = {"baseline": [], "cached": [], "cold": []}
        for _ in range(options.repeats):
            timings["baseline"].append(time_until_ready(local, env, work))
            timings["cached"].append(time_until_ready(released, env, work))
            shutil.rmtree(cache)
            timings["cold"].append(time_until_ready(released, env, work))
        base = statistics.median(timings["baseline"])
        for name, values in timings.items():
            median = statistics.median(values)
            print(f"{name:8} {median:6.2f} s   ×{median / base:5.2f} of a local-code worker")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
