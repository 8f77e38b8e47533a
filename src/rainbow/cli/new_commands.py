"""``rainbow new module`` and ``rainbow module upgrade``: projects from the module template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rainbow.cli.app import app, out, user_errors
from rainbow.cli.control_commands import module_app

new_app = typer.Typer(help="Start a project from Rainbow's templates.", no_args_is_help=True)
app.add_typer(new_app, name="new")

SHOWN_CHANGES = 20


@new_app.command("module")
@user_errors
def new_module(
    name: Annotated[str, typer.Argument(help="The module's name, as pipelines pin it")],
    folder: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to make it (default: ./NAME); absent or empty"),
    ] = None,
    command: Annotated[
        bool,
        typer.Option("--command", help="A C++ program reading JSON on stdin, not a function"),
    ] = False,
) -> None:
    """Make a module project: the module, tests on canned units, lint hooks, CI, Dockerfile."""
    from rainbow.templates import new_module as make

    made = make(name, folder or Path(name), kind="command" if command else "python")
    out.print(
        f"[green]created[/green] module project {made.name} ({made.kind}, template "
        f"{made.version}) in {made.path}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"next: cd {made.path} && git init && git add -A && git commit -m 'New module'\n"
        "      python3 -m venv .venv && . .venv/bin/activate\n"
        "      pip install \"$RAINBOW_SOURCE\" -e '.[dev]' && pre-commit install && pytest",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@module_app.command("upgrade")
@user_errors
def module_upgrade(
    folder: Annotated[
        Path, typer.Option("--dir", help="The module project (default: this folder)")
    ] = Path(),
) -> None:
    """Apply the changes of Rainbow's module template since the project was made or upgraded."""
    from rainbow.templates import upgrade_module

    done = upgrade_module(folder)
    if not done.changed:
        out.print(
            f"{done.path} is up to date with template {done.to_version}",
            highlight=False,
            soft_wrap=True,
        )
        return
    out.print(
        f"[green]upgraded[/green] {done.path} from template {done.from_version} to "
        f"{done.to_version}; review the changes (git diff) and commit them:",
        highlight=False,
        soft_wrap=True,
    )
    for path in done.changed[:SHOWN_CHANGES]:
        out.print(f"  {path}", highlight=False, markup=False, soft_wrap=True)
    if len(done.changed) > SHOWN_CHANGES:
        out.print(f"  … and {len(done.changed) - SHOWN_CHANGES} more", highlight=False)
