"""Blocks with a halo: chunk merging, the overlap, and which sides of a block carry a halo."""

from __future__ import annotations

import dask.array as da
import numpy as np

from xharm.core.blocks import halo_sides, merge_small, overlap


def test_small_chunks_merge_into_a_neighbour():
    assert merge_small((5, 2, 7, 1), 3) == (5, 10)
    assert merge_small((10,), 30) == (10,)  # one chunk: nothing to merge with
    assert all(c >= 18 for c in merge_small((64, 64, 64, 8), 18))


def test_each_block_gets_its_neighbours_and_knows_where():
    a = da.from_array(np.arange(12 * 10, dtype=float).reshape(12, 10), chunks=(4, 10))
    ov = overlap(a, {0: 2, 1: 2})  # axis 1 is one block: no halo there
    assert ov.chunks == ((6, 8, 6), (10,))

    def core(block: np.ndarray, block_info=None) -> np.ndarray:
        (top, bottom), (left, right) = halo_sides(block_info, {0: 2, 1: 0}).values()
        return block[top : block.shape[0] - bottom, left : block.shape[1] - right]

    np.testing.assert_array_equal(ov.map_blocks(core, chunks=a.chunks, dtype=float).compute(), a.compute())
    assert overlap(a[:4], {0: 2}).chunks == ((4,), (10,))  # one block: returned as it is
