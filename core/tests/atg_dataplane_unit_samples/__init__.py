"""Plugin modules for the loader's unit tests, loaded through EntryPoint objects.

The acceptance proof uses real wheels (tests/test_packaging.py); these modules
only make the loader's logic fast to test.
"""

from __future__ import annotations

import importlib_metadata

GROUP = "atg_dataplane"


def sample_ep(
    name: str, module: str | None = None, attr: str = ""
) -> importlib_metadata.EntryPoint:
    """A bare entry point (no distribution) for the sample module ``module``."""
    value = f"{__name__}.{module or name}" + (f":{attr}" if attr else "")
    return importlib_metadata.EntryPoint(name=name, value=value, group=GROUP)
