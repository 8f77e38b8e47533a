"""Rainbow's pytest plugin: the ``rainbow_runner`` fixture.

pytest loads it in every session of an environment where Rainbow is installed (the ``pytest11``
entry point), Rainbow's own included, so it imports nothing until a test asks for a fixture.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rainbow.testing import ModuleRunner


@pytest.fixture
def rainbow_runner(tmp_path: Path) -> ModuleRunner:
    """Runs modules as a worker does, with assets and workdirs in the test's temporary folder."""
    from rainbow.testing import ModuleRunner

    return ModuleRunner(tmp_path / "rainbow")
