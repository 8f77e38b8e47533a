"""The step cache: a step runs again only when its module, its code or its inputs changed; an
asset input counts by its bytes; uncommitted code, a module that opts out and --no-cache always
run."""

from __future__ import annotations

from pathlib import Path

import pytest

from rainbow.dsl.compiler import compile_pipeline
from rainbow.engine.cache import AssetHasher, Unhashable, code_identity, step_key
from rainbow.engine.local import LocalEngine, LocalOptions
from rainbow.engine.records import RunDetail
from rainbow.engine.store import MemoryStore
from rainbow.engine.workunits import WorkUnit
from rainbow.loading import import_file
from rainbow.sdk.catalog import modules_in
from tests.deploy.gitrepo import commit, new_repo

MODULES = """from typing import TypedDict

import rainbow as rb


class Text(TypedDict):
    text: str


class Size(TypedDict):
    size: int


@rb.module(name="shout", retries=0, timeout=10)
def shout(ctx: rb.Context, document: rb.Asset) -> Text:
    ctx.metric("letters", len(document.path.read_text()))
    return {{"text": document.path.read_text().upper()}}


@rb.module(name="measure", retries=0, timeout=10, cache={cache_measure})
def measure(ctx: rb.Context, text: str) -> Size:
    return {{"size": len(text)}}


@rb.pipeline(name="shouted")
def shouted(document: rb.Asset):
    loud = rb.step("shout@latest", document=document)
    return {{"text": loud.text, "size": rb.step("measure@latest", text=loud.text).size}}
"""


def project(tmp_path: Path, *, cache_measure: bool = True) -> Path:
    repo = new_repo(tmp_path / "project")
    commit(repo, {"pipeline.py": MODULES.format(cache_measure=cache_measure)})
    return repo / "pipeline.py"


def run_twice(
    code: Path, tmp_path: Path, document: Path, *, cache: bool = True
) -> tuple[RunDetail, RunDetail]:
    namespace = vars(import_file(code))
    spec, _ = compile_pipeline(namespace["shouted"])
    store = MemoryStore()
    options = LocalOptions(
        workers=1,
        assets_url=str(tmp_path / "assets"),
        work_root=tmp_path / "work",
        log_file=tmp_path / "rainbow.log",
        cache=cache,
    )
    engine = LocalEngine(store, modules_in(namespace, depth=0), options)
    unit = WorkUnit("doc", {"document": {"$asset": str(document)}})
    (first,) = engine.run(spec, [unit])
    (second,) = engine.run(spec, [unit])
    found = store.get_run(first.run_id), store.get_run(second.run_id)
    assert found[0] is not None and found[1] is not None
    return found[0], found[1]


def reused(detail: RunDetail) -> dict[str, str]:
    return {step.step: step.attempts[-1].cached_from for step in detail.steps}


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "note.txt"
    path.parent.mkdir()
    path.write_text("quiet words")
    return path


def test_an_unchanged_step_is_taken_from_the_cache_with_its_metrics(
    tmp_path: Path, document: Path
) -> None:
    first, second = run_twice(project(tmp_path), tmp_path, document)
    assert reused(first) == {"shout": "", "measure": ""}
    assert reused(second) == {"shout": first.summary.run_id, "measure": first.summary.run_id}
    assert second.summary.status == "succeeded"
    assert second.outputs == first.outputs == {"text": "QUIET WORDS", "size": 11}
    assert [(m.name, m.value) for m in second.summary.metrics] == [("letters", 11.0)]


def test_a_module_that_opts_out_and_no_cache_run_again(tmp_path: Path, document: Path) -> None:
    _, second = run_twice(project(tmp_path, cache_measure=False), tmp_path, document)
    assert reused(second)["measure"] == "" and reused(second)["shout"] != ""
    _, uncached = run_twice(project(tmp_path / "again"), tmp_path, document, cache=False)
    assert reused(uncached) == {"shout": "", "measure": ""}


def test_uncommitted_code_is_never_cached(tmp_path: Path, document: Path) -> None:
    code = project(tmp_path)
    code.write_text(code.read_text() + "\n# being edited\n")
    _, second = run_twice(code, tmp_path, document)
    assert reused(second) == {"shout": "", "measure": ""}


def test_an_edit_anywhere_in_the_checkout_keeps_its_modules_uncached(
    tmp_path: Path, document: Path
) -> None:
    """The commit stands for the whole checkout, and a module may import any of it."""
    code = project(tmp_path)
    (code.parent / "helpers").mkdir()
    (code.parent / "helpers" / "geometry.py").write_text("SCALE = 2\n")
    _, second = run_twice(code, tmp_path, document)
    assert reused(second) == {"shout": "", "measure": ""}


def test_the_key_follows_the_module_the_code_and_the_inputs_assets_by_their_bytes(
    tmp_path: Path,
) -> None:
    hasher = AssetHasher()
    one, same = tmp_path / "one.txt", tmp_path / "same.txt"
    one.write_text("pixels")
    same.write_text("pixels")

    def key(module: str = "m", code: str = "git:abc", **inputs: object) -> str:
        return step_key(module, code, inputs, hasher)

    base = key(image={"$asset": str(one)}, k=3)
    assert base == key(image={"$asset": str(same)}, k=3)  # the bytes, not the name
    assert base != key(image={"$asset": str(one)}, k=4)
    assert base != key("other", image={"$asset": str(one)}, k=3)
    assert base != key(code="git:def", image={"$asset": str(one)}, k=3)
    one.write_text("other pixels")
    assert base != key(image={"$asset": str(one)}, k=3)  # rewritten in place
    with pytest.raises(Unhashable):
        key(image={"$asset": str(tmp_path / "gone.txt")})


def test_code_is_known_by_its_build_or_its_clean_commit_only() -> None:
    assert code_identity("abc", "sha256:f00", dirty=True) == "sha256:f00"
    assert code_identity("abc", "", dirty=False) == "git:abc"
    assert code_identity("abc", "", dirty=True) is None
    assert code_identity("", "", dirty=False) is None
