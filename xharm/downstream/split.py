"""Spatially disjoint train/test split: whole blocks of the scene, with an optional buffer.

Neighbouring pixels of one field look alike, so a random pixel split puts near-copies of
every test pixel in the training set and overstates accuracy. :func:`block_split` cuts
the scene into a grid of blocks and gives whole blocks to the test set (seeded), then
drops training pixels within ``buffer`` pixels of a test block.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from ..exceptions import DimensionError, describe

__all__ = ["TEST", "TRAIN", "UNUSED", "block_ids", "block_split"]

UNUSED, TRAIN, TEST = 0, 1, 2
"""Values of the split mask."""


def block_ids(shape: tuple[int, int], blocks: tuple[int, int]) -> np.ndarray:
    """Row-major block index of every pixel of a ``(ny, nx)`` scene cut into ``blocks``.

    Block edges are at ``round(k * n / nb)``, so blocks differ in size by at most one pixel.

    Examples
    --------
    >>> block_ids((4, 6), (2, 3)).tolist()
    [[0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5], [3, 3, 4, 4, 5, 5]]
    """
    (ny, nx), (by, bx) = shape, blocks
    if not (1 <= by <= ny and 1 <= bx <= nx):
        raise DimensionError(
            describe(
                "more blocks than pixels along a side",
                expected=f"1 <= blocks <= {(ny, nx)} (y, x)",
                found=blocks,
                fix="use fewer blocks, e.g. blocks=(4, 4)",
            )
        )
    row = np.searchsorted(np.round(np.linspace(0, ny, by + 1))[1:], np.arange(ny), side="right")
    col = np.searchsorted(np.round(np.linspace(0, nx, bx + 1))[1:], np.arange(nx), side="right")
    return row[:, None] * bx + col[None, :]


def block_split(
    like: xr.DataArray,
    *,
    blocks: tuple[int, int] = (8, 8),
    test_fraction: float = 0.3,
    buffer: int = 1,
    seed: int = 0,
) -> xr.DataArray:
    """Assign whole blocks of a scene to training or test, seeded.

    Parameters
    ----------
    like
        Anything with ``y`` and ``x`` dims (a cube or a label raster): the scene.
    blocks
        Number of blocks along ``(y, x)``.
    test_fraction
        Share of blocks for the test set (rounded; at least one block each way).
    buffer
        Training pixels closer than or at ``buffer`` pixels (8-neighbourhood steps) to a
        test pixel become unused, so no training pixel touches a test pixel.
    seed
        Seed of the block draw.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` int8 mask: ``0`` unused (buffer), ``1`` train, ``2`` test; coordinates
        of ``like``; ``attrs``: ``blocks``, ``test_blocks``, ``buffer``, ``seed``, and
        ``block_id`` as a coordinate.

    Examples
    --------
    >>> lab = xr.DataArray(np.zeros((8, 8), "uint8"), dims=("y", "x"))
    >>> s = block_split(lab, blocks=(2, 2), test_fraction=0.25, buffer=0, seed=1)
    >>> sorted(np.unique(s.values).tolist()), int((s == 2).sum())
    ([1, 2], 16)
    """
    if "y" not in like.dims or "x" not in like.dims:
        raise DimensionError(
            describe("the scene has no y/x dims", expected="dims including 'y', 'x'", found=like.dims)
        )
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    shape = (like.sizes["y"], like.sizes["x"])
    ids = block_ids(shape, tuple(blocks))  # type: ignore[arg-type]
    n = int(blocks[0]) * int(blocks[1])
    if n < 2:
        raise DimensionError(
            describe("a split needs at least two blocks", expected=">= 2 blocks", found=blocks)
        )
    n_test = min(n - 1, max(1, round(test_fraction * n)))
    test_blocks = np.sort(np.random.default_rng(seed).permutation(n)[:n_test])
    test = np.isin(ids, test_blocks)
    mask = np.where(test, TEST, TRAIN).astype(np.int8)
    if buffer > 0:
        near = ndimage.binary_dilation(test, structure=np.ones((3, 3), bool), iterations=int(buffer))
        mask[near & ~test] = UNUSED
    coords = {k: like.coords[k] for k in ("y", "x") if k in like.coords}
    out = xr.DataArray(mask, dims=("y", "x"), coords=coords, name="split")
    out = out.assign_coords(block_id=(("y", "x"), ids.astype(np.int32)))
    out.attrs = {
        "flag_values": [UNUSED, TRAIN, TEST],
        "flag_meanings": "unused train test",
        "blocks": [int(b) for b in blocks],
        "test_blocks": test_blocks.tolist(),
        "buffer": int(buffer),
        "seed": int(seed),
    }
    return out
