"""``rainbow corpus``: record a folder of work units as a corpus (its manifest), check one,
show it, and register its versions with the control plane (or the store without one)."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rainbow import settings as rb_settings
from rainbow.cli.app import app, err, open_store, out, settings_of, store_exists, user_errors
from rainbow.errors import DiagnosticError

if TYPE_CHECKING:
    from rainbow.evaluate.corpus import Manifest

corpus_app = typer.Typer(help="Corpora: versioned sets of work units with their provenance.")
app.add_typer(corpus_app, name="corpus")

LocationArgument = Annotated[str, typer.Argument(help="The corpus: a folder, or an fsspec URL")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]
PAGE = 500
GIT_TIMEOUT_S = 10


@corpus_app.command("init")
@user_errors
def corpus_init(
    folder: Annotated[Path, typer.Argument(help="The folder of work units")],
    name: Annotated[str, typer.Option(help="The corpus's name: room-scan")],
    version: Annotated[str, typer.Option(help="This version of it: 1, 2.0, 2026-12")],
    licence: Annotated[str, typer.Option(help="An SPDX expression: CC-BY-4.0, CC0-1.0")],
    use: Annotated[str, typer.Option(help="research, or production (may gate releases)")],
    source: Annotated[str, typer.Option(help="Where the units came from")],
    made_by: Annotated[
        str | None, typer.Option(help="Who made the corpus (default: git's committer, or you)")
    ] = None,
    description: Annotated[str, typer.Option(help="What the corpus is for")] = "",
    force: Annotated[bool, typer.Option(help="Write over the folder's corpus.toml")] = False,
) -> None:
    """Hash every file of the folder's units and write its manifest, corpus.toml."""
    from rainbow.evaluate.corpus import MANIFEST, init, ref_of

    manifest = init(
        folder,
        name=name,
        version=version,
        licence=licence,
        use=use,
        source=source,
        made_by=made_by or _maker(folder),
        description=description,
        force=force,
    )
    out.print(
        f"wrote {folder / MANIFEST}: {name}@{version}, {_counted(manifest)}, content "
        f"{ref_of(manifest).content_hash}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@corpus_app.command("validate")
@user_errors
def corpus_validate(location: LocationArgument) -> None:
    """Check the manifest and every file against its hash; list every problem (exit 2)."""
    from rainbow.evaluate.corpus import ref_of

    manifest = _checked(location)
    info = manifest.corpus
    out.print(
        f"{location}: {info.name}@{info.version} is valid: {_counted(manifest)}, content "
        f"{ref_of(manifest).content_hash}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _checked(location: str) -> Manifest:
    """The corpus's manifest once every file was checked against it; every problem refused."""
    from rainbow.evaluate import corpus

    remote = corpus.is_url(location)
    problems = corpus.validate_url(location) if remote else corpus.validate(Path(location))
    if problems:
        raise DiagnosticError(problems)
    return corpus.read_url(location) if remote else corpus.read(Path(location))


@corpus_app.command("show")
@user_errors
def corpus_show(
    ctx: typer.Context, location: LocationArgument, as_json: JsonOption = False
) -> None:
    """A corpus's name, version, licence, use, provenance, units and content hash (files are
    not checked: `rainbow corpus validate` does)."""
    from rainbow.evaluate import corpus

    note = None
    if corpus.is_url(location):
        manifest: Manifest | None = corpus.read_url(location)
    elif (Path(location) / corpus.MANIFEST).exists():
        manifest = corpus.read(Path(location))
    else:
        opened = corpus.open_corpus(Path(location), settings_of(ctx).store.corpora)
        manifest, note = None, opened.note
    ref = corpus.ref_of(manifest) if manifest is not None else opened.ref
    if as_json:
        shown = _shown(manifest, ref.model_dump(), location)
        sys.stdout.write(json.dumps(shown, indent=2, ensure_ascii=False) + "\n")
        return
    if note:
        err.print(f"note: {note}", style="dim", highlight=False, markup=False)
    _print_manifest(manifest, ref.content_hash, location)


def _shown(manifest: Manifest | None, ref: dict[str, Any], location: str) -> dict[str, Any]:
    if manifest is None:
        return {**ref, "location": location, "manifest": False}
    return {
        **ref,
        "location": location,
        "manifest": True,
        **manifest.corpus.model_dump(mode="json", exclude={"name", "version"}),
        "provenance": manifest.provenance.model_dump(mode="json"),
        "tolerances": {k: v.model_dump() for k, v in manifest.tolerances.items()},
        "unit_count": len(manifest.units),
        "file_count": sum(len(unit.files) for unit in manifest.units),
        "units": [unit.name for unit in manifest.units],
    }


def _print_manifest(manifest: Manifest | None, content: str, location: str) -> None:
    def line(label: str, value: object) -> None:
        out.print(f"  {label:<12} {value}", highlight=False, markup=False, soft_wrap=True)

    if manifest is None:
        out.print(f"{Path(location).resolve().name}@unversioned", highlight=False, markup=False)
        line("content", content)
        return
    info, made = manifest.corpus, manifest.provenance
    out.print(f"{info.name}@{info.version}  {info.use}  {info.licence}", highlight=False)
    line("content", content)
    line("units", _counted(manifest))
    if info.description:
        line("description", info.description)
    line("source", made.source)
    line("made by", made.made_by)
    line("made at", made.made_at.isoformat())
    for key, bound in manifest.tolerances.items():
        line("tolerance", f"{key}: absolute {bound.absolute:g}, relative {bound.relative:g}")


def _counted(manifest: Manifest) -> str:
    files = sum(len(unit.files) for unit in manifest.units)
    return f"{len(manifest.units)} unit(s), {files} file(s)"


@corpus_app.command("register")
@user_errors
def corpus_register(
    ctx: typer.Context, location: LocationArgument, as_json: JsonOption = False
) -> None:
    """Register the corpus's version, once checked, with the control plane (RAINBOW_URL) or
    the store: the same content again is unchanged, other content under its version refused."""
    from rainbow.evaluate import corpus

    settings = settings_of(ctx)
    manifest = _checked(location)
    registration = corpus.Registration.of(manifest)
    answer = _record(settings, registration)
    if as_json:
        sys.stdout.write(json.dumps(answer, indent=2, ensure_ascii=False) + "\n")
        return
    row = answer["version"]
    what = f"{row['name']}@{row['version']}"
    done = "registered" if answer["outcome"] == "created" else "already registered"
    out.print(
        f"[green]{done}[/green] {what} (content {row['content_hash']}, {row['unit_count']} "
        f"unit(s), {row['use']}, {row['licence']})",
        highlight=False,
        soft_wrap=True,
    )


def _record(settings: rb_settings.Settings, registration: Any) -> dict[str, Any]:
    body = registration.model_dump(mode="json")
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane

        answer: dict[str, Any] = ControlPlane(settings.client).call("POST", "/corpora", body)
        return answer
    open_store(settings.store)
    from rainbow.control.services.corpora import register
    from rainbow.control.web.schemas import CorpusVersionOut

    done = register(registration, by=None, actor_name=_login())
    return {
        "outcome": done.outcome,
        "version": CorpusVersionOut.of(done.row).model_dump(mode="json"),
    }


@corpus_app.command("list")
@user_errors
def corpus_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Registered corpus versions: content hash, licence, use, units, who registered them."""
    rows = _registered(settings_of(ctx))
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return
    # Lines, not a table: a narrow terminal must not cut a name, a hash or a licence short.
    for row in rows:
        when = str(row["registered_at"])[:16].replace("T", " ")
        out.print(
            f"{row['name']}@{row['version']}  {row['use']}  {row['licence']}  "
            f"{row['unit_count']} unit(s)  {row['content_hash'].removeprefix('sha256:')[:12]}  "
            f"{row['registered_by']}  {when}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if not rows:
        err.print("no corpus is registered yet: rainbow corpus register DIR_OR_URL")


def _registered(settings: rb_settings.Settings) -> list[dict[str, Any]]:
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane

        plane = ControlPlane(settings.client)
        rows: list[dict[str, Any]] = []
        while True:
            page = plane.call("GET", f"/corpora?limit={PAGE}&offset={len(rows)}")
            rows += page["items"]
            if not page["items"] or len(rows) >= page["count"]:
                return rows
    if not store_exists(settings.store):
        return []
    open_store(settings.store)
    from rainbow.control.services.corpora import versions
    from rainbow.control.web.schemas import CorpusVersionOut

    return [CorpusVersionOut.of(row).model_dump(mode="json") for row in versions()]


def _maker(folder: Path) -> str:
    """Who makes a corpus by default: git's committer where it is (who a commit made now would
    name), else the login name."""
    try:
        ident = subprocess.run(
            ["git", "var", "GIT_COMMITTER_IDENT"],
            cwd=folder if folder.is_dir() else None,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return _login()
    # "Name <email> 1765152000 +0000": the identity without the moment.
    person = ident.stdout.strip().rsplit(" ", 2)[0]
    return person if ident.returncode == 0 and person else _login()


def _login() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
