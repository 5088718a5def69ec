"""atg-dataplane plugin for Azure virtual machines (``Microsoft.Compute/virtualMachines``):
extensions and managed data disks."""

from atg_dataplane_compute.__about__ import __version__

__all__ = ["__version__"]
