"""Blocks with a halo: the chunk arithmetic shared by every blockwise kernel that reads its neighbours.

A kernel that needs ``depth`` pixels of its neighbours gets them with :func:`overlap`
(nothing is added at the image's borders, whose blocks are shorter) after
:func:`merge_small` made every block at least ``depth`` long, and learns inside the block
which sides carry a halo from :func:`halo_sides`. Used by the metrics' windowed sums
(:mod:`xharm.metrics`) and the streamed sharpening (:mod:`xharm.sharpening.streamed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["halo_sides", "merge_small", "overlap"]


def merge_small(chunks: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """Merge chunks smaller than ``depth`` into a neighbour, so that a halo of ``depth`` fits.

    Examples
    --------
    >>> merge_small((5, 2, 7, 1), 3)
    (5, 10)
    >>> merge_small((64, 64, 64, 8), 18)
    (64, 64, 72)
    """
    out: list[int] = []
    for c in chunks:
        if out and out[-1] < depth:
            out[-1] += c
        else:
            out.append(c)
    if len(out) > 1 and out[-1] < depth:
        last = out.pop()
        out[-1] += last
    return tuple(out)


def overlap(a: Any, depths: Mapping[int, int]) -> Any:
    """Dask array ``a`` with ``depths[axis]`` pixels of its neighbours around each block.

    No halo along an axis of one block, none beyond the image's borders (``boundary="none"``);
    chunks must already be at least the depth (:func:`merge_small`).
    """
    import dask.array as da

    depths = {ax: d if a.numblocks[ax] > 1 else 0 for ax, d in depths.items()}
    if not any(depths.values()):
        return a
    return da.overlap.overlap(a, depth=depths, boundary="none", allow_rechunk=False)


def halo_sides(block_info: Mapping[Any, Any], depths: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """Per axis, the halo ``(before, after)`` a block received from :func:`overlap` (0 at a border).

    ``block_info`` is Dask's ``map_blocks`` argument; its first array sets the block's place.
    """
    loc, num = block_info[0]["chunk-location"], block_info[0]["num-chunks"]
    return {ax: (d if loc[ax] > 0 else 0, d if loc[ax] < num[ax] - 1 else 0) for ax, d in depths.items()}
