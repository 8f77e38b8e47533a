"""Declared files are synced in once and checked by hash; [outputs] sync publishes what the
patterns match; both through the real invoke chain, for Python and command modules."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from rainbow.errors import DiagnosticError
from rainbow.loading import import_file
from rainbow.sdk.catalog import modules_in
from rainbow.sdk.command import command_module
from rainbow.sdk.files import FileSyncError, declared_files, sync_in, synced
from rainbow.sdk.invoke import WorkerEnv, invoke

MODULE = """from typing import TypedDict

import rainbow as rb


class Out(TypedDict):
    weights: str


@rb.module(name="{name}", retries=0)
def uses_files(ctx: rb.Context, which: str = "weights") -> Out:
    (ctx.workdir / "debug").mkdir(parents=True, exist_ok=True)
    (ctx.workdir / "debug" / "overlay.png").write_bytes(b"png")
    (ctx.workdir / "notes.txt").write_text("not synced")
    return {{"weights": ctx.file(which).read_text()}}
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def module_with(folder: Path, name: str, config: str) -> Any:
    folder.mkdir(parents=True)
    (folder / f"{name}.py").write_text(MODULE.format(name=name))
    (folder / "rainbow.toml").write_text(config)
    (module,) = modules_in(vars(import_file(folder / f"{name}.py")), depth=0).values()
    return module


def task(module: str, **inputs: Any) -> Any:
    return {
        "run_id": "r1",
        "step": module,
        "attempt": 1,
        "module": module,
        "version": "latest",
        "inputs": inputs,
        "timeout": 10.0,
        "deadline": time.time() + 60,
    }


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "weights.bin"
    path.parent.mkdir()
    path.write_bytes(b"w-v3")
    return path


def env_in(tmp_path: Path) -> WorkerEnv:
    return WorkerEnv(assets_url=str(tmp_path / "assets"), work_root=tmp_path / "home" / "work")


def test_a_declared_file_is_synced_once_checked_and_read_by_the_module(
    tmp_path: Path, weights: Path
) -> None:
    config = f'[[files]]\nname = "weights"\nurl = "{weights}"\nsha256 = "{sha(b"w-v3")}"\n'
    config += '[sync]\nout = ["debug/*.png"]\n'
    module = module_with(tmp_path / "code", "reads_weights", config)
    env = env_in(tmp_path)
    result = invoke(module, task("reads_weights"), env)
    assert result["status"] == "succeeded", result["error"]
    assert result["outputs"] == {"weights": "w-v3"}
    cached = env.files_cache / sha(b"w-v3")
    assert cached.read_bytes() == b"w-v3"
    assert stat.S_IMODE(env.files_cache.stat().st_mode) == 0o700
    published = tmp_path / "assets" / "r1" / "reads_weights" / "1" / "files"
    assert [p.relative_to(published).as_posix() for p in published.rglob("*")] == [
        "debug",
        "debug/overlay.png",
    ]
    weights.unlink()  # the cache answers from now on, whoever asks
    assert sync_in(declared_files(module), env.files_cache) == {"weights": cached}


def test_a_relative_url_is_beside_the_config(tmp_path: Path) -> None:
    config = f'[[files]]\nname = "table"\nurl = "lut.csv"\nsha256 = "{sha(b"a,b")}"\n'
    module = module_with(tmp_path / "code", "reads_table", config)
    (tmp_path / "code" / "lut.csv").write_bytes(b"a,b")
    result = invoke(module, task("reads_table", which="table"), env_in(tmp_path))
    assert result["outputs"] == {"weights": "a,b"}, result["error"]


def test_a_file_that_is_not_its_hash_is_refused_for_good(tmp_path: Path, weights: Path) -> None:
    config = f'[[files]]\nname = "weights"\nurl = "{weights}"\nsha256 = "{"0" * 64}"\n'
    module = module_with(tmp_path / "code", "bad_hash", config)
    env = env_in(tmp_path)
    result = invoke(module, task("bad_hash"), env)
    assert result["status"] == "failed"
    assert result["error"] is not None and not result["error"]["retryable"]
    assert f"has sha256 {sha(b'w-v3')}, not {'0' * 64}" in result["error"]["message"]
    assert list(env.files_cache.iterdir()) == []  # nothing kept, not even partly


def test_an_unreachable_source_is_retried(tmp_path: Path) -> None:
    config = (
        f'[[files]]\nname = "weights"\nurl = "{tmp_path / "gone.bin"}"\nsha256 = "{"1" * 64}"\n'
    )
    module = module_with(tmp_path / "code", "unreachable", config)
    with pytest.raises(FileSyncError) as caught:
        synced(module, tmp_path / "files")
    assert caught.value.retryable and "cannot fetch" in str(caught.value)


def test_asking_for_an_undeclared_file_names_the_declared_ones(
    tmp_path: Path, weights: Path
) -> None:
    config = f'[[files]]\nname = "weights"\nurl = "{weights}"\nsha256 = "{sha(b"w-v3")}"\n'
    module = module_with(tmp_path / "code", "asks_wrong", config)
    result = invoke(module, task("asks_wrong", which="lut"), env_in(tmp_path))
    assert result["error"] is not None
    assert (
        "no file 'lut' is declared for this module (declared: weights)"
        in (result["error"]["message"])
    )


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ('[[files]]\nname = "w"\nurl = "x"\nsha256 = "abc"\n', "files.0.sha256"),
        ('[[files]]\nname = "w"\nurl = "x"\n', "files.0.sha256: Field required"),
        ('[[files]]\nname = "w"\nurl = "x"\nsha256 = "' + "a" * 64 + '"\nsize = 3\n', "size"),
        ('[sync]\nout = "*.png"\n', "sync.out"),
        ('[sync]\nout = ["/etc/*"]\n', "must be a pattern inside ctx.workdir"),
        ('[sync]\nout = ["../up/*"]\n', "must be a pattern inside ctx.workdir"),
        ("[[files]\n", "not valid TOML"),
    ],
)
def test_a_wrong_declaration_is_a_diagnostic(tmp_path: Path, config: str, problem: str) -> None:
    module = module_with(tmp_path / "code", "declares_badly", config)
    with pytest.raises(DiagnosticError) as caught:
        declared_files(module)
    assert caught.value.diagnostics[0].code == "RB-E084"
    assert problem in caught.value.diagnostics[0].message
    result = invoke(module, task("declares_badly"), env_in(tmp_path))
    assert result["error"] is not None and not result["error"]["retryable"]


def test_a_command_module_finds_its_files_in_its_environment(tmp_path: Path, weights: Path) -> None:
    folder = tmp_path / "cmd"
    folder.mkdir()
    script = folder / "show-files.sh"
    script.write_text('#!/bin/sh\nprintf \'{"files": %s}\' "$RAINBOW_FILES"\n')
    script.chmod(0o755)
    (folder / "rainbow-module.toml").write_text(
        '[module]\nname = "show_files"\ncommand = ["./show-files.sh"]\n'
        '[outputs]\nfiles = "object"\n'
        f'[[files]]\nname = "weights"\nurl = "{weights}"\nsha256 = "{sha(b"w-v3")}"\n'
    )
    module = command_module(folder / "rainbow-module.toml")
    env = env_in(tmp_path)
    result = invoke(module, task("show_files"), env)
    assert result["status"] == "succeeded", result["error"]
    assert result["outputs"] == {"files": {"weights": str(env.files_cache / sha(b"w-v3"))}}
    assert json.loads(os.environ.get("RAINBOW_FILES", "{}")) == {}  # only the command's
