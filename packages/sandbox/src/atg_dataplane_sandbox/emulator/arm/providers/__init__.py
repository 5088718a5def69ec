"""Resource providers; importing this package registers every built-in one."""

from atg_dataplane_sandbox.emulator.arm.providers import (  # noqa: F401
    containerregistry,
    documentdb,
    keyvault,
    storage,
)
