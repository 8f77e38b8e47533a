"""Run inside a version's environment: print the interfaces of its installed modules as JSON.

``rainbow release`` asks the artifact it just built for the interface it records, so what the
registry says a version accepts is what that exact build declares, imported where it will run.
"""

from __future__ import annotations

import json
import sys

from rainbow.errors import UserError
from rainbow.sdk.catalog import installed_modules


def main(names: list[str]) -> int:
    try:
        found = installed_modules(names)
    except UserError as exc:
        print(json.dumps({"error": exc.message, "hint": exc.hint or ""}))
        return 2
    missing = sorted(set(names) - set(found))
    if missing:
        print(json.dumps({"error": f"not installed: {', '.join(missing)}", "hint": ""}))
        return 2
    interfaces = {n: found[n].rainbow_interface.model_dump(mode="json") for n in names}
    print(json.dumps({"interfaces": interfaces}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
