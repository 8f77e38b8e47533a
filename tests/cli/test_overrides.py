"""--override NAME=SOURCE: a version runs its pin's build (checked against the registry's
interface), never the code at hand; misuse is refused with an id."""

from __future__ import annotations

import pytest

from rainbow.cli.targets import Loaded, with_overrides
from rainbow.dsl.compiler import compile_pipeline
from rainbow.errors import UserError
from rainbow.sdk.catalog import modules_in
from rainbow.spec.models import ModuleInterface
from tests.engine import modules_for_tests


def loaded() -> Loaded:
    spec, _ = compile_pipeline(modules_for_tests.single)
    return Loaded(spec, modules_in(vars(modules_for_tests), depth=0), [])


def test_a_version_override_repins_the_steps_and_drops_the_local_code() -> None:
    asked: list[tuple[str, str]] = []

    def registered(name: str, version: str) -> ModuleInterface | None:
        asked.append((name, version))
        return modules_for_tests.add.rainbow_interface

    before = loaded()
    after, (swap,) = with_overrides(before, ["add=add@1.3"], registered=registered)
    assert {(s.module, s.version) for s in after.spec.steps} == {("add", "1.3")}
    assert "add" not in after.modules  # the engine runs add@1.3's build
    assert ("add", "1.3") in asked
    assert after.spec.spec_hash != before.spec.spec_hash
    assert (swap.module, swap.source, swap.local) == ("add", "1.3", False)


@pytest.mark.parametrize(
    ("override", "code", "said"),
    [
        ("blur=blur@1.0", "RB-E104", "its modules are add"),
        ("add", "RB-E104", "is not NAME=SOURCE"),
        ("add=tests.engine.no_such_file", "RB-E030", "tests.engine.no_such_file"),
        ("add=tests.control.input_modules", "RB-E105", "no module 'add' there"),
    ],
)
def test_misuse_is_refused_saying_what_to_do(override: str, code: str, said: str) -> None:
    with pytest.raises(UserError) as refused:
        with_overrides(loaded(), [override], registered=None)
    assert refused.value.code == code
    assert said in f"{refused.value.message} {refused.value.hint}"
