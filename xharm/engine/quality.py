"""The fail-safe rules of a physics-anchored model's output, shared by every anchored product.

A physics-anchored model (``ModelSpec.anchored``) outputs its physical baseline plus a
bounded learned correction. :func:`quality_flag` guards that output and marks, per pixel,
where the correction is limited (bit 1) or where the input is unlike the training data and
the physics part is returned instead (bit 2: reflectance; bit 4: the sun's zenith). Lazy: Dask
in, Dask out.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..spec import ModelSpec

__all__ = ["SUN_TOLERANCE", "quality_flag", "sun_outside"]


def quality_flag(
    out: xr.DataArray, physics: xr.DataArray, spec: ModelSpec, *, sun_zenith: xr.DataArray | None = None
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
    - Where ``sun_zenith`` (degrees, per date: ``dims ("time",)``) lies outside the solar
      zeniths of the training dates (``spec.domain["sun_zenith_range"]``; the rule of
      :func:`sun_outside`), the output is the physics part too (bit 4): the atmospheric path,
      BRDF and shadows of a lower or higher sun were never seen in training (e.g. winter
      scenes for a model trained on April-October at mid latitudes). Without ``sun_zenith``
      or without a recorded range the rule is skipped.
    - Where the physics part is returned (bit 2 or 4), bit 1 is cleared: no correction is
      applied there.

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
        flag = flag.where(~outside, 0) | (outside.astype("uint8") * np.uint8(2))
    sun = None if sun_zenith is None else sun_outside(sun_zenith, spec)
    if sun is not None:
        out = out.where(~sun, physics.where(out.notnull()))
        flag = (flag & np.uint8(2)).where(sun, flag) | (sun.astype("uint8") * np.uint8(4))
    flag = flag.drop_vars([c for c in flag.coords if c not in ("time", "y", "x")])
    flag = (flag.transpose("time", "y", "x") if "time" in flag.dims else flag).astype("uint8")
    flag.attrs = {
        "flag_masks": [1, 2, 4],
        "flag_meanings": "correction_limited outside_training_range outside_training_sun_zenith",
    }
    return out, flag


def sun_outside(sun_zenith: xr.DataArray, spec: ModelSpec) -> xr.DataArray | None:
    """Per date: whether ``sun_zenith`` (degrees, ``dims ("time",)``) lies outside the model's training range.

    The rule is on the atmospheric path, the air mass ``1 / cos(sun_zenith)``: outside means
    more than :data:`SUN_TOLERANCE` (10 %) below the smallest or above the largest air mass of
    ``spec.domain["sun_zenith_range"]``. For a 30.9-60.3 degree range that accepts 19.4-63.2
    degrees: the path changes slowly with a high sun and fast with a low one. ``None`` when the
    spec records no range.

    Examples
    --------
    >>> import dataclasses
    >>> from xharm.spec import mgan_spec
    >>> spec = dataclasses.replace(mgan_spec(16), meta=(("sun_zenith_range", "[30, 60]"),))
    >>> sun_outside(xr.DataArray([15.0, 25.0, 45.0, 62.0, 64.0], dims="time"), spec).values.tolist()
    [True, False, False, False, True]
    """
    rng = spec.domain.get("sun_zenith_range")
    if rng is None:
        return None
    lo, hi = (1.0 / np.cos(np.radians(float(v))) for v in rng)
    mass = 1.0 / np.cos(np.radians(sun_zenith.clip(0.0, 89.9)))
    out = (mass < lo / (1.0 + SUN_TOLERANCE)) | (mass > hi * (1.0 + SUN_TOLERANCE))
    return out.drop_vars([c for c in out.coords if c != "time"])


#: Relative tolerance of :func:`sun_outside` on the air mass of the training dates.
SUN_TOLERANCE = 0.1
