"""What a module may return: JSON values the run store can hold, small enough to travel inline.

Outputs travel inline, through the broker or the local pool's pipe, and are stored with their
step and again with the run; a value of tens of megabytes costs hundreds in memory on the way
and makes every view of the run slow. So outputs are capped (``RAINBOW_MAX_OUTPUT_BYTES``) and
large data goes by reference, as an :class:`~rainbow.spec.asset.Asset`. Every check here fails
the attempt for good: the same code given the same input returns the same value.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

from rainbow.errors import RainbowError
from rainbow.spec.asset import Asset
from rainbow.storable import MAX_JSON_DEPTH, json_size, unstorable


class OutputError(RainbowError):
    """A module returned an output that cannot be published; the same code will do it again."""


def check_outputs_storable(outputs: Mapping[str, Any], module: str, max_bytes: int) -> None:
    """Raise :class:`OutputError` unless every output is JSON (or an asset), the whole fits in
    ``max_bytes`` and the store can hold each value."""
    wire = {n: v.to_json() if isinstance(v, Asset) else v for n, v in outputs.items()}
    problem = outputs_problem(wire, module, max_bytes)
    if problem is not None:
        raise OutputError(problem)


def outputs_problem(wire: Mapping[str, Any], module: str, max_bytes: int) -> str | None:
    """Why outputs as they travel (assets as references) cannot be recorded, or None: what the
    worker checks before publishing, and what the executors check again on every result."""
    try:
        total = json_size(wire)
    except (TypeError, ValueError, RecursionError):
        return _not_json(wire, module)
    if total > max_bytes:
        largest = max(wire, key=lambda name: json_size(wire[name]))
        return (
            f"the outputs of module {module!r} are {total:,} bytes of JSON ({largest!r} alone "
            f"{json_size(wire[largest]):,}), over the limit of {max_bytes:,} "
            "(RAINBOW_MAX_OUTPUT_BYTES, RB-E043); write large data to a file and return it as "
            "an asset output instead (an rb.Asset from ctx.new_asset(), or from a command "
            "module a path in its workdir)"
        )
    # After the size check, so a hostile value costs at most the limit to walk.
    problem = unstorable(wire, "outputs")
    if problem is not None:
        return (
            f"module {module!r} returned a value the run store cannot hold: {problem} "
            "(RB-E044); clean the text before returning it, or return binary data as an rb.Asset"
        )
    return None


def _not_json(wire: Mapping[str, Any], module: str) -> str:
    for name, value in wire.items():
        try:
            json_size(value)
        except (TypeError, ValueError):
            return (
                f"output {name!r} of module {module!r} ({type(value).__name__} "
                f"{reprlib.repr(value)}) is not JSON; return str, finite numbers, bool, lists, "
                "dicts or rb.Asset"
            )
        except RecursionError:
            return (
                f"output {name!r} of module {module!r} is nested too deeply to encode (RB-E044); "
                f"the store holds at most {MAX_JSON_DEPTH} levels"
            )
    return f"module {module!r} returned output names that are not text: {reprlib.repr(list(wire))}"
