"""Seconds per 1,000 units of a corpus submitted to the control plane and followed to the end.

A fresh ``rainbow web`` (gunicorn, 2 workers, the embedded local engine running the no-op
module of ``bench/noop_modules.py``) and ``rainbow submit noop-single --corpus DIR --wait`` as a
user runs it, for a corpus of N units of a one-step no-op pipeline, after a baseline corpus of
1,000 on the same server (and a small warm-up, not counted). Submission is timed until the run
ids are printed (the command started, read the corpus and sent every page), completion until
the command exits (every run ended; the command polls once a second). The server's access log
counts what each corpus cost in requests: submission pages, status reads (one per poll while
at most 5,000 runs are going) and reads of single runs (none). The ratios are the per-1,000
figures of N over the baseline's (below 1: the baseline carries more of the fixed costs), and
the slope between the two sizes is what each 1,000 units more cost.

    python bench/corpus_scale.py [--units 5000] [--baseline 1000] [--store sqlite]

Needs PostgreSQL (with psql) on 127.0.0.1 for the PostgreSQL store.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import rainbow as rb  # noqa: E402  (after the path is set)
from bench.control_api import STORES, home, rainbow, serve  # noqa: E402

USER = "bench"
PIPELINE = "noop-single"
WARM_UP = 20


@rb.pipeline(name=PIPELINE, timeout=600)
def single(x: int):
    """One no-op step: what a corpus costs the control plane, with next to nothing to run."""
    return {"x": rb.step("noop@latest", x=x).x}


@dataclass(frozen=True)
class Followed:
    units: int
    submit_s: float
    done_s: float
    pages: int
    status_reads: int
    run_reads: int

    def row(self) -> str:
        per = 1000 / self.units
        return (
            f"{self.units:>7} {self.submit_s:9.2f} {self.submit_s * per:9.3f} {self.done_s:9.2f} "
            f"{self.done_s * per:9.3f} {self.pages:>6} {self.status_reads:>7} {self.run_reads:>6}"
        )


def set_up(env: dict[str, str]) -> tuple[str, str]:
    """A researcher, the no-op module and this file's pipeline registered; the user's token
    and the pipeline's spec hash."""
    password = secrets.token_urlsafe(16)
    rainbow(env, "createuser", USER, "--role", "researcher", "--password-stdin", stdin=password)
    token = rainbow(env, "token", "create", "bench", "--user", USER).split()[-1]
    rainbow(
        env, "module", "register", "bench/noop_modules.py", "--version", "latest", "--user", USER
    )
    registered = rainbow(env, "pipeline", "register", f"{__file__}:single", "--user", USER)
    return token, "sha256:" + registered.split("sha256:")[1].split()[0]


def corpus(folder: Path, units: int) -> Path:
    folder.mkdir()
    for i in range(units):
        (folder / f"unit-{i:05d}.json").write_text(json.dumps({"x": i}))
    return folder


def follow(env: dict[str, str], version: str, folder: Path, log: Path) -> Followed:
    """``rainbow submit --corpus --wait`` timed, and the requests it cost the server."""
    units = len(list(folder.glob("*.json")))
    seen = log.stat().st_size
    command = [sys.executable, "-m", "rainbow", "submit", PIPELINE, "--env", "staging"]
    command += ["--version", version, "--corpus", str(folder), "--wait"]
    began = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()  # the ids are printed once every page is in
    submitted = time.perf_counter() - began
    ids = [first, *process.stdout]
    stderr = process.stderr.read()
    if process.wait() != 0 or len(ids) != units:
        raise SystemExit(f"rainbow submit exited {process.returncode}:\n{stderr}")
    done = time.perf_counter() - began
    time.sleep(0.5)  # the access log is written after each answer
    with log.open() as lines:
        lines.seek(seen)
        requests = re.findall(r'"(GET|POST) /api/runs(\S*) HTTP', lines.read())
    return Followed(
        units=units,
        submit_s=submitted,
        done_s=done,
        pages=requests.count(("POST", "")),
        status_reads=requests.count(("POST", "/statuses")),
        run_reads=sum(method == "GET" and path.startswith("/") for method, path in requests),
    )


def measure(store: str, units: int, baseline: int) -> tuple[Followed, Followed]:
    with home() as path, STORES[store]() as database:
        env = {
            **os.environ,
            "RAINBOW_HOME": str(path),
            "RAINBOW_ENGINE": "local",
            "RAINBOW_MODULES": "bench.noop_modules",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
        }
        env.pop("RAINBOW_URL", None)  # set-up talks to the database directly
        env.pop("RAINBOW_DATABASE_URL", None)
        if database:
            env["RAINBOW_DATABASE_URL"] = database
        token, version = set_up(env)
        log = path / "web.log"
        with serve(env, token, log) as api:
            remote = {**env, "RAINBOW_URL": f"http://127.0.0.1:{api.port}", "RAINBOW_TOKEN": token}
            follow(remote, version, corpus(path / "warm-up", WARM_UP), log)
            small = follow(remote, version, corpus(path / "baseline", baseline), log)
            large = follow(remote, version, corpus(path / "corpus", units), log)
        return small, large


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=5000)
    parser.add_argument("--baseline", type=int, default=1000)
    parser.add_argument("--store", choices=list(STORES), action="append", help="default: sqlite")
    args = parser.parse_args()
    results = {
        store: measure(store, args.units, args.baseline) for store in args.store or ["sqlite"]
    }
    print(
        f"{PIPELINE} (one no-op step): rainbow submit --corpus --wait against rainbow web "
        "(gunicorn 2 workers, local engine); s/1000: seconds per 1,000 units"
    )
    print(
        f"{'':10} {'units':>7} {'submit s':>9} {'s/1000':>9} {'done s':>9} {'s/1000':>9} "
        f"{'pages':>6} {'status':>7} {'runs':>6}"
    )
    for store, (small, large) in results.items():
        print(f"{store:10} {small.row()}")
        print(f"{store:10} {large.row()}")
        ratio = large.units / small.units
        print(
            f"{store}: per 1,000 units, {large.units} over {small.units}: submission "
            f"{large.submit_s / (small.submit_s * ratio):.2f}x, "
            f"completion {large.done_s / (small.done_s * ratio):.2f}x"
        )
        # The slope between the two sizes leaves out what any corpus costs once (starting the
        # command, its first requests, the last poll's wait).
        more = (large.units - small.units) / 1000
        print(
            f"{store}: each 1,000 units more: submission "
            f"{(large.submit_s - small.submit_s) / more:.3f} s, "
            f"completion {(large.done_s - small.done_s) / more:.3f} s"
        )


if __name__ == "__main__":
    main()
