"""Making and checking a corpus in a local folder: ``init`` hashes its units into a manifest,
``validate`` lists every file that is missing, changed or not in it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError, UserError
from rainbow.evaluate.corpus.fields import MANIFEST
from rainbow.evaluate.corpus.hashes import file_hash
from rainbow.evaluate.corpus.manifest import read, write
from rainbow.evaluate.corpus.models import CorpusInfo, Manifest, Provenance, unit_problems
from rainbow.evaluate.corpus.problems import changed, field_problems, linked_out, not_a_corpus
from rainbow.evaluate.corpus.scan import hashed, resolves_inside, scan
from rainbow.evaluate.figures import Tolerance


def require_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise not_a_corpus(
            f"corpus folder not found: {folder}", "give a folder of work units, or a corpus URL"
        )


def init(
    folder: Path,
    *,
    name: str,
    version: str,
    licence: str,
    use: str,
    source: str,
    made_by: str,
    description: str = "",
    made_at: datetime | None = None,
    force: bool = False,
) -> Manifest:
    """Hash every file of the folder's units and write their manifest; over the folder's
    manifest only with ``force``, keeping the tolerances written in it."""
    require_folder(folder)
    where = str(folder / MANIFEST)
    if (folder / MANIFEST).exists() and not force:
        raise UserError(
            f"{where} exists already",
            code="RB-E096",
            hint="pass --force to write it again from the units as they are now (check a "
            "changed corpus gets a new --version)",
        )
    metadata = {
        "corpus": {
            "name": name,
            "version": version,
            "licence": licence,
            "use": use,
            "description": description,
        },
        "provenance": {
            "source": source,
            "made_by": made_by,
            "made_at": made_at or datetime.now(UTC).replace(microsecond=0),
        },
    }
    problems: list[Diagnostic] = []
    for part, model in (("corpus", CorpusInfo), ("provenance", Provenance)):
        try:
            model.model_validate(metadata[part])
        except ValidationError as exc:
            problems += field_problems(exc, where, within=(part,))
    found = scan(folder)
    problems += found.problems
    if not found.units:
        raise not_a_corpus(f"no work units in {folder}", _LAYOUT_HINT)
    if problems:
        raise DiagnosticError(problems)
    units = [{"name": unit, "files": files} for unit, files in hashed(found.units).items()]
    tolerances = _tolerances_in(folder) if force else {}
    manifest = Manifest.model_validate({**metadata, "units": units, "tolerances": tolerances})
    problems = unit_problems(manifest.units, where)
    if problems:
        raise DiagnosticError(problems)
    write(manifest, folder)
    return manifest


_LAYOUT_HINT = "a corpus holds *.json units, or sub-folders each with a unit.json"


def _tolerances_in(folder: Path) -> dict[str, Tolerance]:
    """The tolerances of the folder's manifest, if it has one that reads: people wrote them,
    and no scan of the units can make them again."""
    if not (folder / MANIFEST).exists():
        return {}
    try:
        return read(folder).tolerances
    except UserError:
        return {}


def validate(folder: Path) -> list[Diagnostic]:
    """Every problem of the corpus in ``folder``: its manifest, each listed file that is
    missing or not its hash, and each unit or file the folder holds that the manifest omits."""
    require_folder(folder)
    try:
        manifest = read(folder)
    except DiagnosticError as exc:
        return exc.diagnostics
    problems: list[Diagnostic] = []
    for unit in manifest.units:
        for path, expected in unit.files.items():
            problems.extend(_local_file_problems(folder, path, expected))
    listed = {unit.name: unit for unit in manifest.units}
    for name, files in scan(folder).units.items():
        recorded = listed.get(name)
        if recorded is None:
            first = next(iter(files.values()))
            problems.append(_unlisted(f"unit {name!r} is not in the manifest", first))
            continue
        problems.extend(
            _unlisted(f"{path!r} of unit {name!r} is not in the manifest", file)
            for path, file in files.items()
            if path not in recorded.files
        )
    return problems


def _local_file_problems(folder: Path, path: str, expected: str) -> list[Diagnostic]:
    file = folder / path
    where = Location(file=str(file))
    if file.is_symlink() and not resolves_inside(file, folder.resolve()):
        return [linked_out(path, where)]
    try:
        found = file_hash(file)
    except FileNotFoundError:
        return [changed(f"{path!r} is missing", where)]
    except OSError as exc:
        return [changed(f"{path!r} cannot be read: {exc.strerror}", where)]
    if found != expected:
        return [changed(f"{path!r} hashes to {found}, not {expected} as the manifest says", where)]
    return []


def _unlisted(message: str, file: Path) -> Diagnostic:
    return Diagnostic(
        "RB-E094",
        message,
        Location(file=str(file)),
        "remove it, or record it as a new version: rainbow corpus init DIR --force --version NEW …",
    )
