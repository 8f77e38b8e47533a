"""``rainbow release`` and the module registry's own commands: list, show, drain, retire."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rainbow import settings as rb_settings
from rainbow.cli.app import app, open_store, out, settings_of, user_errors
from rainbow.cli.control_commands import module_app
from rainbow.cli.render import build_text
from rainbow.errors import UserError


def split_pin(pin: str) -> tuple[str, str]:
    """``NAME@VERSION`` → (name, version), or a UserError saying how to write it."""
    name, at, version = pin.partition("@")
    if not at or not name or not version:
        raise UserError(
            f"{pin!r} is not NAME@VERSION",
            code="RB-E080",
            hint="name a module version as a pipeline pins it: segment@1.2, segment@latest",
        )
    return name, version


@app.command()
@user_errors
def release(
    ctx: typer.Context,
    project: Annotated[
        Path, typer.Option("--dir", help="The module project's folder (default: here)")
    ] = Path(),
    branch: Annotated[
        str | None,
        typer.Option(help="The branch a detached checkout is on (CI checks out a commit)"),
    ] = None,
    push: Annotated[bool, typer.Option(help="Push a new release-X.Y branch to the remote")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the release as JSON")] = False,
) -> None:
    """Release the module project's commit: main → NAME@latest, tag X.Y → NAME@X.Y (and branch
    release-X.Y), a commit on release-X.Y → a hot fix of X.Y, another branch → a branch build."""
    from rainbow.deploy import gitstate
    from rainbow.deploy.release import build_release

    settings = settings_of(ctx)
    built = build_release(project, settings.release, branch=branch)
    target, artifact = built.target, built.artifact
    done = _record_all(settings, target, artifact, built.interfaces)
    branched = gitstate.create_branch(target, push=push)
    if as_json:
        out.print_json(json.dumps(done))
        return
    verbs = {"created": "released", "moved": "moved", "unchanged": "already released"}
    for row in done:
        out.print(
            f"[green]{verbs[row['outcome']]}[/green] {row['module']}@{target.version} "
            f"({row['label']}) from {target.commit[:12]} on {target.ref}",
            highlight=False,
        )
    out.print(f"  artifact {artifact.hash} at {artifact.url}", highlight=False, soft_wrap=True)
    if branched:
        out.print(f"  {branched}", highlight=False)


def _record_all(
    settings: rb_settings.Settings,
    target: Any,
    artifact: Any,
    interfaces: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every module of the build into the registry (the control plane's, or the store's)."""
    bodies = {
        name: {
            "version": target.version,
            "kind": target.kind,
            "commit": target.commit,
            "ref": target.ref,
            "artifact_url": artifact.url,
            "artifact_hash": artifact.hash,
            "interface": interface,
            "released_by": target.committer,
        }
        for name, interface in interfaces.items()
    }
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane

        plane = ControlPlane(settings.client)
        answers = {n: plane.call("POST", f"/modules/{n}/releases", b) for n, b in bodies.items()}
        outcomes = {n: (a["label"], a["outcome"]) for n, a in answers.items()}
    else:
        open_store(settings.store)
        from rainbow.control.services.builds import Release, record_releases

        recorded = record_releases([Release(module=n, **b) for n, b in bodies.items()], by=None)
        outcomes = {r.row.module.name: (r.label, r.outcome) for r in recorded}
    return [
        {**body, "module": name, "label": outcomes[name][0], "outcome": outcomes[name][1]}
        for name, body in bodies.items()
    ]


@module_app.command("list")
@user_errors
def module_list(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this module")] = None,
) -> None:
    """Module versions in the registry: status, commit and build."""
    rows = _versions(settings_of(ctx), name)
    table = Table()
    for column in ("module", "version", "status", "build", "registered"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["module"],
            row["version"],
            row["status"],
            build_text(row["commit"], row["artifact_hash"]),
            str(row["registered_at"])[:19],
        )
    out.print(table)


@module_app.command("show")
@user_errors
def module_show(
    ctx: typer.Context,
    pin: Annotated[str, typer.Argument(help="NAME@VERSION, or NAME for all its versions")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the registry's answer")] = False,
) -> None:
    """One module version: its status, artifact, interface and history of builds."""
    settings = settings_of(ctx)
    if "@" not in pin:
        shown = [_version(settings, pin, row["version"]) for row in _versions(settings, pin)]
        if not shown:
            raise _unregistered(pin)
    else:
        shown = [_version(settings, *split_pin(pin))]
    if as_json:
        out.print_json(json.dumps(shown, default=str))
        return
    for row in shown:
        out.print(f"[bold]{row['module']}@{row['version']}[/bold]  {row['status']}")
        if row["status_reason"]:
            out.print(f"  reason    {row['status_reason']}", highlight=False)
        out.print(f"  commit    {row['commit'] or '-'}", highlight=False)
        out.print(f"  artifact  {row['artifact_hash'] or '-'}", highlight=False)
        if row["artifact_url"]:
            out.print(f"            {row['artifact_url']}", highlight=False, soft_wrap=True)
        for label, ports in (
            ("inputs", row["interface"].get("inputs") or {}),
            ("outputs", row["interface"].get("outputs") or {}),
        ):
            listed = ", ".join(f"{k}: {v['type']}" for k, v in ports.items()) or "-"
            out.print(f"  {label:<9} {listed}", highlight=False)
        if row["builds"]:
            # Lines, not a table: a narrow terminal must not cut a label or a commit short.
            out.print("  history", highlight=False)
            for build in row["builds"]:
                when = str(build["released_at"])[:19]
                out.print(
                    f"    {build['label']:<10} {build['commit'][:12]}  {build['ref']:<14} "
                    f"{when}  {build['released_by']}",
                    highlight=False,
                    soft_wrap=True,
                )


def _status_command(status: str, doing: str) -> Any:
    @user_errors
    def command(
        ctx: typer.Context,
        pin: Annotated[str, typer.Argument(help="NAME@VERSION")],
        reason: Annotated[str, typer.Option(help="Why; shown to whoever is refused")] = "",
    ) -> None:
        settings = settings_of(ctx)
        name, version = split_pin(pin)
        if status == "retired" and not reason.strip():
            raise UserError(
                f"retiring {pin} needs a reason",
                hint="say why with --reason: runs refused on it show the reason to their users",
            )
        body = {"status": status, "reason": reason}
        if settings.client.url:
            from rainbow.cli.remote import ControlPlane

            ControlPlane(settings.client).call(
                "POST", f"/modules/{name}/versions/{version}/status", body
            )
        else:
            open_store(settings.store)
            from rainbow.control.services.builds import set_status

            actor = os.environ.get("USER") or getpass.getuser()
            set_status(name, version, status, reason=reason, by=None, actor_name=actor)
        out.print(f"[green]{pin}[/green] is {status}", highlight=False)

    command.__doc__ = doing
    return command


module_app.command("drain")(
    _status_command(
        "draining", "Drain a module version: pinned pipelines run, new pins are refused."
    )
)
module_app.command("retire")(
    _status_command(
        "retired",
        "Retire a module version: nothing new runs on it, and its workers stop serving it.",
    )
)
module_app.command("live")(
    _status_command("live", "Bring a drained or retired module version back to live.")
)


def _versions(settings: rb_settings.Settings, name: str | None) -> list[dict[str, Any]]:
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane

        plane = ControlPlane(settings.client)
        modules = [plane.call("GET", f"/modules/{name}")] if name else plane.call("GET", "/modules")
        return [v for m in modules for v in m["versions"]]
    open_store(settings.store)
    from rainbow.control.services.builds import versions

    return [_row(row) for row in versions(name)]


def _version(settings: rb_settings.Settings, name: str, version: str) -> dict[str, Any]:
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane

        answer: dict[str, Any] = ControlPlane(settings.client).call(
            "GET", f"/modules/{name}/versions/{version}"
        )
        return answer
    open_store(settings.store)
    from rainbow.control.models import ModuleVersion
    from rainbow.control.services.builds import history

    row = (
        ModuleVersion.objects.select_related("module")
        .filter(module__name=name, version=version)
        .first()
    )
    if row is None:
        raise _unregistered(f"{name}@{version}")
    return {**_row(row), "builds": [_build_row(b) for b in history(row)]}


def _row(row: Any) -> dict[str, Any]:
    return {
        "module": row.module.name,
        "version": row.version,
        "status": row.status,
        "status_reason": row.status_reason,
        "commit": row.commit,
        "artifact_url": row.artifact_url,
        "artifact_hash": row.artifact_hash,
        "interface": row.interface,
        "registered_at": row.registered_at,
        "builds": [],
    }


def _build_row(build: Any) -> dict[str, Any]:
    return {
        "label": build.label,
        "commit": build.commit,
        "ref": build.ref,
        "artifact_hash": build.artifact_hash,
        "released_by": build.released_by,
        "released_at": build.released_at,
    }


def _unregistered(what: str) -> UserError:
    return UserError(
        f"{what} is not registered",
        code="RB-E080",
        hint="`rainbow module list` shows the registered versions; `rainbow release` in a "
        "module project releases one",
    )
