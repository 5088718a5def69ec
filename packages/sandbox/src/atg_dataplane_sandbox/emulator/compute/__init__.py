"""Azure Compute: virtual machines, their extensions, managed disks and snapshots, and the
disk data endpoint their access SAS opens."""
