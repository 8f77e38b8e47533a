"""Diagnostics: every problem a check finds, with a stable id, a location and a hint.

Checks return lists of :class:`Diagnostic` instead of raising on the first problem, so a user
fixes a spec in one round. The ids are stable and documented in ``docs/diagnostics.md``; a test
keeps that page and :data:`CATALOG` in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

CATALOG: dict[str, str] = {
    "RB-E001": "the spec file is not valid JSON",
    "RB-E002": "the spec does not match the pipeline spec JSON Schema",
    "RB-E003": "the spec was written by a newer Rainbow (unknown schema version)",
    "RB-E004": "spec_hash does not match the spec's content (hand-edited spec)",
    "RB-E005": "the spec has more steps or bytes than the limits allow",
    "RB-E006": "the spec holds a value the store cannot hold (NUL, bad UTF-8, NaN, deep nesting)",
    "RB-E010": "a step reads an output its source step does not have",
    "RB-E011": "a step reads from a step id that does not exist",
    "RB-E012": "a step reads a pipeline input that does not exist",
    "RB-E013": "the steps form a cycle",
    "RB-E014": "a required module input is not wired",
    "RB-E015": "a step passes an input its module does not declare",
    "RB-E016": "the type of a wired value does not match the module input's type",
    "RB-E017": "the module is not known (not imported, not in --modules, not registered)",
    "RB-E018": "two steps share one id",
    "RB-E019": "a module reference is not pinned as name@version",
    "RB-E020": "a pipeline output names a step output that does not exist",
    "RB-E021": "a pipeline function did not return a dict of outputs",
    "RB-E022": "a value passed to rb.step() cannot be stored in a JSON spec",
    "RB-E023": "rb.step() was called outside a pipeline being compiled",
    "RB-E024": "a step option (id, retries, timeout) is not valid",
    "RB-E030": "a pipeline file or module file could not be loaded",
    "RB-E031": "no pipeline found, or several and none chosen with FILE.py:FUNC",
    "RB-E032": "a module declaration is invalid (decorator arguments or type hints)",
    "RB-E033": "a command module's config file is invalid",
    "RB-E040": "a work unit file is invalid or misses a pipeline input",
    "RB-E041": "an input asset cannot be read",
    "RB-E042": "a pinned module version is not the local code (--strict-versions)",
    "RB-E043": "a module's outputs are larger than RAINBOW_MAX_OUTPUT_BYTES",
    "RB-E044": "a module's output holds a value the run store cannot hold",
    "RB-E045": "the assets store refused an output (full, read-only or not writable)",
    "RB-E046": "an input asset is outside what the control plane may read",
    "RB-E050": "the run id does not exist in the store",
    "RB-E051": "the run store cannot be opened",
    "RB-E060": "the module project is not a git repository with a commit, or git failed",
    "RB-E061": "the working tree has changes not committed",
    "RB-E062": "a tag at HEAD is not a release version X.Y, or HEAD carries several",
    "RB-E063": "HEAD is detached and carries no X.Y tag",
    "RB-E064": "a release-X.Y branch has no tag X.Y, or does not contain it",
    "RB-E065": "the module project cannot be released as it is",
    "RB-E066": "building the module's artifact failed",
    "RB-E067": "the artifact store or the build tools cannot be used",
    "RB-E068": "a release tag names a version already released from another commit",
    "RB-E069": "a hot fix would break its version's interface",
    "RB-E070": "the name cannot name a module project",
    "RB-E071": "the folder for a new module project exists and is not empty",
    "RB-E072": "the folder is not a module project made by `rainbow new module`",
    "RB-E073": "the module project is not in git, or has uncommitted changes",
    "RB-E074": "a template upgrade conflicts with changes made in the project",
    "RB-E075": "the module project was made by a newer template than this Rainbow ships",
    "RB-E080": "a module version is not released, or not written NAME@VERSION",
    "RB-E081": "local code may not serve a released version it is not the commit of",
    "RB-E082": "a module version is retired",
    "RB-E083": "nothing can be released into this module version",
    "RB-E084": "a module's declared files are invalid, unreachable or not their hash",
    "RB-E085": "a pinned version is released, but its build cannot run here",
    "RB-E090": "a corpus manifest (corpus.toml) cannot be read, or is not a corpus manifest",
    "RB-E091": "a corpus's name, version, licence (SPDX) or allowed use is not valid",
    "RB-E092": "a corpus unit or file is not allowed where it is (name, path, folder)",
    "RB-E093": "a corpus file is missing, or is not the content its hash says",
    "RB-E094": "a corpus folder holds a unit or file its manifest does not list",
    "RB-E095": "the corpus cannot be opened: no folder, no units, or a URL without a manifest",
    "RB-E096": "the corpus folder has a manifest already",
    "RB-E097": "a corpus version is registered already with other content or terms",
    "RB-E098": "a tolerance is set for a metric neither the baseline nor the evaluation has",
    "RB-E099": "the baseline was measured on another corpus, or another version of it",
    "RB-E100": "there is no baseline to compare an evaluation with",
    "RB-E101": "a baseline is recorded only from an evaluation on the main branch",
    "RB-E102": "a baseline file is missing, unreadable or not a baseline",
    "RB-E103": "the module to evaluate is not here",
    "RB-E104": "an --override is not NAME=SOURCE, or names a module the pipeline does not use",
    "RB-E105": "the code an --override points at does not define the module",
    "RB-E106": "an evaluation with a module swapped cannot record the baseline",
    "RB-E110": "a request to the control plane carries more items than one request may",
    "RB-E111": "a submission in pages stopped partway: the pages before it were submitted",
    "RB-E112": "a work unit is too big for one request to the control plane",
    "RB-W001": "a reference could not be checked because the module's outputs are not declared",
    "RB-W002": "a module's interface is unknown, so its wiring could not be checked",
}


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file and line (DSL), or a JSON path into a spec file."""

    file: str | None = None
    line: int | None = None
    json_path: str | None = None

    def render(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.json_path:
            parts.append(self.json_path)
        return " at ".join(parts) if parts else "<unknown location>"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found by a check."""

    code: str
    message: str
    location: Location = Location()
    hint: str | None = None

    def __post_init__(self) -> None:
        if self.code not in CATALOG:
            raise ValueError(f"diagnostic code {self.code} is not in the catalog")

    @property
    def severity(self) -> Severity:
        return "warning" if self.code.startswith("RB-W") else "error"

    def render(self) -> str:
        text = f"{self.location.render()}: {self.severity} {self.code}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.location.file,
            "line": self.location.line,
            "json_path": self.location.json_path,
            "hint": self.hint,
        }


def errors_in(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]
