"""``rainbow evaluate``: run a corpus, compare every metric with the baseline, gate on it.

Exit status: 0 when nothing regressed, 1 on a regression, 2 when there is nothing to compare
with (no baseline, another corpus) or the command was misused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rainbow import settings as rb_settings
from rainbow.cli import render
from rainbow.cli.app import (
    ModulesOption,
    OverrideOption,
    app,
    err,
    open_store,
    out,
    settings_of,
    user_errors,
)
from rainbow.cli.run_commands import counted_runs, opened_corpus, run_locally, run_on_celery
from rainbow.cli.targets import (
    Loaded,
    Swap,
    load,
    refuse_retired,
    registry_lookup,
    with_overrides,
)
from rainbow.errors import UserError
from rainbow.sdk.catalog import load_modules
from rainbow.spec.models import PipelineSpec

if TYPE_CHECKING:
    from rainbow.evaluate.comparison import Comparison
    from rainbow.evaluate.figures import Figures

MAIN = "main"
MODULE_PREFIX = "module:"
MAX_BASELINE_BYTES = 64 * 1024 * 1024


@app.command()
@user_errors
def evaluate(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="The pipeline (FILE.py[:FUNC], SPEC.json, or a registered pipeline's name: its "
            "default in --env), or module:NAME for one module (found with --modules, or "
            "installed: a module project's own package)"
        ),
    ],
    corpus: Annotated[str, typer.Option("--corpus", help="The corpus: a folder or a URL")],
    baseline: Annotated[
        str,
        typer.Option(
            help="What to compare with: main (the newest baseline recorded on the main "
            "branch) or a FILE saved with --save-baseline"
        ),
    ] = MAIN,
    save_baseline: Annotated[
        Path | None, typer.Option(help="Also write these figures to FILE, as a baseline")
    ] = None,
    update_baseline: Annotated[
        bool,
        typer.Option(help="Record these figures as the new baseline (on the main branch only)"),
    ] = False,
    repeats: Annotated[
        int, typer.Option(min=1, max=100, help="Run the corpus N times (timings get samples)")
    ] = 1,
    engine: Annotated[str, typer.Option(help="local (embedded) or celery")] = "local",
    report: Annotated[
        Path | None,
        typer.Option(help="Where to write the result (default: under RAINBOW_HOME/evaluations)"),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option(help="The branch evaluated (default: the one checked out at TARGET)"),
    ] = None,
    modules: ModulesOption = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="local: worker processes (default: one per core)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON on stdout")
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            help="local: reuse the outputs of steps already run with the same code and inputs"
        ),
    ] = True,
    override: OverrideOption = None,
    env: Annotated[
        str, typer.Option(help="For a registered pipeline: whose default to evaluate")
    ] = "prod",
) -> None:
    """Run a corpus through a pipeline and compare its metrics with the baseline."""
    from rainbow.evaluate.aggregate import figures_of
    from rainbow.vcs import branch_of, code_state

    if engine not in ("local", "celery"):
        raise UserError(f"unknown engine {engine!r}", hint="use --engine local or --engine celery")
    settings = settings_of(ctx)
    main_branch = settings.release.main_branch
    loaded, label, code_path = _target(target, modules or [], settings, env)
    loaded, swaps = _overridden(loaded, override or [], settings, update_baseline=update_baseline)
    # A registered pipeline has no checkout here: only --branch says which branch it is.
    if branch is None:
        branch = branch_of(code_path) if code_path is not None else ""
    if update_baseline and branch != main_branch:
        _refuse_update_off_main(branch, main_branch)
    compared_with = None if baseline == MAIN else _read_baseline(Path(baseline))
    render.diagnostics(err, loaded.warnings)
    opened, units = _corpus_units(corpus, loaded, settings)
    store = open_store(settings.store)
    refuse_retired(loaded.spec, store.retired_versions())
    commit, dirty = code_state(code_path) if code_path is not None else ("", False)
    # Repeats measure timings again: the cache would answer them without running anything.
    reuse = cache and repeats == 1
    run_ids = _run(
        loaded, units * repeats, store, settings, engine=engine, workers=workers, cache=reuse
    )
    details = [d for d in (store.get_run(r) for r in run_ids) if d is not None]
    figures = figures_of(
        details,
        target=label,
        corpus=opened.ref,
        units=[u.name for u in units],
        made_at=datetime.now(UTC),
        commit=commit + ("+dirty" if commit and dirty else ""),
        branch=branch,
        repeats=repeats,
        overrides=[f"{swap.module}={swap.source}" for swap in swaps],
    )
    folder = report or _default_report(settings, label)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "figures.json").write_text(figures.model_dump_json(indent=2) + "\n")
    if save_baseline is not None:
        save_baseline.parent.mkdir(parents=True, exist_ok=True)
        save_baseline.write_text(figures.model_dump_json(indent=2) + "\n")
        err.print(f"saved these figures as a baseline: {save_baseline}", highlight=False)
    kept = _baselines(settings)
    if compared_with is None:
        compared_with = _main_baseline(kept, figures, main_branch)
    if update_baseline:
        kept.record(figures)
        err.print(f"recorded these figures as the baseline on {main_branch}", highlight=False)
    if compared_with is None:
        out.print(render.metric_summary([d.summary for d in details]) or "no metrics")
        if save_baseline is not None or update_baseline:
            err.print("no baseline to compare with yet: these figures are the first")
            return
        raise UserError(
            f"no baseline of {figures.target} on {opened.ref.name}@{opened.ref.version} from "
            f"{main_branch} to compare with (the figures are in {folder / 'figures.json'})",
            code="RB-E100",
            hint=f"record one from {main_branch}: `rainbow evaluate ... --update-baseline` in "
            f"{main_branch}'s CI; or save one to a file with --save-baseline FILE and compare "
            "with --baseline FILE",
        )
    comparison = _compare(compared_with, figures, opened)
    _write_report(folder, comparison)
    _write_html(folder, comparison, compared_with, figures, kept, store, main_branch)
    if as_json:
        print(comparison.model_dump_json())
    else:
        out.print(render.comparison_table(comparison))
    err.print(f"report: {folder}", highlight=False)
    raise typer.Exit(comparison.exit_code)


def _target(
    target: str, modules: list[str], settings: rb_settings.Settings, env: str
) -> tuple[Loaded, str, Path | None]:
    """What to evaluate, the name its baselines are kept under, and where its code is (for the
    commit and branch; a registered pipeline has none here: give --branch)."""
    file = Path(target.split(":", 1)[0])
    if not target.startswith(MODULE_PREFIX) and file.suffix not in (".py", ".json"):
        if file.exists():
            raise UserError(
                f"{target} is neither a pipeline file (.py), a spec (.json) nor module:NAME",
                hint="give FILE.py[:FUNC], SPEC.json, module:NAME or a registered pipeline's name",
            )
        spec = _registered(target, env, settings)
        return Loaded(spec, load_modules(modules), []), spec.name, None
    if not target.startswith(MODULE_PREFIX):
        loaded = load(target, modules, limits=settings.spec, registered=registry_lookup(settings))
        return loaded, loaded.spec.name, Path(target.split(":", 1)[0])
    from rainbow.sdk.catalog import installed_modules
    from rainbow.spec.single import module_pipeline

    name = target.removeprefix(MODULE_PREFIX)
    found = {**installed_modules([name]), **load_modules(modules)}.get(name)
    if found is None:
        raise UserError(
            f"no module {name!r} here: neither --modules nor an installed package has it",
            code="RB-E103",
            hint="pass --modules with its import path or file, or install the module's project "
            "(pip install -e .) so its rainbow.modules entry point is found",
        )
    loaded = Loaded(module_pipeline(found.rainbow_interface), {name: found}, [])
    return loaded, target, Path(found.ref.file or ".")


def _overridden(
    loaded: Loaded, overrides: list[str], settings: rb_settings.Settings, *, update_baseline: bool
) -> tuple[Loaded, list[Swap]]:
    swapped, swaps = with_overrides(loaded, overrides, registered=registry_lookup(settings))
    if swaps and update_baseline:
        raise UserError(
            "--update-baseline with --override: a pipeline with a module swapped is a one-off, "
            "never the baseline",
            code="RB-E106",
            hint="compare the swap with main's baseline (drop --update-baseline); record "
            "baselines from main's own code",
        )
    for swap in swaps:
        where = "local code at" if swap.local else "version"
        err.print(f"every step of {swap.module} runs {where} {swap.source}", highlight=False)
    return swapped, swaps


def _registered(name: str, env: str, settings: rb_settings.Settings) -> PipelineSpec:
    """The default version in ``env`` of the pipeline registered as ``name``."""
    if settings.client.url:
        from rainbow.cli.control_commands import spec_of
        from rainbow.cli.remote import ControlPlane

        return spec_of(ControlPlane(settings.client), name, None, env)
    open_store(settings.store)
    from rainbow.control.services.release import default_version

    return PipelineSpec.model_validate(default_version(name, env).spec)


def _corpus_units(corpus: str, loaded: Loaded, settings: rb_settings.Settings) -> tuple[Any, Any]:
    from rainbow.engine.workunits import load_corpus

    opened = opened_corpus(corpus, settings)
    return opened, load_corpus(opened.folder, loaded.spec)


def _run(
    loaded: Loaded,
    units: list[Any],
    store: Any,
    settings: rb_settings.Settings,
    *,
    engine: str,
    workers: int | None,
    cache: bool,
) -> list[str]:
    with counted_runs(loaded.spec.name, len(units), quiet=False) as advance:
        if engine == "local":
            return run_locally(loaded, units, store, settings, workers, False, advance, cache=cache)
        return run_on_celery(loaded.spec, units, store, settings, wait=True, advance=advance)


def _read_baseline(path: Path) -> Figures:
    from pydantic import ValidationError

    from rainbow.evaluate.figures import Figures

    try:
        if path.stat().st_size > MAX_BASELINE_BYTES:
            raise UserError(
                f"baseline {path} is larger than {MAX_BASELINE_BYTES // 2**20} MiB",
                code="RB-E102",
                hint="give a file written by --save-baseline",
            )
        return Figures.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise UserError(
            f"no baseline file {path}",
            code="RB-E102",
            hint="--baseline takes main or a FILE written by --save-baseline",
        ) from None
    except OSError as exc:
        raise UserError(f"cannot read baseline {path}: {exc.strerror}", code="RB-E102") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the top level"
        raise UserError(
            f"{path} is not a baseline: {where}: {first['msg']}",
            code="RB-E102",
            hint="give a file written by rainbow evaluate --save-baseline",
        ) from None


def _refuse_update_off_main(branch: str, main_branch: str) -> None:
    where = f"branch {branch!r}" if branch else "no branch (a detached head)"
    raise UserError(
        f"--update-baseline records main's figures only; this is {where}",
        code="RB-E101",
        hint=f"run it in {main_branch}'s CI (or pass --branch {main_branch} where CI checks "
        "out a detached head); on a branch, compare with main's baseline or save one to a "
        "file with --save-baseline",
    )


class _StoreBaselines:
    """Baselines in the local store, when there is no control plane (RAINBOW_URL)."""

    def __init__(self, main_branch: str) -> None:
        self.main_branch = main_branch

    def record(self, figures: Figures) -> None:
        from rainbow.control.services import baselines

        baselines.record(figures, main_branch=self.main_branch, by=None, actor_name=_user())

    def history(
        self, target: str, *, branch: str, corpus_hash: str = "", limit: int = 1
    ) -> list[Figures]:
        from rainbow.control.services import baselines

        return baselines.history(target, branch=branch, corpus_hash=corpus_hash, limit=limit)


def _baselines(settings: rb_settings.Settings) -> Any:
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane, RemoteBaselines

        return RemoteBaselines(ControlPlane(settings.client))
    return _StoreBaselines(settings.release.main_branch)


def _main_baseline(kept: Any, figures: Figures, main_branch: str) -> Figures | None:
    """Main's newest baseline on this corpus; else on any corpus, which ``compare`` refuses
    saying what each was measured on."""
    for corpus_hash in (figures.corpus.content_hash, ""):
        found = kept.history(figures.target, branch=main_branch, corpus_hash=corpus_hash)
        if found:
            return found[0]
    return None


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _compare(baseline: Figures, figures: Figures, opened: Any) -> Comparison:
    from rainbow.evaluate.compare import compare

    tolerances = opened.manifest.tolerances if opened.manifest is not None else {}
    return compare(baseline, figures, tolerances=tolerances)


def _write_report(folder: Path, comparison: Comparison) -> None:
    from rainbow.evaluate.summary import markdown

    (folder / "comparison.json").write_text(comparison.model_dump_json(indent=2) + "\n")
    (folder / "summary.md").write_text(markdown(comparison))


def _write_html(
    folder: Path,
    comparison: Comparison,
    baseline: Figures,
    figures: Figures,
    kept: Any,
    store: Any,
    main_branch: str,
) -> None:
    from rainbow.evaluate.report import MAX_TREND, write_html

    trend = kept.history(
        figures.target,
        branch=main_branch,
        corpus_hash=baseline.corpus.content_hash,
        limit=MAX_TREND,
    )
    write_html(
        folder, comparison, baseline, figures, trend=trend[::-1], outputs=_StoreOutputs(store)
    )


class _StoreOutputs(Mapping[str, Mapping[str, Any]]):
    """Runs' outputs read from the store as the report asks for them (a few units' only)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._read: dict[str, Mapping[str, Any] | None] = {}

    def _outputs(self, run_id: str) -> Mapping[str, Any] | None:
        if run_id not in self._read:
            detail = self._store.get_run(run_id)
            self._read[run_id] = None if detail is None else detail.outputs
        return self._read[run_id]

    def __getitem__(self, run_id: str) -> Mapping[str, Any]:
        found = self._outputs(run_id)
        if found is None:
            raise KeyError(run_id)
        return found

    def __contains__(self, run_id: object) -> bool:
        return isinstance(run_id, str) and self._outputs(run_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(run_id for run_id, found in self._read.items() if found is not None)

    def __len__(self) -> int:
        return sum(found is not None for found in self._read.values())


def _default_report(settings: rb_settings.Settings, target: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", target)[:100]
    return settings.store.evaluations / f"{safe}-{stamp}"
