"""Paired training patches from aligned multi-resolution cubes, streamed in bounded memory.

:func:`extract_pairs` cuts, for every group of a :class:`~xharm.spec.ModelSpec` (e.g.
S2 10 m + S2 20 m inputs and the L8 30 m target), patches of the same ground footprint
at a stride of half a patch (by default), drops patches whose invalid fraction (QA
masks and NaN) exceeds ``max_invalid`` on any grid, and yields batches
``{group name: float32 (N, H, W, C)}``.

* Memory: one pass of lazy mask reductions (small result: one count per half-patch
  cell), then data are read one *block* (``block`` output px square, one time step) at
  a time, plus a shuffle buffer of ``shuffle_buffer`` patches.
* Determinism: block order and the shuffle buffer draw from ``numpy`` generators seeded
  by ``(seed, epoch)``; the same arguments give the same batches.
* Split: with ``split="train"|"val"``, blocks are assigned to validation with a seeded
  draw (``val_fraction``) and only patches lying entirely inside one block are used,
  so no training patch overlaps a validation patch.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ..core.cube import validate
from ..core.grid import nest_offset
from ..exceptions import DimensionError, GridError, MissingBandError, describe
from ..spec import ModelSpec
from .tiling import TileSpec

__all__ = ["PairStream", "extract_pairs"]


def _cell_counts(bad: da.Array | np.ndarray, cell: int) -> da.Array:
    """``(T, Y, X)`` bool -> ``(T, Y // cell, X // cell)`` counts of True per cell (lazy)."""
    y, x = bad.shape[1:]
    ny, nx = y // cell, x // cell
    arr = da.asarray(bad)[:, : ny * cell, : nx * cell].astype(np.int32)
    return da.coarsen(np.sum, arr, {1: cell, 2: cell}, trim_excess=True) if ny and nx else arr[:, :0, :0]


@dataclass
class PairStream:
    """Iterable of training batches; re-iterable, deterministic. See :func:`extract_pairs`.

    Attributes
    ----------
    positions
        ``(n, 3)`` int array of ``(time index, row, col)`` patch starts in output px.
    n_rejected
        Candidate patches dropped for invalid pixels.
    """

    cubes: dict[str, xr.DataArray]
    spec: ModelSpec
    tile: TileSpec
    offsets: dict[str, tuple[int, int]]
    positions: np.ndarray
    block_of: np.ndarray
    block: int
    n_rejected: int
    batch_size: int = 16
    shuffle: bool = True
    seed: int = 0
    shuffle_buffer: int = 64
    normalize: bool = True
    drop_remainder: bool = False
    epoch: int = field(default=0)

    def __len__(self) -> int:
        n = len(self.positions)
        return n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)

    @property
    def n_patches(self) -> int:
        """Number of patches per epoch."""
        return len(self.positions)

    def iter_epoch(self, epoch: int) -> Iterator[dict[str, np.ndarray]]:
        """Batches of one epoch (the shuffle depends on ``(seed, epoch)``)."""
        rng = np.random.default_rng([self.seed, epoch])
        units = np.unique(self.block_of, axis=0) if len(self.positions) else np.zeros((0, 3), int)
        if self.shuffle:
            units = units[rng.permutation(len(units))]
        buffer: list[dict[str, np.ndarray]] = []
        batch: list[dict[str, np.ndarray]] = []
        for unit in units:
            for patch in self._load_unit(unit):
                if not self.shuffle:
                    batch.append(patch)
                else:
                    buffer.append(patch)
                    if len(buffer) >= self.shuffle_buffer:
                        batch.append(buffer.pop(int(rng.integers(len(buffer)))))
                if len(batch) == self.batch_size:
                    yield self._collate(batch)
                    batch = []
        while buffer:
            batch.append(buffer.pop(int(rng.integers(len(buffer)))))
            if len(batch) == self.batch_size:
                yield self._collate(batch)
                batch = []
        if batch and not self.drop_remainder:
            yield self._collate(batch)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self.iter_epoch(self.epoch)

    def _collate(self, items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.stack([it[k] for it in items]) for k in items[0]}

    def _load_unit(self, unit: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Read one (time, block) window of every group with one compute; cut its patches."""
        sel = np.all(self.block_of == unit, axis=1)
        pos = self.positions[sel]
        t = int(unit[0])
        r0, c0 = int(pos[:, 1].min()), int(pos[:, 2].min())
        r1, c1 = int(pos[:, 1].max()) + self.tile.patch, int(pos[:, 2].max()) + self.tile.patch
        names = [g.name for g in self.spec.groups]
        arrays = []
        for name in names:
            oy, ox = self.offsets[name]
            conv = (
                (lambda n: n)
                if name == self.spec.output.name
                else (lambda n, k=name: self.tile.to_input(k, n))
            )
            arrays.append(
                self.cubes[name].data[t, :, oy + conv(r0) : oy + conv(r1), ox + conv(c0) : ox + conv(c1)]
            )
        loaded = dask.compute(*arrays)
        out: list[dict[str, np.ndarray]] = [{} for _ in range(len(pos))]
        for name, arr in zip(names, loaded, strict=True):
            img = np.moveaxis(np.asarray(arr, dtype=np.float32), 0, -1)  # (Y, X, C)
            stats = self.spec.norm_for(name) if self.normalize else None
            if stats is not None:
                img = stats.normalize(img, axis=-1).astype(np.float32)
            img = np.nan_to_num(img, nan=0.0)
            is_out = name == self.spec.output.name
            f = (lambda n: n) if is_out else (lambda n, k=name: self.tile.to_input(k, n))
            p = f(self.tile.patch)
            for k, (_, r, c) in enumerate(pos):
                rr, cc = f(int(r) - r0), f(int(c) - c0)
                out[k][name] = np.ascontiguousarray(img[rr : rr + p, cc : cc + p])
        return out


def extract_pairs(
    cubes: Mapping[str, xr.DataArray],
    spec: ModelSpec,
    *,
    valid: Mapping[str, xr.DataArray] | None = None,
    max_invalid: float = 0.0,
    stride: int | None = None,
    batch_size: int = 16,
    shuffle: bool = True,
    seed: int = 0,
    split: Literal["train", "val"] | None = None,
    val_fraction: float = 0.2,
    block: int | None = None,
    shuffle_buffer: int = 64,
    normalize: bool = True,
    drop_remainder: bool = False,
) -> PairStream:
    """Paired patches of every group of ``spec``, as a re-iterable stream of batches.

    Parameters
    ----------
    cubes
        One canonical cube per group name of ``spec`` (inputs *and* output), on grids that
        nest in the output group's grid (e.g. S2 10 m and 20 m cubes over the L8 30 m cube
        aligned to the S2 footprint), with the same time stamps.
    spec
        Patch sizes per group (MGAN: 384 / 192 / 128 px).
    valid
        Optional boolean ``(time, y, x)`` masks per group name (True = clear; e.g. from
        SCL or QA_PIXEL). NaN pixels always count as invalid.
    max_invalid
        Largest invalid fraction of a patch on any grid that is still kept.
    stride
        Patch stride in output px (default: half a patch).
    batch_size, shuffle, seed, shuffle_buffer, drop_remainder
        Batching and deterministic shuffling (block order + a shuffle buffer).
    split, val_fraction, block
        Spatially disjoint split into blocks of ``block`` output px (default 4 patches).
    normalize
        Apply ``spec.norm`` to every group; NaN left below ``max_invalid`` becomes 0.

    Returns
    -------
    PairStream
        Iterate for ``{group: float32 (N, H, W, C)}`` batches; ``stream.iter_epoch(e)`` reshuffles.
        Building it computes the (small) per-cell invalid counts; data are read while iterating.
    """
    names = [g.name for g in spec.groups]
    missing = [n for n in names if n not in cubes]
    if missing:
        raise MissingBandError(
            describe(
                f"no cube for group(s) {', '.join(missing)} of model {spec.name!r}",
                expected=f"keys {names}",
                found=f"keys {list(cubes)}",
                fix="pass one cube per input group and one for the output (target) group",
            )
        )
    p = spec.output.patch
    tile = TileSpec.from_spec(spec, stride=p // 2 if stride is None else stride, buffer=0)
    if p % tile.stride:
        raise GridError(
            describe("patch must be a multiple of the stride", expected=f"divisor of {p}", found=stride)
        )
    block = block or 4 * p
    if block % tile.stride or block < p:
        raise GridError(describe("block must be >= patch and a multiple of the stride", found=block))
    sel, offsets = {}, {}
    out_gb = validate(cubes[spec.output.name], bands=spec.output.bands, what=f"{spec.output.name} cube")
    for g in spec.groups:
        gb = validate(cubes[g.name], bands=g.bands, what=f"{g.name} cube")
        sel[g.name] = cubes[g.name].sel(band=list(g.bands))
        f = tile.factor(g.name) if g.name != spec.output.name else 1
        offsets[g.name] = nest_offset(out_gb, gb, f, name=f"{g.name} grid")
        if sel[g.name].sizes["time"] != cubes[spec.output.name].sizes["time"]:
            raise DimensionError(
                describe(f"{g.name} has another number of time steps", found=sel[g.name].sizes)
            )
    nt, h, w = sel[spec.output.name].sizes["time"], out_gb.shape.y, out_gb.shape.x
    for g in spec.inputs:
        oy, ox = offsets[g.name]
        need = (oy + tile.to_input(g.name, h), ox + tile.to_input(g.name, w))
        have = sel[g.name].shape[2:]
        if oy < 0 or ox < 0 or need[0] > have[0] or need[1] > have[1]:
            raise GridError(
                describe(
                    f"the {g.name} cube does not cover the {spec.output.name} grid",
                    expected=f"rows/cols [{oy}, {need[0]}) x [{ox}, {need[1]})",
                    found=f"shape {tuple(have)}",
                    fix="crop the target cube to the inputs' footprint (xharm.core.grid)",
                )
            )
    # invalid counts per stride cell on every grid, in one compute
    valid = valid or {}
    s = tile.stride
    ncy, ncx = h // s, w // s
    counts = []
    for g in spec.groups:
        oy, ox = offsets[g.name]
        f = tile.factor(g.name) if g.name != spec.output.name else 1
        cell = int(f * s)
        data = da.asarray(sel[g.name].data)[:, :, oy : oy + cell * ncy, ox : ox + cell * ncx]
        bad = da.isnan(data).any(axis=1)
        if g.name in valid:
            m = valid[g.name]
            if tuple(m.dims) != ("time", "y", "x") or m.shape != (nt, *sel[g.name].shape[2:]):
                raise DimensionError(
                    describe(
                        f"valid mask of {g.name} does not match its cube",
                        expected=sel[g.name].shape,
                        found=m.shape,
                    )
                )
            bad = bad | ~da.asarray(m.data)[:, oy : oy + cell * ncy, ox : ox + cell * ncx].astype(bool)
        counts.append((_cell_counts(bad, cell), cell))
    computed = dask.compute(*[c for c, _ in counts])
    k = p // s
    frac = np.zeros((nt, max(ncy - k + 1, 0), max(ncx - k + 1, 0)))
    for cnt, (_, cell) in zip(computed, counts, strict=True):
        if frac.size:
            win = np.lib.stride_tricks.sliding_window_view(cnt, (k, k), axis=(1, 2)).sum(axis=(-1, -2))
            frac = np.maximum(frac, win / float((cell * k) ** 2))
    ts, iy, ix = np.nonzero(frac <= max_invalid)
    n_cand = frac.size
    pos = np.stack([ts, iy * s, ix * s], axis=1).astype(np.int64)
    blk = np.stack([pos[:, 0], pos[:, 1] // block, pos[:, 2] // block], axis=1)
    if split is not None:
        inside = ((pos[:, 1] % block) + p <= block) & ((pos[:, 2] % block) + p <= block)
        nby, nbx = -(-h // block), -(-w // block)
        rng = np.random.default_rng([seed, 7])
        n_val = round(val_fraction * nby * nbx)
        if 0 < val_fraction and nby * nbx > 1:
            n_val = min(max(n_val, 1), nby * nbx - 1)
        is_val = np.zeros(nby * nbx, bool)
        is_val[rng.permutation(nby * nbx)[:n_val]] = True
        in_val = is_val[blk[:, 1] * nbx + blk[:, 2]]
        keep = inside & (in_val if split == "val" else ~in_val)
        pos, blk = pos[keep], blk[keep]
    return PairStream(
        cubes=sel,
        spec=spec,
        tile=tile,
        offsets=offsets,
        positions=pos,
        block_of=blk,
        block=block,
        n_rejected=int(n_cand - len(ts)),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        shuffle_buffer=shuffle_buffer,
        normalize=normalize,
        drop_remainder=drop_remainder,
    )
