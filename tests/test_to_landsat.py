"""xharm.to_landsat with a (tiny, untrained) MGAN through the patch engine: lazy, masked, exact."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xharm
from xharm.exceptions import (
    ArgumentError,
    CRSError,
    DimensionError,
    GridError,
    MissingBandError,
    SensorError,
    UnitsError,
)


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


def test_model_with_b8a_reads_b8a_from_the_20m_cube(tmp_path, s2_inputs, scene):
    import jax
    import jax.numpy as jnp

    from xharm import zoo
    from xharm.models.mgan import Generator, MGANConfig

    cfg = MGANConfig(**{**MGANConfig.tiny().to_dict(), "bands_20m": 3, "s2_20m_bands": ("B8A", "B11", "B12")})
    s = cfg.input_shapes()
    params = Generator(cfg).init(
        jax.random.key(1, impl="rbg"), jnp.zeros((1, *s["s2_10m"])), jnp.zeros((1, *s["s2_20m"]))
    )["params"]
    spec = zoo.save_model(tmp_path / "b8a", params, cfg)
    assert spec.inputs[1].bands == ("B8A", "B11", "B12")
    inputs = s2_inputs(scene)
    out = xharm.to_landsat(inputs, model=str(tmp_path / "b8a")).compute()
    assert out.sizes["band"] == 6
    # B8A is read (changing it changes the output), the red-edge B05 is not
    c20 = inputs[20]
    for band, moves in (("B8A", True), ("B05", False)):
        bumped = c20.where(c20.band != band, c20 * 1.2)
        again = xharm.to_landsat({10: inputs[10], 20: bumped}, model=str(tmp_path / "b8a")).compute()
        assert (not np.allclose(again.values, out.values, equal_nan=True)) is moves, band
    # a 20 m cube without B8A is refused before any work
    with pytest.raises(xharm.XharmError, match="B8A"):
        xharm.to_landsat({10: inputs[10], 20: c20.sel(band=["B11", "B12"])}, model=str(tmp_path / "b8a"))


# --------------------------------------------------------------------------- hostile input (issue 19)


def _both(scene, f):
    return {10: f(scene.s2_10m), 20: f(scene.s2_20m)}


@pytest.mark.parametrize("batch_size", [-3, 0, 2.5, "16"])
def test_bad_batch_size_is_refused(scene, batch_size):
    with pytest.raises(ArgumentError, match="batch_size"):
        xharm.to_landsat(_both(scene, lambda c: c), batch_size=batch_size)


@pytest.mark.parametrize("samples", [2.7, 0, -5, "10"])  # samples=1: test_uncertainty
def test_bad_samples_are_refused(scene, samples):
    with pytest.raises(ArgumentError, match="samples"):
        xharm.to_landsat(_both(scene, lambda c: c), uncertainty=True, samples=samples)


@pytest.mark.parametrize("model", [42, 1.5, ["mgan-starter"]])
def test_model_of_the_wrong_type_is_refused(scene, model):
    with pytest.raises(ArgumentError, match="model must name a model"):
        xharm.to_landsat(_both(scene, lambda c: c), model=model)


@pytest.mark.parametrize("method", ["mgan", "hls"])
@pytest.mark.parametrize("scale", [100, 10000])
def test_scaled_reflectance_is_a_units_error(scene, method, scale):
    with pytest.raises(UnitsError, match=f"x {scale}"):
        xharm.to_landsat(_both(scene, lambda c: c * scale), method=method)


def test_scaled_dask_input_fails_at_compute_not_silently(scene):
    out = xharm.to_landsat(_both(scene, lambda c: c.chunk({"time": 1}) * 100), method="hls")
    with pytest.raises(UnitsError):
        out.compute()


def test_negative_band_everywhere_is_a_units_error(scene):
    bad = scene.s2_10m.where(scene.s2_10m.band != "B02", -0.5)
    with pytest.raises(UnitsError, match=r"band B02.*negative"):
        xharm.to_landsat({10: bad, 20: scene.s2_20m}, method="hls")


def test_nodata_zeros_and_inf_give_nan_out(tiny_model, scene):
    def damage(c):
        c = c.copy(data=c.values.copy())
        c[:, :, : c.sizes["y"] // 4] = 0.0  # a no-data strip written as 0.0 in every band
        c[:, 0, -1, -1] = np.inf
        return c

    for method, kw in (("mgan", {"model": tiny_model}), ("hls", {})):
        out = xharm.to_landsat(_both(scene, damage), method=method, **kw).compute()
        strip = out.isel(y=slice(0, out.sizes["y"] // 4 - 1))
        assert bool(np.isnan(strip).all()), method
        assert bool(np.isnan(out[:, 0, -1, -1]).all()) and not np.isinf(out.values).any(), method  # B02 -> B2
        rest = out.isel(y=slice(out.sizes["y"] // 2, -2), x=slice(0, -2))
        assert np.isfinite(rest.values).all(), method


@pytest.mark.parametrize("method", ["mgan", "hls", "resample"])
def test_south_up_is_refused_everywhere(scene, method):
    flipped = _both(scene, lambda c: c.isel(y=slice(None, None, -1)))
    with pytest.raises(GridError, match="north-up"):
        xharm.to_landsat(flipped, method=method)


@pytest.mark.parametrize("zenith", [np.nan, 95.0, 120.0])
def test_hls_refuses_a_missing_or_night_sun(scene, zenith):
    def night(c):
        return c.assign_coords(sun_zenith=("time", [30.0, zenith]))

    with pytest.raises(UnitsError, match="sun_zenith"):
        xharm.to_landsat(_both(scene, night), method="hls").compute()


@pytest.mark.parametrize("time", [[0, 1], ["a", "b"]])
def test_time_that_is_not_dates_is_refused(scene, time):
    with pytest.raises(DimensionError, match="does not hold dates"):
        xharm.to_landsat(_both(scene, lambda c: c.assign_coords(time=time)), method="hls")


def test_geographic_label_on_a_metre_grid(scene):
    with pytest.raises(CRSError, match="reproject to UTM"):
        xharm.to_landsat(_both(scene, lambda c: c.odc.assign_crs("EPSG:4326")), method="resample")


def test_valid_mask_with_missing_dates_is_refused(scene):
    with pytest.raises(DimensionError, match="lacks 1"):
        xharm.to_landsat(_both(scene, lambda c: c), valid=scene.s2_valid.isel(time=[1]))


def test_valid_mask_cut_short_is_refused(scene):
    with pytest.raises(GridError, match="does not cover"):
        xharm.to_landsat(_both(scene, lambda c: c), method="hls", valid=scene.s2_valid.isel(y=slice(0, 10)))


def test_valid_mask_in_other_order_is_aligned_by_date(scene):
    valid = scene.s2_valid
    a = xharm.to_landsat(_both(scene, lambda c: c), method="resample", valid=valid)
    b = xharm.to_landsat(_both(scene, lambda c: c), method="resample", valid=valid.isel(time=[1, 0]))
    xr.testing.assert_identical(a["valid"], b["valid"])
