"""Test a module as a worker runs it: one attempt through the real invoke chain.

A module's tests call it through :func:`rainbow.sdk.invoke.invoke`, as every worker does, so a
real ``rb.Context`` is passed, input assets are synced, the outputs are checked against the
declared types and the step's timeout is enforced; a failure comes back as a result, never as
an exception of the module's::

    from rainbow.testing import load_units

    UNITS = load_units(Path("units"), segment)

    @pytest.mark.parametrize("unit", UNITS, ids=[unit.name for unit in UNITS])
    def test_segments_every_unit(rainbow_runner, unit):
        result = rainbow_runner.run_unit(segment, unit).raise_for_status()
        assert result.metrics["coverage"] > 0.5

The pytest plugin (:mod:`rainbow.testing.plugin`) provides ``rainbow_runner``, a
:class:`ModuleRunner` in the test's own temporary folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rainbow.testing.runner import (
        ModuleFailed,
        ModuleResult,
        ModuleRunner,
        WorkUnit,
        load_units,
    )

__all__ = ["ModuleFailed", "ModuleResult", "ModuleRunner", "WorkUnit", "load_units"]


def __getattr__(name: str) -> Any:
    # pytest imports this package in every session, for the plugin beside it: the runner, and
    # the worker machinery it drives, load when a test first uses them.
    if name in __all__:
        from rainbow.testing import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
