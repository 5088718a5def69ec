"""The VHD footer a managed disk's blob ends with (fixed-size VHD, 512 bytes): the sandbox's
disks carry one, and an upload is final only when it ends with one, as in Azure."""

from __future__ import annotations

FOOTER = 512
COOKIE = b"conectix"


def footer(size: int) -> bytes:
    """A fixed-disk footer for a disk of ``size`` bytes (cookie, features, version, no
    data offset, sizes, disk type 2: fixed)."""
    head = COOKIE + (2).to_bytes(4, "big") + (0x10000).to_bytes(4, "big")
    head += (2**64 - 1).to_bytes(8, "big") + bytes(8) + b"atg " + bytes(8)
    head += size.to_bytes(8, "big") + size.to_bytes(8, "big") + bytes(4) + (2).to_bytes(4, "big")
    return head.ljust(FOOTER, b"\0")
