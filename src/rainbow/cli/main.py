"""``rainbow``: compile, validate, draw and run pipelines; list and show runs; serve and conduct."""

from __future__ import annotations

from rainbow.cli import (
    control_commands,
    corpus_commands,
    distributed,
    evaluate_commands,
    new_commands,
    release_commands,
    run_commands,
    spec_commands,
)
from rainbow.cli.app import app

# Importing the command modules registers their commands on the app.
COMMANDS = (
    spec_commands,
    run_commands,
    distributed,
    control_commands,
    release_commands,
    new_commands,
    corpus_commands,
    evaluate_commands,
)


def main() -> None:
    app()
