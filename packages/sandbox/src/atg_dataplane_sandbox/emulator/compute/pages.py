"""The bytes of managed disks and snapshots: one sparse file per volume, and the ranges
written so far (512-byte pages, as page blobs count them).

A volume is a disk or a snapshot. Reads of unwritten pages return zeros; clearing pages
zeroes them and drops them from the ranges. A snapshot starts as a copy of its disk's
written ranges. The difference between two volumes is computed page by page: what the
newer one holds that differs from the older (written) and what the older held that the
newer no longer does (cleared), as Get Page Ranges Diff reports it.
"""

from __future__ import annotations

from pathlib import Path

PAGE = 512
Range = tuple[int, int]
"""``(start, end)``: byte offsets, ``end`` inclusive, as page ranges are written."""


def merge(ranges: list[Range]) -> list[Range]:
    """Sorted, with touching and overlapping ranges joined."""
    out: list[Range] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(ranges: list[Range], cut: Range) -> list[Range]:
    out: list[Range] = []
    for start, end in ranges:
        if end < cut[0] or start > cut[1]:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0] - 1))
        if end > cut[1]:
            out.append((cut[1] + 1, end))
    return out


def clip(ranges: list[Range], window: Range) -> list[Range]:
    return [
        (max(start, window[0]), min(end, window[1]))
        for start, end in ranges
        if end >= window[0] and start <= window[1]
    ]


class Volume:
    """One disk's or snapshot's bytes (``path``) and written ranges (kept by the caller in
    the store, so they survive a restart)."""

    def __init__(self, path: Path, size: int, ranges: list[list[int]]) -> None:
        self.path = path
        self.size = size
        self.ranges: list[Range] = [(int(a), int(b)) for a, b in ranges]
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            with open(path, "wb") as handle:
                handle.truncate(size)  # sparse: nothing allocated until written

    def stored(self) -> list[list[int]]:
        return [[a, b] for a, b in self.ranges]

    def check(self, window: Range) -> None:
        start, end = window
        if start % PAGE or (end + 1) % PAGE or start < 0 or end >= self.size or end < start:
            raise ValueError(
                f"the range {start}-{end} is not whole 512-byte pages inside {self.size} bytes"
            )

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self.size - 1)
        if end < start:
            return b""
        with open(self.path, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start + 1)

    def write(self, start: int, data: bytes) -> None:
        self.check((start, start + len(data) - 1))
        with open(self.path, "r+b") as handle:
            handle.seek(start)
            handle.write(data)
        self.ranges = merge([*self.ranges, (start, start + len(data) - 1)])

    def clear(self, start: int, end: int) -> None:
        self.check((start, end))
        with open(self.path, "r+b") as handle:
            handle.seek(start)
            handle.write(bytes(end - start + 1))
        self.ranges = subtract(self.ranges, (start, end))

    def copy_to(self, path: Path) -> Volume:
        """A new volume with this one's written ranges (a snapshot of a disk)."""
        other = Volume(path, self.size, [])
        for start, end in self.ranges:
            other.write(start, self.read(start, end))
        return other

    def diff(self, older: Volume) -> tuple[list[Range], list[Range]]:
        """``(written, cleared)``: pages that differ from ``older``."""
        written: list[Range] = []
        cleared: list[Range] = []
        mine = set(_pages(self.ranges))
        theirs = set(_pages(older.ranges))
        for page in sorted(mine | theirs):
            end = page + PAGE - 1
            if page not in mine:
                cleared.append((page, end))
            elif page not in theirs or self.read(page, end) != older.read(page, end):
                written.append((page, end))
        return merge(written), merge(cleared)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def _pages(ranges: list[Range]) -> list[int]:
    return [page for start, end in ranges for page in range(start, end + 1, PAGE)]

