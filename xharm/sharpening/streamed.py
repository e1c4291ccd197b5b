"""The classical sharpening cores of :mod:`xharm.sharpening.classic`, chunk by chunk with Dask.

A date is never whole in memory: a *fit* pass adds up per-block sums (the fill values and
the regression's normal equations) into one small ``(C, 2 G + 2)`` fit per date,
and an *apply* pass computes every output block from its input block with a halo
(:func:`~xharm.sharpening.mtf.halo` coarse pixels for the MTF blur, plus
:data:`~xharm.sharpening.mtf.SPLINE_HALO` for the cubic spline). The blur is exact on a
block with its halo; the spline's prefilter reaches infinitely far but its weight falls
by 0.268 per coarse pixel, so chunked and whole-image results agree to ~1e-9 of the
residual (float32 output: to rounding). Blocks and halos: :mod:`xharm.core.blocks`.

Arrays are Dask ``(time, band, y, x)``; no xarray here (:mod:`xharm.sharpening.api` wraps
the results in cubes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dask.array as da
import numpy as np

from ..core.blocks import halo_sides, merge_small, overlap
from .classic import FIT_TERMS, apply_fit, block_sums, solve, sums_size
from .mtf import DEFAULT_MTF, SPLINE_HALO, halo, inverse_halo, project_consistent

__all__ = ["DEFAULT_CHUNK", "align", "apply", "fit", "project"]

DEFAULT_CHUNK = 1024  # 10 m px per block side


def align(
    coarse: da.Array, guide: da.Array | None, scale: int, chunk: int = DEFAULT_CHUNK, *, least: int = 0
) -> tuple[da.Array, da.Array | None]:
    """Rechunk to one date per block, whole bands, about ``chunk`` 10 m px per side (whole coarse px).

    ``guide``: any array on the 10 m grid (the guide bands, a sharpened cube). A last block
    smaller than the halo of the pass to come (``least`` coarse px; default the apply
    pass's) joins its neighbour: an overlap must not reach past the next block.
    """
    least = least or halo(scale) + SPLINE_HALO
    per = max(least, chunk // scale)
    cy = _sizes(coarse.shape[2], per, least)
    cx = _sizes(coarse.shape[3], per, least)
    coarse = coarse.rechunk(((1,) * coarse.shape[0], (coarse.shape[1],), cy, cx))
    if guide is not None:
        sy, sx = tuple(c * scale for c in cy), tuple(c * scale for c in cx)
        guide = guide.rechunk(((1,) * guide.shape[0], (guide.shape[1],), sy, sx))
    return coarse, guide


def _sizes(n: int, chunk: int, least: int) -> tuple[int, ...]:
    """``n`` px in blocks of ``chunk``, a last block shorter than ``least`` merged into its neighbour."""
    return merge_small((chunk,) * (n // chunk) + ((n % chunk,) if n % chunk else ()), least)


def fit(coarse: da.Array, guide: da.Array | None, scale: int, *, mtf: float = DEFAULT_MTF) -> da.Array:
    """Each date's fit ``(time, band, len(FIT_TERMS))`` float64, lazily; ``guide`` None: bicubic's.

    Inputs as :func:`align` returns them. One pass: every block (the guide with a halo of
    ``halo(scale)`` coarse px) gives its sums (:func:`~xharm.sharpening.classic.block_sums`:
    fill values and the regression's normal equations, not centred, so no block waits for
    another pass), the sums add up per date, and :func:`~xharm.sharpening.classic.solve`
    turns them into the fit. Each input chunk is read once and let go.
    """
    c = coarse.shape[1]
    arrays = [(coarse, 0)] + ([(guide, halo(scale) * scale)] if guide is not None else [])
    sums = _with_halo(
        _sums_block,
        arrays,
        [],
        pad=halo(scale) if guide is not None else 0,
        chunks=(
            coarse.chunks[0],
            (1,),
            (1,) * coarse.numblocks[2],
            (1,) * coarse.numblocks[3],
            (sums_size(c),),
        ),
        new_axis=4,
        scale=scale,
        mtf=mtf,
    ).sum(axis=(1, 2, 3))  # (T, sums)
    return sums.map_blocks(
        _solve_block, c, dtype=np.float64, chunks=(sums.chunks[0], (c,), (len(FIT_TERMS),)), new_axis=2
    )


def apply(
    coarse: da.Array,
    guide: da.Array | None,
    fits: da.Array | np.ndarray,
    scale: int,
    *,
    mtf: float = DEFAULT_MTF,
) -> da.Array:
    """The sharpened ``(time, band, H, W)`` float32 from :func:`fit`'s fits, block by block.

    Inputs as :func:`align` returns them; output blocks are the coarse blocks times ``scale``.
    """
    depth = halo(scale) + SPLINE_HALO
    arrays = [(coarse, depth)] + ([(guide, depth * scale)] if guide is not None else [])
    f = da.asarray(fits).rechunk({0: 1, 1: -1, 2: -1})
    return _with_halo(
        _apply_block,
        arrays,
        [f[:, :, None, :]],
        pad=depth,
        chunks=(
            coarse.chunks[0],
            coarse.chunks[1],
            *(tuple(c * scale for c in ch) for ch in coarse.chunks[2:]),
        ),
        scale=scale,
        guided=guide is not None,
        mtf=mtf,
    )


def project(fine: da.Array, coarse: da.Array, scale: int, *, mtf: float = DEFAULT_MTF) -> da.Array:
    """:func:`~xharm.sharpening.mtf.project_consistent` block by block (halo: ``inverse_halo``).

    ``fine`` ``(time, band, H, W)`` and its observed ``coarse`` bands, as :func:`align` returns
    them with ``least=inverse_halo(scale)``; float32 out, the blocks of ``fine``.
    """
    depth = inverse_halo(scale, mtf)
    return _with_halo(
        _project_block,
        [(coarse, depth), (fine, depth * scale)],
        [],
        pad=depth,
        chunks=fine.chunks,
        scale=scale,
        mtf=mtf,
    )


def _with_halo(
    func: Callable[..., np.ndarray],
    arrays: list[tuple[da.Array, int]],
    small: list[da.Array],
    *,
    pad: int,
    chunks: tuple[tuple[int, ...], ...],
    new_axis: int | None = None,
    **kwargs: Any,
) -> da.Array:
    """``func(*halo_blocks, *small_blocks, pads=..., **kwargs)`` per block.

    ``arrays`` are ``(array, depth)`` pairs, the depth in that array's pixels (0: the block
    alone); ``pad`` is the halo in coarse pixels. Image borders get no halo: ``pads`` (top,
    bottom, left, right) is 0 there and ``pad`` elsewhere.
    """
    ov = [overlap(a, {2: d, 3: d}) for a, d in arrays]

    def block(*blocks: np.ndarray, block_info: dict[Any, Any] | None = None) -> np.ndarray:
        (top, bottom), (left, right) = halo_sides(block_info or {}, {2: pad, 3: pad}).values()
        out = func(*blocks, pads=(top, bottom, left, right), **kwargs)
        return out if new_axis is None else out[:, :, None, None, :]

    dtype = np.float32 if new_axis is None else np.float64
    return da.map_blocks(
        block,
        *ov,
        *small,
        chunks=chunks,
        new_axis=new_axis,
        dtype=dtype,
        meta=np.empty((0,) * len(chunks), dtype),
    )


def _sums_block(*blocks: np.ndarray, pads: tuple[int, int, int, int], scale: int, mtf: float) -> np.ndarray:
    coarse, guide = blocks[0], (blocks[1] if len(blocks) > 1 else None)
    return block_sums(coarse[0], None if guide is None else guide[0], scale, mtf=mtf, pads=pads)[None, None]


def _solve_block(sums: np.ndarray, c: int) -> np.ndarray:
    return np.stack([solve(s, c) for s in sums])


def _project_block(
    coarse: np.ndarray, fine: np.ndarray, *, pads: tuple[int, int, int, int], scale: int, mtf: float
) -> np.ndarray:
    return project_consistent(fine, coarse, scale, mtf=mtf, pads=pads).astype(np.float32)


def _apply_block(
    *blocks: np.ndarray, pads: tuple[int, int, int, int], scale: int, guided: bool, mtf: float
) -> np.ndarray:
    coarse, guide, fits = (blocks[0], blocks[1], blocks[2]) if guided else (blocks[0], None, blocks[1])
    return apply_fit(
        coarse[0], None if guide is None else guide[0], fits[0, :, 0, :], scale, mtf=mtf, pads=pads
    )[None]
