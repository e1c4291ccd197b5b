"""The stitching buffer of a patch model, from a measured seam error (issue 20).

A patch model sees only its patch: pixels near a patch edge are predicted from a cut
context (zero padding inside the network), so the engine keeps each patch's centre and
skips a *buffer* on every side (:class:`~xharm.engine.tiling.TileSpec`). The paper's 1/4
of the patch is safe but costs ``(patch / keep)^2`` patch pixels per output pixel (1/4:
4x). The buffer a model needs depends on how far its edge effects reach; a U-Net's
receptive field spans the whole patch, so it is measured rather than derived:

* :func:`seam_error` predicts the same scene with two tilings (the patch grid shifted
  by half a kept centre) and returns the max |difference| away from the image edges.
  With a buffer the model does not need, both tilings agree to float rounding; a seam
  shows up as a difference.
* :func:`choose_buffer` returns the smallest buffer whose seam error is within a
  tolerance; :meth:`xharm.spec.ModelSpec.with_seam_buffer` stores it (and the error) in
  the spec, where :attr:`~xharm.spec.ModelSpec.buffer_px` takes it up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..exceptions import ArgumentError, describe
from ..spec import ModelHandle, ModelSpec, PredictFn
from .apply import apply_model
from .tiling import TileSpec

__all__ = ["choose_buffer", "seam_error"]


def _with_buffer(spec: ModelSpec, buffer_px: int) -> ModelSpec:
    return dataclasses.replace(spec, seam_buffer=int(buffer_px), seam_error=None)


def seam_error(
    cubes: Mapping[str, xr.DataArray],
    spec: ModelSpec,
    predict: PredictFn | ModelHandle,
    buffer_px: int,
    *,
    shift: int | None = None,
    batch_size: int = 16,
) -> float:
    """Max |difference| between two tilings of ``cubes`` stitched with ``buffer_px`` output px.

    Parameters
    ----------
    cubes, spec, predict
        As for :func:`~xharm.engine.apply.apply_model` (NumPy-backed cubes: computed here).
    buffer_px
        The buffer to test (a multiple of the grid quantum, below half the output patch).
    shift
        Offset of the second tiling's patch grid, in output px (a multiple of the quantum;
        default: about half a kept centre, so its patch edges fall mid-patch of the first).
    batch_size
        Patches per model call.

    Returns
    -------
    float
        ``max |a - b|`` over output pixels at least one patch away from the image edges
        (where the two tilings see different fills), in output units (denormalized).

    Examples
    --------
    A per-pixel model needs no buffer (the cubes as in :func:`~xharm.engine.apply.apply_model`)::

        seam_error(cubes, spec, per_pixel_model, 0)  # -> 0.0
    """
    sp = _with_buffer(spec, buffer_px)
    tile = TileSpec.from_spec(sp)
    q = tile.quantum
    s = int(shift) if shift is not None else max(q, (tile.keep // 2) // q * q)
    if s <= 0 or s % q or s % tile.keep == 0:
        raise ArgumentError(
            describe(
                "the second tiling must be shifted by part of a kept centre",
                expected=f"a positive multiple of {q} that is not a multiple of {tile.keep}",
                found=s,
            )
        )
    a = apply_model(cubes, sp, predict, batch_size=batch_size)
    gbox = a.odc.geobox
    h, w = gbox.shape.y, gbox.shape.x
    m = tile.patch  # away from the image edges: both tilings see whole data there
    if h - s < 2 * m + 1 or w - s < 2 * m + 1:
        raise ArgumentError(
            describe(
                "scene too small to compare two tilings away from its edges",
                expected=f">= {2 * m + 1 + s} output px a side",
                found=(h, w),
                fix="measure on a larger scene",
            )
        )
    b = apply_model(cubes, sp, predict, geobox=gbox[s:, s:], batch_size=batch_size)
    va = np.asarray(a.values)[:, :, s:, s:][..., m:-m, m:-m]
    vb = np.asarray(b.values)[..., m:-m, m:-m]
    return float(np.nanmax(np.abs(va - vb))) if np.isfinite(va - vb).any() else float("nan")


def choose_buffer(
    cubes: Mapping[str, xr.DataArray],
    spec: ModelSpec,
    predict: PredictFn | ModelHandle,
    tolerance: float,
    *,
    candidates: Sequence[int] | None = None,
    shifts: Sequence[int | None] = (None,),
    batch_size: int = 16,
) -> ModelSpec:
    """``spec`` with the smallest stitching buffer whose :func:`seam_error` is ``<= tolerance``.

    Parameters
    ----------
    cubes, spec, predict
        A representative scene (NumPy-backed) and the model.
    tolerance
        Largest acceptable seam error, in output units (e.g. ``1e-3`` reflectance).
    candidates
        Buffers to try, output px (default: every multiple of the grid quantum below half
        the patch), smallest first.
    shifts
        Offsets of the second tiling (see :func:`seam_error`); a buffer's error is the max
        over them (a seam may hide from one offset and show at another).

    Returns
    -------
    ModelSpec
        ``spec.with_seam_buffer(buffer, error)``.

    Raises
    ------
    ArgumentError
        No candidate meets the tolerance (the message lists the errors measured).
    """
    tile = TileSpec.from_spec(spec)
    q = tile.quantum
    todo = sorted(candidates) if candidates is not None else list(range(0, (tile.patch + 1) // 2, q))
    found: list[tuple[int, float]] = []
    for b in todo:
        err = max(seam_error(cubes, spec, predict, b, shift=s, batch_size=batch_size) for s in shifts)
        found.append((b, err))
        if err <= tolerance:
            return spec.with_seam_buffer(b, err)
    raise ArgumentError(
        describe(
            f"no stitching buffer of model {spec.name!r} keeps seams within {tolerance:g}",
            expected=f"a seam error <= {tolerance:g}",
            found=", ".join(f"{b} px: {e:.3g}" for b, e in found),
            fix="raise the tolerance, or try larger buffers (candidates=...)",
        )
    )
