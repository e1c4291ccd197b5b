"""The fail-safe rules of a physics-anchored model's output, shared by every anchored product.

A physics-anchored model (``ModelSpec.anchored``) outputs its physical baseline plus a
bounded learned correction. :func:`quality_flag` guards that output and marks, per pixel,
where the correction is limited (bit 1) or where the input is unlike the training data and
the physics part is returned instead (bit 2). Lazy: Dask in, Dask out.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..spec import ModelSpec

__all__ = ["quality_flag"]


def quality_flag(
    out: xr.DataArray, physics: xr.DataArray, spec: ModelSpec
) -> tuple[xr.DataArray, xr.DataArray]:
    """The fail-safe rules of a physics-anchored model's output: ``(guarded output, quality)``, lazily.

    ``physics`` is the model's physical baseline on the output grid (``method="hls_psf"`` for
    :func:`xharm.to_landsat`, ``method="hpf"`` for :func:`xharm.sharpen`), ``spec`` the
    model's :class:`~xharm.spec.ModelSpec` (its ``domain`` gives the bound and ranges).

    - The correction never turns a non-negative physical reflectance negative: such values
      are set to 0 (bit 1).
    - Bit 1 also marks ``|out - physics| >= 0.98 * bound`` in any band (the correction
      saturates at ``spec.domain["correction_bound"]``).
    - Where the physical baseline lies outside the training range of a band (the clip
      percentiles of the training stats, ``spec.domain["reflectance_range"]``) by more
      than 5 % of that range, the output is the physics part itself (bit 2): the learned
      correction is not applied to inputs unlike its training data.

    See :data:`xharm.pipeline.QUALITY_NOTE` for what the bits mean to a user.
    """
    dom = spec.domain
    bound = float(dom.get("correction_bound", np.inf))
    below = (out < 0) & (physics >= 0)
    out = out.where(~below, 0.0)
    limited = (abs(out - physics) >= 0.98 * bound) | below
    flag = limited.any("band").astype("uint8")
    ranges = dom.get("reflectance_range") or {}
    bands = [b for b in (str(v) for v in physics["band"].values) if b in ranges]
    if bands:
        lo = xr.DataArray([ranges[b][0] for b in bands], dims="band", coords={"band": bands})
        hi = xr.DataArray([ranges[b][1] for b in bands], dims="band", coords={"band": bands})
        pad = 0.05 * (hi - lo)
        p = physics.sel(band=bands)
        outside = ((p < lo - pad) | (p > hi + pad)).any("band")
        out = out.where(~outside, physics.where(out.notnull()))
        flag = flag | (outside.astype("uint8") * np.uint8(2))
    flag = flag.drop_vars([c for c in flag.coords if c not in ("time", "y", "x")])
    flag.attrs = {"flag_masks": [1, 2], "flag_meanings": "correction_limited outside_training_range"}
    return out, flag
