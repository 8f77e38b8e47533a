"""The public surface is curated: exactly the names DESIGN.md promises, and importing is inert."""

from __future__ import annotations

import subprocess
import sys

import rainbow as rb

DESIGN_NAMES = {"module", "pipeline", "step", "compile", "Context", "Asset"}


def test_all_lists_exactly_the_public_names() -> None:
    """__all__ holds the DESIGN.md names plus the documented exceptions and module types."""
    assert set(rb.__all__) >= DESIGN_NAMES
    assert set(rb.__all__) == {
        *DESIGN_NAMES,
        "CommandModule",
        "DiagnosticError",
        "PermanentError",
        "PipelineDef",
        "PythonModule",
        "RainbowError",
        "Retry",
        "StepTimeout",
        "Tolerance",
        "UserError",
        "command_module",
    }
    assert all(hasattr(rb, name) for name in rb.__all__)


def test_every_exception_derives_from_the_one_root() -> None:
    """All Rainbow exceptions share RainbowError as their root."""
    for name in ("DiagnosticError", "PermanentError", "Retry", "StepTimeout", "UserError"):
        assert issubclass(getattr(rb, name), rb.RainbowError)


def test_importing_rainbow_loads_no_heavy_or_global_machinery() -> None:
    """`import rainbow` configures no logging and imports neither Django nor the process pool."""
    code = (
        "import sys, logging, rainbow\n"
        "heavy = [m for m in ('django', 'rainbow.engine.pool', 'rainbow.control.models', 'cv2') "
        "if m in sys.modules]\n"
        "print(heavy, logging.getLogger().handlers)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"
