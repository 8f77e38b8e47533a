"""Import user code (pipeline and module files) by path or import path, with readable failures."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from rainbow.errors import ModuleLoadError
from rainbow.tracebacks import user_location, user_traceback


def import_target(target: str) -> ModuleType:
    """Import ``target``: a ``.py`` file path or a dotted import path."""
    if target.endswith(".py") or "/" in target or Path(target).exists():
        return import_file(Path(target))
    _ensure_cwd_on_path()
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and target.startswith(exc.name):
            raise ModuleLoadError(
                f"cannot import {target!r}: no module named {exc.name!r}",
                hint="give a .py file path, or an import path importable from the current folder",
            ) from None
        raise _load_error(target, exc) from None
    except Exception as exc:
        raise _load_error(target, exc) from None


def import_file(path: Path) -> ModuleType:
    """Import a Python file; inside a package under the current folder, by its dotted name."""
    path = path.absolute()
    if not path.is_file():
        raise ModuleLoadError(
            f"file not found: {path}", hint="check the path and the current folder"
        )
    dotted = _dotted_name(path)
    try:
        if dotted is not None:
            _ensure_cwd_on_path()
            return importlib.import_module(dotted)
        return _import_loose_file(path)
    except ModuleLoadError:
        raise
    except Exception as exc:
        raise _load_error(str(path), exc) from None


def _import_loose_file(path: Path) -> ModuleType:
    """A file outside any package under the current folder: imported under a stable private name,
    with its folder on sys.path so that its own imports of neighbouring files work."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"rainbow_user_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModuleLoadError(f"{path} is not a Python file", hint="give a .py file")
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # A half-executed module must not be found by the next import attempt.
        del sys.modules[name]
        raise
    return module


def _ensure_cwd_on_path() -> None:
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def _dotted_name(path: Path) -> str | None:
    """``examples/room_scan/pipeline.py`` → ``examples.room_scan.pipeline`` when it is a package."""
    try:
        relative = path.relative_to(Path.cwd())
    except ValueError:
        return None
    parts = list(relative.with_suffix("").parts)
    folder = Path.cwd()
    for part in parts[:-1]:
        folder = folder / part
        if not (folder / "__init__.py").is_file():
            return None
    return ".".join(parts) if all(p.isidentifier() for p in parts) else None


def _load_error(target: str, exc: BaseException) -> ModuleLoadError:
    hint = "the error is in your code; the traceback above shows where"
    if isinstance(exc, ModuleNotFoundError):
        hint = (
            f"{target} imports {exc.name!r}, which Python cannot find from here: run from the "
            "project's folder, put that folder on PYTHONPATH, or pass an import path"
        )
    return ModuleLoadError(
        f"importing {target} failed: {type(exc).__name__}: {exc}{user_location(exc)}",
        hint=hint,
        user_traceback=user_traceback(exc),
    )
