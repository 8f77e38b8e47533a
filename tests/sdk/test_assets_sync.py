"""Publishing output assets on real filesystems that are full, read-only or not writable.

The disks are real: a 64 KiB tmpfs mounted for the test (remounted read-only where the test
needs it). Mounting needs root (as in the project's containers); elsewhere these tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rainbow as rb
from rainbow.sdk.invoke import WorkerEnv, invoke
from rainbow.sdk.messages import Result, Task


@rb.module(name="writes")
def writes(ctx: rb.Context, sizes: list[int]) -> dict[str, Any]:
    """One output asset per size, in order."""
    outputs: dict[str, Any] = {}
    for index, size in enumerate(sizes):
        asset = ctx.new_asset(f"part-{index}.bin")
        asset.path.write_bytes(os.urandom(size))
        outputs[f"part{index}"] = asset
    return outputs


def task(sizes: list[int]) -> Task:
    return Task(
        run_id="run1",
        step="s1",
        attempt=1,
        module="writes",
        version="latest",
        inputs={"sizes": sizes},
        timeout=30,
        deadline=time.time() + 3600,
    )


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs, the assets store's disk; the workdir is on another filesystem."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(disk))
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def failed(result: Result, *, retryable: bool) -> str:
    assert result["status"] == "failed" and result["outputs"] is None
    error = result["error"]
    assert error is not None and error["retryable"] is retryable, error
    assert error["type"] == "AssetStoreError"
    return error["message"]


@pytest.mark.parametrize("scheme", ["", "local://"], ids=["local-folder", "fsspec-url"])
def test_a_full_store_is_retried_and_keeps_no_partial_file(
    tmp_path: Path, small_disk: Path, scheme: str
) -> None:
    """ENOSPC while publishing may recover, so the attempt is retryable; the message names the
    store and the lack of space; neither the partial file nor the attempt's other, already
    published output is left behind."""
    env = WorkerEnv(f"{scheme}{small_disk}", tmp_path / "work")
    message = failed(invoke(writes, task([1000, 200_000]), env), retryable=True)
    assert f"the assets store {scheme}{small_disk} is out of space" in message
    assert "No space left on device" in message and "'part1' (200,000 bytes)" in message
    assert "RAINBOW_ASSETS_URL" in message and "RB-E045" in message
    assert files_in(small_disk) == []
    fits = invoke(writes, task([1000, 2000]), env)
    assert fits["status"] == "succeeded", fits["error"]
    assert files_in(small_disk) == ["run1/s1/1/part-0.bin", "run1/s1/1/part-1.bin"]


@pytest.mark.parametrize("scheme", ["", "local://"], ids=["local-folder", "fsspec-url"])
def test_a_read_only_store_fails_at_once_saying_what_to_set(
    tmp_path: Path, small_disk: Path, scheme: str
) -> None:
    """EROFS will not recover: the attempt fails without retries and the message says the store
    is read-only and to set RAINBOW_ASSETS_URL to a writable one."""
    mount("-o", "remount,ro", str(small_disk))
    env = WorkerEnv(f"{scheme}{small_disk}", tmp_path / "work")
    message = failed(invoke(writes, task([10]), env), retryable=False)
    assert f"the assets store {scheme}{small_disk} is read-only" in message
    assert "set RAINBOW_ASSETS_URL to a writable store" in message


def as_nobody(env: WorkerEnv, work: Task) -> Result:
    """``invoke`` in a forked child that runs as the user ``nobody`` (without root's power to
    write anywhere); its result comes back through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            with os.fdopen(write_end, "w") as out:
                json.dump(invoke(writes, work, env), out)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as back:
        answer = back.read()
    os.waitpid(pid, 0)
    assert answer, "the child failed before it answered"
    result: Result = json.loads(answer)
    return result


def test_a_store_the_worker_may_not_write_fails_at_once() -> None:
    """EACCES (the worker's user may not write the store) fails without retries."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the worker as another user")
    with tempfile.TemporaryDirectory(prefix="rainbow-eacces-") as folder:
        base = Path(folder)
        base.chmod(0o755)
        (base / "store").mkdir()
        (base / "work").mkdir()
        (base / "work").chmod(0o777)
        env = WorkerEnv(str(base / "store"), base / "work")
        # Imports everything the child needs while files outside the test's are readable.
        assert invoke(writes, {**task([10]), "run_id": "warm-up"}, env)["status"] == "succeeded"
        result = as_nobody(env, task([10]))
    message = failed(result, retryable=False)
    assert "is not writable by this worker (Permission denied)" in message
    assert "RAINBOW_ASSETS_URL" in message
