"""Commands on pipelines and specs: compile, validate, graph."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rainbow.cli import render
from rainbow.cli.app import ModulesOption, app, err, out, settings_of, user_errors, write_file
from rainbow.cli.targets import load, registry_lookup
from rainbow.errors import UserError


@app.command("compile")
@user_errors
def compile_command(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="FILE.py[:FUNC] holding the pipeline")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the spec here (default stdout)")
    ] = None,
    modules: ModulesOption = None,
) -> None:
    """Compile a pipeline to canonical JSON (sorted keys, stable step order, spec_hash)."""
    from rainbow.spec.canonical import dumps

    loaded = load(
        target,
        modules or [],
        limits=settings_of(ctx).spec,
        registered=registry_lookup(settings_of(ctx)),
    )
    render.diagnostics(err, loaded.warnings)
    text = dumps(loaded.spec)
    if output is None:
        sys.stdout.write(text)
        return
    write_file(output, text)
    err.print(
        f"wrote {output} ({loaded.spec.name}, {len(loaded.spec.steps)} steps, "
        f"{loaded.spec.spec_hash[:19]})",
        highlight=False,
    )


@app.command()
@user_errors
def validate(
    ctx: typer.Context,
    spec_file: Annotated[Path, typer.Argument(help="A compiled SPEC.json")],
    modules: ModulesOption = None,
) -> None:
    """Check a JSON spec against the shipped JSON Schema and the wiring rules."""
    if spec_file.suffix != ".json":
        raise UserError(
            f"{spec_file} is not a .json spec",
            hint="compile a pipeline file with `rainbow compile`",
        )
    loaded = load(
        str(spec_file),
        modules or [],
        limits=settings_of(ctx).spec,
        registered=registry_lookup(settings_of(ctx)),
    )
    render.diagnostics(err, loaded.warnings)
    spec = loaded.spec
    out.print(f"[green]ok[/green] {spec.name} ({len(spec.steps)} steps, {spec.spec_hash[:19]})")


@app.command()
@user_errors
def graph(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="FILE.py[:FUNC] or SPEC.json")],
    output: Annotated[Path, typer.Option("-o", "--output", help="OUT.svg, .png, .pdf or .dot")],
    modules: ModulesOption = None,
) -> None:
    """Draw the pipeline's DAG."""
    from rainbow.dsl.graph import render as draw

    loaded = load(
        target,
        modules or [],
        limits=settings_of(ctx).spec,
        registered=registry_lookup(settings_of(ctx)),
    )
    write_file(output, draw(loaded.spec, output.suffix.lstrip(".").lower()))
    err.print(f"wrote {output}", highlight=False)
