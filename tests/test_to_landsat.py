"""xharm.to_landsat with a (tiny, untrained) MGAN through the patch engine: lazy, masked, exact."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xharm
from xharm.exceptions import DimensionError, MissingBandError, SensorError


def test_mgan_is_lazy_and_keeps_grid_and_attrs(s2_inputs, tiny_model, scene, compute_counter):
    out = xharm.to_landsat(s2_inputs(scene, chunks=20), model=tiny_model, valid=scene.s2_valid)
    assert compute_counter.calls == 0
    assert out.dims == ("time", "band", "y", "x")
    assert out.band.values.tolist() == ["B2", "B3", "B4", "B5", "B6", "B7"]
    assert out.common_name.values.tolist() == ["blue", "green", "red", "nir08", "swir16", "swir22"]
    assert out.odc.geobox == scene.l8.odc.geobox  # the S2 footprint's nested 30 m grid
    assert out.attrs["harmonization_method"] == "mgan"
    assert out.attrs["model"] == "tiny-mgan" and out.attrs["model_checksum"].startswith("sha256:")
    assert out.attrs["sensor"] == "landsat-8"
    values = out.compute()
    assert compute_counter.calls == 1
    assert np.isfinite(values.where(values.valid)).sum() > 0


def test_clouds_stay_masked(s2_inputs, tiny_model, scene):
    out = xharm.to_landsat(s2_inputs(scene), model=tiny_model, valid=scene.s2_valid).compute()
    invalid = ~out.valid
    assert bool(invalid.any()), "the test scene should have clouds"
    assert bool(out.isnull().where(invalid, True).all())  # every cloudy pixel is NaN, in every band
    assert bool(out.notnull().where(out.valid, False).any())


def test_cloudy_input_pixels_do_not_reach_clear_output(s2_inputs, tiny_model, scene):
    """With ``valid`` the generator never sees cloudy inputs: changing them leaves clear pixels alone."""
    from xharm.grid import mask_to_grid

    inputs = s2_inputs(scene)
    out = xharm.to_landsat(inputs, model=tiny_model, valid=scene.s2_valid).compute()
    brighter = {
        res: cube.where(mask_to_grid(scene.s2_valid, cube.odc.geobox), 0.9) for res, cube in inputs.items()
    }
    assert not all(bool((brighter[r] == inputs[r]).all()) for r in inputs)  # clouds did change
    again = xharm.to_landsat(brighter, model=tiny_model, valid=scene.s2_valid).compute()
    assert bool(out.valid.any())
    xr.testing.assert_equal(out, again)


def test_chunked_equals_unchunked(s2_inputs, tiny_model, scene):
    whole = xharm.to_landsat(s2_inputs(scene), model=tiny_model).compute()
    for c in (10, 16):
        part = xharm.to_landsat(
            s2_inputs(scene, chunks=c), model=tiny_model, chunks={"y": c, "x": c}
        ).compute()
        xr.testing.assert_allclose(part, whole, atol=1e-6)


def test_accessor_and_baseline_dispatch(scene):
    hls = scene.s2_10m.harmonize.to_landsat(scene.s2_20m, method="hls")
    assert hls.attrs["harmonization_method"] == "hls"
    res = xharm.to_landsat({10: scene.s2_10m, 20: scene.s2_20m}, method="resample")
    assert res.sizes["band"] == 6


def test_bad_inputs(tiny_model, scene):
    with pytest.raises(DimensionError, match="needs both Sentinel-2 resolutions"):
        xharm.to_landsat(scene.s2_10m, model=tiny_model)
    with pytest.raises(MissingBandError, match="lacks band"):
        xharm.to_landsat(scene.s2_10m.sel(band=["B02", "B03", "B04"]), scene.s2_20m, model=tiny_model)
    with pytest.raises(SensorError, match="unknown method 'nn'"):
        xharm.to_landsat(scene.s2_10m, scene.s2_20m, method="nn")
    with pytest.raises(FileNotFoundError, match="no model called"):
        xharm.to_landsat(scene.s2_10m, scene.s2_20m, model="no-such-model")
