"""The one grammar of module versions: the spec's. A version the registry or the API accepted
and no spec could pin would be a version nothing can run."""

from __future__ import annotations

import re

from rainbow.spec.models import VERSION_MAX_LENGTH, VERSION_PATTERN

VERSION_RULE = (
    f"a module version is `latest`, X.Y, X.Y.Z or a branch build `branch-NAME` (at most "
    f"{VERSION_MAX_LENGTH} characters), as a pipeline pins it: `segment@1.2`"
)


def is_module_version(text: str) -> bool:
    return len(text) <= VERSION_MAX_LENGTH and re.fullmatch(VERSION_PATTERN, text) is not None
