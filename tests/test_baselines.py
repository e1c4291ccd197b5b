"""xharm.baselines.to_landsat: dispatch, masks carried through, laziness, errors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox

from xharm.baselines import METHODS, resample, to_landsat
from xharm.core.cube import make_cube, validate
from xharm.exceptions import DimensionError, GridError, MissingBandError

BBOX = (600000, 4999860, 600180, 4999980)
G10 = GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=10)
G20 = GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=20)
G30 = GeoBox.from_bbox(BBOX, "EPSG:32632", resolution=30)
ANGLES = {"sun_zenith": 35.0, "sun_azimuth": 150.0, "view_zenith": 4.0, "view_azimuth": 100.0}


def _s2(nt: int = 6, dask: bool = False, seed: int = 0) -> tuple[xr.DataArray, xr.DataArray]:
    rng = np.random.default_rng(seed)
    days = [f"2021-06-{3 * d + 1:02d}T10:30" for d in range(nt)]
    x10 = rng.uniform(0.02, 0.5, (nt, 4, *G10.shape)).astype("float32")
    x20 = rng.uniform(0.02, 0.5, (nt, 6, *G20.shape)).astype("float32")
    if dask:
        x10 = da.from_array(x10, chunks=(2, 2, 6, 9))
        x20 = da.from_array(x20, chunks=(3, 3, 3, 9))
    c10 = make_cube(
        x10, geobox=G10, bands=["B02", "B03", "B04", "B08"], sensor="S2A", time=days, attrs=ANGLES
    )
    b20 = ["B05", "B06", "B07", "B8A", "B11", "B12"]
    c20 = make_cube(x20, geobox=G20, bands=b20, sensor="S2A", time=days, attrs=ANGLES)
    return c10, c20


def test_resample_is_block_mean_with_landsat_names() -> None:
    c10, c20 = _s2(nt=1)
    out = to_landsat(c10, c20, method="resample")
    validate(out, sensor="landsat-8")
    assert out.attrs["harmonization_method"] == "resample"
    expected = c10.sel(band="B03").values[0].astype("float64").reshape(4, 3, 6, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(out.sel(band="B3").values[0], expected, atol=1e-7)
    # 20 m -> 30 m area weights (2/3, 1/3) per axis for the first 30 m pixel
    b = c20.sel(band="B11").values[0].astype("float64")
    w = np.array([2 / 3, 1 / 3])
    assert float(out.sel(band="B6")[0, 0, 0]) == pytest.approx(float(w @ b[:2, :2] @ w), abs=1e-7)
    xr.testing.assert_identical(out, resample({10: c10, 20: c20}))


@pytest.mark.parametrize("method", ["hls", "resample"])
def test_dask_input_computes_nothing_until_asked(method: str, compute_counter) -> None:  # type: ignore[no-untyped-def]
    c10, c20 = _s2(dask=True)
    coords = {"time": c20.time, **{k: c20[k] for k in ("y", "x", "spatial_ref")}}
    ones = da.ones((6, *G20.shape), dtype=bool, chunks=(2, 3, 9))
    valid = xr.DataArray(ones, dims=("time", "y", "x"), coords=coords)
    out = to_landsat(c10, c20, method=method, valid=valid)
    assert compute_counter.calls == 0
    assert isinstance(out.data, da.Array) and isinstance(out["valid"].data, da.Array)
    eager = to_landsat(*_s2(), method=method)
    np.testing.assert_array_equal(out.values, eager.values)
    assert compute_counter.calls >= 1


def test_tra_lazy_and_recovers_planted_relation(compute_counter) -> None:  # type: ignore[no-untyped-def]
    c10, c20 = _s2(dask=True, seed=1)
    rs = resample(c10, c20).compute()
    compute_counter.calls = 0
    rng = np.random.default_rng(9)
    slope = rng.uniform(0.9, 1.1, (6, *G30.shape))
    icpt = rng.uniform(-0.01, 0.01, (6, *G30.shape))
    bands = ["B2", "B3", "B4", "B5", "B6", "B7"]
    y = (slope * rs.values + icpt).astype("float32")
    l8 = make_cube(y, geobox=G30, bands=bands, sensor="landsat-8", time=rs.time.values)
    out = to_landsat(c10, c20, method="tra", l8=l8)
    assert compute_counter.calls == 0
    np.testing.assert_allclose(out.values, slope * rs.values + icpt, atol=2e-6)
    assert out.attrs["harmonization_method"] == "tra"


def test_valid_mask_carried_to_30m() -> None:
    c10, c20 = _s2(nt=2)
    m = np.ones((2, *G20.shape), bool)
    m[0, 0, 0] = False  # one 20 m pixel touches 30 m pixels (0,0) only: 2/3 of its row/col overlap
    m[1, 3, 4] = False  # 20 m pixel (3, 4) spans 30 m rows 2 and x cols 2..3
    valid = xr.DataArray(m, dims=("time", "y", "x"), coords={"time": c20.time, "y": c20.y, "x": c20.x})
    valid = valid.odc.assign_crs(c20.odc.crs)
    out = to_landsat(c10, c20, method="hls", valid=valid)
    v = out["valid"].values
    assert v.dtype == bool and v.shape == (2, 4, 6)
    assert not v[0, 0, 0] and v[0].sum() == 23
    # 20 m row 3 spans 60..80 m -> 30 m row 2 (60..90); 20 m col 4 spans 80..100 m -> 30 m cols 2 and 3
    assert not v[1, 2, 2] and not v[1, 2, 3] and v[1].sum() == 22


@pytest.mark.parametrize("method", ["hls", "resample", "tra"])
def test_valid_mask_makes_cloudy_pixels_nan(method: str) -> None:
    """Issue 18 item 1: ``valid=`` used to be attached but mask nothing for the baselines."""
    c10, c20 = _s2(nt=6)
    m = np.ones((6, *G20.shape), bool)
    m[:, :2, :3] = False  # a 40 x 60 m cloud: 30 m pixels rows 0..1, cols 0..1 are not clear
    valid = xr.DataArray(m, dims=("time", "y", "x"), coords={"time": c20.time, "y": c20.y, "x": c20.x})
    valid = valid.odc.assign_crs(c20.odc.crs)
    kw: dict[str, object] = {"brdf": False} if method == "hls" else {}
    if method == "tra":
        rs = resample(c10, c20)
        kw["l8"] = make_cube(rs.values, geobox=G30, bands=list(rs.band.values), sensor="landsat-8",
                             time=rs.time.values)  # fmt: skip
    out = to_landsat(c10, c20, method=method, valid=valid, **kw)  # type: ignore[arg-type]
    clear = out["valid"].values
    assert 0 < clear.mean() < 1
    nan = np.isnan(out.values).any(axis=1)
    np.testing.assert_array_equal(nan, ~clear)
    assert out.attrs["harmonization_method"] == method


def test_valid_mask_on_10m_grid_without_crs() -> None:
    c10, c20 = _s2(nt=1)
    m = np.ones((1, *G10.shape), bool)
    m[0, 4, 4] = False
    out = to_landsat(c10, c20, method="resample", valid=xr.DataArray(m, dims=("time", "y", "x")))
    assert not out["valid"].values[0, 1, 1] and out["valid"].values.sum() == 23


def test_errors() -> None:
    c10, c20 = _s2(nt=1)
    with pytest.raises(DimensionError, match=r"hls \| hls_psf \| tra \| resample"):
        to_landsat(c10, c20, method="mgan")  # type: ignore[arg-type]
    with pytest.raises(DimensionError, match="l8="):
        to_landsat(c10, c20, method="tra")
    with pytest.raises(DimensionError, match="only apply to method='tra'"):
        to_landsat(c10, c20, method="hls", l8=c10)
    with pytest.raises(MissingBandError, match="B8A"):
        to_landsat(c10)
    with pytest.raises(DimensionError, match="mapping"):
        to_landsat({10: c10}, c20)
    with pytest.raises(DimensionError, match="different dates"):
        to_landsat(c10, c20.assign_coords(time=[np.datetime64("2020-01-01", "ns")]))
    with pytest.raises(GridError):
        to_landsat(c10, c20, valid=xr.DataArray(np.ones((1, 5, 5), bool), dims=("time", "y", "x")))
    assert METHODS == ("hls", "hls_psf", "tra", "resample")


def test_nir_b08_without_20m_nir() -> None:
    c10, c20 = _s2(nt=1)
    out = to_landsat(c10, c20.sel(band=["B11", "B12"]), method="resample", nir="B08")
    assert out.attrs["source_bands"][3] == "B08"
    expected = c10.sel(band="B08").values[0].astype("float64").reshape(4, 3, 6, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(out.sel(band="B5").values[0], expected, atol=1e-7)
