"""The fail-safe rules of anchored models (``xharm.engine.quality.quality_flag``), on tiny cubes."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import xarray as xr

from xharm.engine.quality import quality_flag
from xharm.spec import mgan_spec


def _cube(values) -> xr.DataArray:
    a = np.asarray(values, np.float32)[None]  # (time, band, y, x)
    return xr.DataArray(a, dims=("time", "band", "y", "x"), coords={"band": ["B4", "B5"][: a.shape[1]]})


def test_bound_negatives_and_training_range():
    meta = {"correction_bound": json.dumps(0.02), "reflectance_range": json.dumps({"B4": [0.0, 0.3]})}
    spec = dataclasses.replace(mgan_spec(16, anchored=True), meta=tuple(sorted(meta.items())))
    physics = _cube([[[0.10, 0.10, 0.01, 0.90]], [[0.2, 0.2, 0.2, 0.2]]])
    out = _cube([[[0.11, 0.12, -0.01, 0.91]], [[0.2, 0.2, 0.2, 0.2]]])
    guarded, flag = quality_flag(out, physics, spec)
    # pixel 0 inside the bound; 1 at the bound; 2 turned negative -> 0; 3 outside the range -> physics
    assert flag.values[0, 0].tolist() == [0, 1, 1, 2]
    np.testing.assert_allclose(guarded.values[0, 0, 0], [0.11, 0.12, 0.0, 0.90], atol=1e-7)
    assert flag.dims == ("time", "y", "x") and flag.attrs["flag_masks"] == [1, 2, 4]


def test_sun_zenith_outside_the_training_dates_returns_physics():
    meta = {"correction_bound": json.dumps(0.05), "sun_zenith_range": json.dumps([30.0, 60.0])}
    spec = dataclasses.replace(mgan_spec(16, anchored=True), meta=tuple(sorted(meta.items())))
    physics = xr.concat([_cube([[[0.10, 0.20]]])] * 3, "time").assign_coords(time=[0, 1, 2])
    out = physics + 0.01
    # the air mass may exceed its training range by 10 %: 62 inside, 64 (winter) and 15 (a
    # tropical noon) not
    sun = xr.DataArray([62.0, 64.0, 15.0], dims="time", coords={"time": [0, 1, 2]})
    guarded, flag = quality_flag(out, physics, spec, sun_zenith=sun)
    assert flag.dims == ("time", "y", "x")
    assert flag.values[:, 0].tolist() == [[0, 0], [4, 4], [4, 4]]
    np.testing.assert_allclose(guarded.values[0], out.values[0], atol=1e-7)
    np.testing.assert_allclose(guarded.values[1:], physics.values[1:], atol=1e-7)
    # no sun zenith given, or no range recorded: the rule is skipped
    assert int(quality_flag(out, physics, spec)[1].max()) == 0
    bare = dataclasses.replace(spec, meta=(("correction_bound", "0.05"),))
    assert int(quality_flag(out, physics, bare, sun_zenith=sun)[1].max()) == 0
