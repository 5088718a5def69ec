"""Pure logic: ranges cut into the pieces one Put Page From URL copies, and the ranges a
newer copy replaces taken out of the target's own."""

from __future__ import annotations

from atg_dataplane_compute.volumes import CHUNK, chunks, minus

MIB = 1024 * 1024


def test_ranges_are_cut_into_chunks_of_at_most_4_mib_within_each_range() -> None:
    assert list(chunks([(0, 512), (MIB, 9 * MIB)])) == [
        (0, 512),
        (MIB, CHUNK),
        (MIB + CHUNK, CHUNK),
        (MIB + 2 * CHUNK, MIB),
    ]
    assert all(offset % 512 == 0 and length % 512 == 0 for offset, length in chunks(
        [(4096, 3 * CHUNK + 1024)]))


def test_what_the_source_changed_is_taken_out_of_the_targets_ranges() -> None:
    target = [(0, 64 * 1024), (MIB, 4 * MIB)]
    changed = [(32 * 1024, 4096), (2 * MIB, MIB), (10 * MIB, 512)]
    assert minus(target, changed) == [
        (0, 32 * 1024),
        (32 * 1024 + 4096, 32 * 1024 - 4096),
        (MIB, MIB),
        (3 * MIB, 2 * MIB),
    ]
    assert minus(target, []) == target and minus([], changed) == []
