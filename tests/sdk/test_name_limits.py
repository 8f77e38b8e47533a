"""Module names and port names longer than the registry stores are declaration errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import rainbow as rb


def test_a_module_name_longer_than_its_column_is_refused_where_it_is_declared() -> None:
    """@rb.module(name=<201 characters>) is RB-E032 with the limit in the hint."""
    with pytest.raises(rb.DiagnosticError) as caught:

        @rb.module(name="m" * 201)
        def long_named(ctx: rb.Context) -> None:
            raise NotImplementedError

    (problem,) = caught.value.diagnostics
    assert problem.code == "RB-E032" and "at most 200 characters" in (problem.hint or "")


def test_a_command_modules_long_names_are_config_errors(tmp_path: Path) -> None:
    """A command module whose name or input name is longer than 200 characters is RB-E033
    naming each field, not a pydantic traceback."""
    config = tmp_path / "m.toml"
    long = "n" * 201
    config.write_text(f'[module]\nname = "{long}"\ncommand = ["true"]\n[inputs]\n{long} = "any"\n')
    with pytest.raises(rb.DiagnosticError) as caught:
        rb.command_module(config)
    messages = [d.message for d in caught.value.diagnostics]
    assert {d.code for d in caught.value.diagnostics} == {"RB-E033"}
    assert any(m.startswith("module.name") and "200" in m for m in messages), messages
    assert any(m.startswith("inputs") and "200" in m for m in messages), messages
