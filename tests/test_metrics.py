"""Tests of xharm.metrics against scikit-image, sewar and brute-force references."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import sewar.full_ref as sw
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view
from odc.geo.geobox import GeoBox
from scipy.signal import fftconvolve
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from xharm.core.cube import make_cube
from xharm.exceptions import DimensionError, GridError, MissingBandError
from xharm.metrics import METRICS, ergas, metrics, ndvi_correlation, psnr, rmse, sam, ssim, uiqi

DIMS = ("time", "band", "y", "x")
SSIM_KW = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
REL = 1e-6


def pair(shape=(2, 3, 48, 52), seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    ref = 0.05 + 0.9 * rng.random(shape)
    pred = ref + noise * rng.standard_normal(shape) + 0.02
    return xr.DataArray(pred, dims=DIMS), xr.DataArray(ref, dims=DIMS)


def hwc(a):
    """(band, y, x) -> (y, x, band) for sewar."""
    return np.moveaxis(np.asarray(a, dtype=np.float64), 0, -1)


def brute_uiqi(p, r, w):
    """Eq. 8 of the paper for every full window, from FFT window sums (not cumulative sums)."""
    ones = np.ones((w, w))
    n = float(w * w)

    def mean(a):
        return fftconvolve(a, ones, mode="valid") / n

    mp, mr = mean(p), mean(r)
    vp, vr, cov = mean(p * p) - mp**2, mean(r * r) - mr**2, mean(p * r) - mp * mr
    return 4 * cov * mp * mr / ((vp + vr) * (mp**2 + mr**2))


def test_fft_uiqi_reference_is_eq8():
    """The reference above agrees with a literal window-by-window evaluation of eq. 8."""
    _, ref = pair(shape=(1, 2, 20, 21))
    p, r = ref.values[0, 0] ** 2, ref.values[0, 1]
    pw, rw = sliding_window_view(p, (8, 8)), sliding_window_view(r, (8, 8))
    literal = np.array([[uiqi_one(a.ravel(), b.ravel()) for a, b in zip(ra, rb)] for ra, rb in zip(pw, rw)])
    np.testing.assert_allclose(brute_uiqi(p, r, 8), literal, rtol=1e-9)


def uiqi_one(a, b):
    c = np.cov(a, b, bias=True)
    return (
        c[0, 1]
        / np.sqrt(c[0, 0] * c[1, 1])
        * 2
        * a.mean()
        * b.mean()
        / (a.mean() ** 2 + b.mean() ** 2)
        * (2 * np.sqrt(c[0, 0] * c[1, 1]) / (c[0, 0] + c[1, 1]))
    )


def check_against_references(pred, ref, ds, ratio=1.0):
    for t in range(pred.shape[0]):
        p, r = np.asarray(pred[t], np.float64), np.asarray(ref[t], np.float64)
        np.testing.assert_allclose(float(ds.sam[t]), sw.sam(hwc(r), hwc(p)), rtol=REL)
        np.testing.assert_allclose(float(ds.ergas[t]), sw.ergas(hwc(r), hwc(p), r=ratio), rtol=REL)
        for b in range(pred.shape[1]):
            np.testing.assert_allclose(float(ds.rmse[t, b]), sw.rmse(r[b], p[b]), rtol=REL)
            np.testing.assert_allclose(
                float(ds.psnr[t, b]), peak_signal_noise_ratio(r[b], p[b], data_range=1.0), rtol=REL
            )
            np.testing.assert_allclose(
                float(ds.ssim[t, b]), structural_similarity(r[b], p[b], **SSIM_KW), rtol=REL
            )
            np.testing.assert_allclose(float(ds.uiqi[t, b]), brute_uiqi(p[b], r[b], 32).mean(), rtol=REL)


@pytest.mark.parametrize("chunked", [False, True])
def test_random_matches_references(chunked):
    pred, ref = pair()
    if chunked:
        pred, ref = pred.chunk(y=20, x=17), ref.chunk(y=20, x=17)
    ds = metrics(pred, ref, ratio=0.25).compute()
    check_against_references(pred.values, ref.values, ds, ratio=0.25)


def real_pair(real_data):
    rasterio = pytest.importorskip("rasterio")
    folder = real_data / "deep_harmonization_l8_c2l2_india" / "sr"
    arrays = []
    for date in ("20230213", "20230418", "20230520"):
        (path,) = folder.glob(f"LC08_L2SP_143054_{date}_*_SR.tif")
        with rasterio.open(path) as src:
            arrays.append(src.read())
    data = np.stack(arrays)  # (time, 7, y, x)
    refl = (data[:, :6] * 0.0000275 - 0.2).astype(np.float32)
    clear = np.isin(data[:, 6], (21824, 21952))
    ref = xr.DataArray(refl[[0, 0]], dims=DIMS)  # 2023-02-13 twice
    pred = xr.DataArray(refl[[1, 2]], dims=DIMS)  # 2023-04-18, 2023-05-20
    return pred, ref, clear[[1, 2]]


def test_real_data_matches_references(real_data):
    pred, ref, _ = real_pair(real_data)
    ds = metrics(pred.chunk(y=64, x=64), ref.chunk(y=64, x=64)).compute()
    check_against_references(pred.values, ref.values, ds)


def test_uiqi_odd_window_equals_skimage_ssim_without_constants():
    pred, ref = pair(seed=3)
    out = uiqi(pred, ref, window=7)
    for t in range(2):
        for b in range(3):
            expected = structural_similarity(
                ref.values[t, b], pred.values[t, b], win_size=7, K1=0.0, K2=0.0,
                gaussian_weights=False, use_sample_covariance=False, data_range=1.0,
            )  # fmt: skip
            np.testing.assert_allclose(float(out[t, b]), expected, rtol=REL)


def test_mask_and_nan_count_nowhere():
    pred, ref = pair(shape=(1, 3, 60, 64), seed=5)
    valid = np.ones((1, 60, 64), bool)
    valid[0, 10:14, 20:30] = False
    valid[0, 40, 5] = False
    dirty = pred.copy()
    dirty.values[0][:, ~valid[0]] = 1e3  # garbage under the mask
    vmask = xr.DataArray(valid, dims=("time", "y", "x"))
    ds = metrics(dirty, ref, valid=vmask)
    nan_pred = pred.where(vmask)
    ds_nan = metrics(nan_pred.chunk(y=23, x=30), ref.chunk(y=23, x=30)).compute()
    xr.testing.assert_allclose(ds, ds_nan, rtol=1e-12)

    p, r, v = pred.values[0], ref.values[0], valid[0]
    np.testing.assert_allclose(float(ds.sam[0]), sw.sam(r[:, v].T[:, None], p[:, v].T[:, None]), rtol=REL)
    np.testing.assert_allclose(
        float(ds.ergas[0]), sw.ergas(r[:, v].T[:, None], p[:, v].T[:, None], r=1.0), rtol=REL
    )
    for b in range(3):
        np.testing.assert_allclose(float(ds.rmse[0, b]), sw.rmse(r[b][v], p[b][v]), rtol=REL)
        # window maps: keep positions whose whole window is clean
        _, smap = structural_similarity(r[b], p[b], full=True, **SSIM_KW)
        clean = sliding_window_view(v, (11, 11)).all((-2, -1))
        np.testing.assert_allclose(float(ds.ssim[0, b]), smap[5:-5, 5:-5][clean].mean(), rtol=REL)
        clean32 = sliding_window_view(v, (32, 32)).all((-2, -1))
        np.testing.assert_allclose(float(ds.uiqi[0, b]), brute_uiqi(p[b], r[b], 32)[clean32].mean(), rtol=REL)


@pytest.mark.parametrize("chunks", [dict(y=16, x=16), dict(y=33, x=50), dict(time=1, band=1, y=40, x=20)])
def test_chunked_equals_unchunked(chunks):
    pred, ref = pair(shape=(2, 3, 70, 66), seed=1)
    pred = pred.assign_coords(common_name=("band", ["green", "red", "nir"]))
    ref = ref.assign_coords(common_name=("band", ["green", "red", "nir"]))
    expected = metrics(pred, ref, METRICS)
    got = metrics(pred.chunk(chunks), ref.chunk(chunks), METRICS).compute()
    xr.testing.assert_allclose(got, expected, rtol=1e-10)


@settings(max_examples=10, deadline=None)
@given(cy=st.integers(6, 40), cx=st.integers(6, 40), window=st.integers(2, 12), seed=st.integers(0, 99))
def test_chunked_equals_unchunked_property(cy, cx, window, seed):
    pred, ref = pair(shape=(1, 2, 41, 37), seed=seed)
    expected = metrics(pred, ref, window=window)
    got = metrics(pred.chunk(y=cy, x=cx), ref.chunk(y=cy, x=cx), window=window).compute()
    xr.testing.assert_allclose(got, expected, rtol=1e-10)


def test_identical_images_give_ideal_values():
    _, ref = pair()
    ds = metrics(ref, ref)
    assert np.all(ds.sam == 0) and np.all(ds.rmse == 0) and np.all(ds.ergas == 0)
    np.testing.assert_allclose(ds.uiqi, 1.0, rtol=1e-12)
    np.testing.assert_allclose(ds.ssim, 1.0, rtol=1e-12)
    assert np.all(np.isposinf(ds.psnr))


def test_symmetric_metrics_are_symmetric():
    pred, ref = pair(seed=7)
    names = ["sam", "rmse", "uiqi", "psnr", "ssim"]
    xr.testing.assert_allclose(metrics(pred, ref, names), metrics(ref, pred, names), rtol=1e-12)
    assert not np.allclose(ergas(pred, ref), ergas(ref, pred))  # ERGAS divides by the ref mean


def test_lazy_and_one_pass(compute_counter):
    pred, ref = pair()
    valid = xr.DataArray(np.ones((2, 48, 52), bool), dims=("time", "y", "x")).chunk(y=24)
    ds = metrics(pred.chunk(y=24, x=26), ref.chunk(y=24, x=26), METRICS, valid=valid, red=1, nir=2)
    assert compute_counter.calls == 0
    assert all(v.chunks is not None for v in ds.data_vars.values())
    ds.compute()
    assert compute_counter.calls == 1


def test_reduction_dims_average_per_image_values():
    pred, ref = pair()
    per_image = metrics(pred, ref)
    over_time = metrics(pred, ref, dim=("time", "y", "x"))
    assert over_time.rmse.dims == ("band",) and over_time.sam.dims == ()
    xr.testing.assert_allclose(over_time, per_image.mean("time"))
    overall = metrics(pred, ref, dim=...)
    assert all(v.dims == () for v in overall.data_vars.values())
    np.testing.assert_allclose(float(overall.uiqi), float(per_image.uiqi.mean()), rtol=1e-12)


def test_single_metric_functions_and_degrees():
    pred, ref = pair()
    ds = metrics(pred, ref)
    for fn in (sam, ergas, rmse, uiqi, psnr, ssim):
        xr.testing.assert_identical(fn(pred, ref), ds[fn.__name__])
    np.testing.assert_allclose(sam(pred, ref, degrees=True), np.degrees(ds.sam), rtol=1e-12)
    assert "radians" in ds.sam.attrs["conventions"]


def test_ndvi_correlation_on_canonical_cube():
    rng = np.random.default_rng(4)
    gbox = GeoBox.from_bbox((600000, 4999600, 600400, 5000000), "EPSG:32632", resolution=10)
    data = 0.05 + 0.5 * rng.random((2, 3, 40, 40))
    ref = make_cube(
        data,
        geobox=gbox,
        bands=["B03", "B04", "B08"],
        sensor="sentinel-2a",
        time=["2021-06-01", "2021-06-11"],
    )
    pred = ref + 0.03 * rng.standard_normal(ref.shape).astype(np.float32)
    out = ndvi_correlation(pred, ref)
    assert out.dims == ("time",)
    for t in range(2):
        nd = [
            (a[t, 2] - a[t, 1]) / (a[t, 2] + a[t, 1])
            for a in (pred.values.astype(float), ref.values.astype(float))
        ]
        np.testing.assert_allclose(float(out[t]), np.corrcoef(nd[0].ravel(), nd[1].ravel())[0, 1], rtol=REL)
    assert out.time.equals(ref.time)


def test_real_data_with_qa_mask(real_data):
    pred, ref, clear = real_pair(real_data)
    valid = xr.DataArray(clear, dims=("time", "y", "x"))
    assert not clear.all()
    ds = metrics(pred, ref, ["rmse", "sam"], valid=valid)
    p, r = pred.values[1].astype(float), ref.values[1].astype(float)
    v = clear[1]
    np.testing.assert_allclose(float(ds.rmse[1, 3]), sw.rmse(r[3][v], p[3][v]), rtol=REL)
    np.testing.assert_allclose(float(ds.sam[1]), sw.sam(r[:, v].T[:, None], p[:, v].T[:, None]), rtol=REL)


def test_bad_inputs_raise_before_work():
    pred, ref = pair()
    with pytest.raises(GridError, match="shape"):
        metrics(pred, ref.isel(x=slice(1, None)))
    with pytest.raises(DimensionError, match="spatial"):
        metrics(pred, ref, dim=("time",))
    with pytest.raises(ValueError, match="unknown metric"):
        metrics(pred, ref, ["sma"])
    with pytest.raises(DimensionError, match="band"):
        metrics(pred.isel(band=0), ref.isel(band=0), ["sam"])
    with pytest.raises(MissingBandError):
        metrics(pred, ref, ["ndvi_correlation"])
    with pytest.raises(DimensionError, match="window"):
        metrics(pred, ref, ["uiqi"], window=64)


def test_no_band_dim_per_band_metrics_work():
    pred, ref = pair()
    out = rmse(pred.isel(band=0, drop=True), ref.isel(band=0, drop=True))
    assert out.dims == ("time",)
    np.testing.assert_allclose(out, metrics(pred, ref).rmse.isel(band=0), rtol=1e-12)
    with dask.config.set(scheduler="sync"):
        lazy = rmse(pred.isel(band=0, drop=True).chunk(y=10), ref.isel(band=0, drop=True))
        np.testing.assert_allclose(lazy, out, rtol=1e-12)


def test_dask_coordinates_chunked_unlike_the_data():
    """A lazy (time, y, x) coordinate (e.g. a mask carried by to_landsat) chunked unlike the data."""
    import dask.array as dsa

    pred, ref = pair()
    coord = dsa.zeros((2, 48, 52), chunks=(1, 13, 52), dtype=bool)
    pred = pred.chunk({"time": 1, "y": 24, "x": 26}).assign_coords(flag=(("time", "y", "x"), coord))
    expected = metrics(*pair(), ["rmse", "sam"])
    got = metrics(pred, ref, ["rmse", "sam"]).compute()
    xr.testing.assert_allclose(got.drop_vars("flag", errors="ignore"), expected, rtol=REL)


# ---------------------------------------------------------------- the Numba kernels


def kernel_sums(p, r, v, core, window=8):
    """All sums of xharm.metrics._kernels.block_sums for one block, as {slot name: array}."""
    from xharm.metrics import _kernels as k

    out = k.block_sums(
        p, r, v, core, pixel=True, sam=True, window=window, weights=k.gaussian_weights(1.5, 3.5),
        c1=1e-4, c2=9e-4, ndvi=(0, 1),
    )  # fmt: skip
    return {name: out[..., i] for i, name in enumerate(k.SLOTS)}


def cuts(n, parts, rng):
    edges = np.sort(rng.choice(np.arange(1, n), size=parts - 1, replace=False))
    return list(zip([0, *edges], [*edges, n]))


@pytest.mark.parametrize("window", [7, 8])
def test_kernel_core_ranges_split_the_sums_exactly(window):
    """Cores that tile the image count every pixel and window once: their sums add up to the whole."""
    rng = np.random.default_rng(11)
    p, r = (a.values[:1] for a in pair(shape=(1, 3, 37, 41), seed=11))
    v = rng.random((1, 1, 37, 41)) > 0.01
    whole = kernel_sums(p, r, v, (0, 37, 0, 41), window)
    parts = [kernel_sums(p, r, v, (*ys, *xs), window) for ys in cuts(37, 3, rng) for xs in cuts(41, 4, rng)]
    for name, value in whole.items():
        np.testing.assert_allclose(sum(part[name] for part in parts), value, rtol=1e-12, err_msg=name)
    # the counts are those of a direct enumeration: every full window free of invalid pixels
    clean = sliding_window_view(v[0, 0], (window, window)).all((-2, -1))  # by top-left pixel
    assert np.all(whole["uiqi_n"] == clean.sum())
    assert np.all(whole["ssim_n"] == sliding_window_view(v[0, 0], (11, 11)).all((-2, -1)).sum())
    assert np.all(whole["n"] == v.sum())
    # control: cores that overlap by one row count that row's windows twice
    twice = [kernel_sums(p, r, v, (0, 20, 0, 41), window), kernel_sums(p, r, v, (19, 37, 0, 41), window)]
    assert np.all(sum(t["uiqi_n"] for t in twice) == clean.sum() + clean[19 - window // 2].sum())
    assert np.all(sum(t["n"] for t in twice) > whole["n"])


def test_kernel_halo_block_equals_the_whole_image():
    """A block cut with a halo around its core gives the core's share of the whole-image sums."""
    p, r = (a.values for a in pair(shape=(2, 3, 64, 60), seed=12))
    v = np.ones((1, 1, 64, 60), bool)
    cores = [(0, 30, 0, 25), (30, 64, 0, 25), (0, 30, 25, 60), (30, 64, 25, 60)]
    total = None
    for y0, y1, x0, x1 in cores:
        ya, yb, xa, xb = max(y0 - 5, 0), min(y1 + 5, 64), max(x0 - 5, 0), min(x1 + 5, 60)
        block = (slice(None), slice(None), slice(ya, yb), slice(xa, xb))
        part = kernel_sums(p[block], r[block], v[block], (y0 - ya, y1 - ya, x0 - xa, x1 - xa), window=10)
        total = part if total is None else {n: total[n] + part[n] for n in part}
    whole = kernel_sums(p, r, v, (0, 64, 0, 60), window=10)
    for name, value in whole.items():
        np.testing.assert_allclose(total[name], value, rtol=1e-12, err_msg=name)


def test_kernels_read_float32_as_float64():
    """float32 input is read as is and accumulated in float64: the same sums as its float64 copy."""
    p, r = (a.values.astype(np.float32) for a in pair(shape=(2, 3, 40, 36), seed=13))
    a = kernel_sums(p, r, None, (0, 40, 0, 36))
    b = kernel_sums(p.astype(np.float64), r.astype(np.float64), None, (0, 40, 0, 36))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_float32_numpy_input_is_not_copied():
    """No float64 (or other full-size) copy of a float32 NumPy cube is made."""
    import tracemalloc

    pred, ref = (a.astype(np.float32) for a in pair(shape=(1, 4, 256, 256), seed=14))
    metrics(pred.isel(y=slice(0, 40)), ref.isel(y=slice(0, 40)), METRICS, red=1, nir=2)  # compile first
    tracemalloc.start()
    metrics(pred, ref, METRICS, red=1, nir=2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.25 * pred.nbytes


def test_degenerate_windows():
    """Constant images: UIQI is the luminance term (1 when both are zero), SSIM its C-stabilised form."""
    shape = (1, 2, 40, 40)
    half, quarter = (xr.DataArray(np.full(shape, c), dims=DIMS) for c in (0.5, 0.25))
    ds = metrics(half, quarter, ["uiqi", "ssim"])
    np.testing.assert_allclose(ds.uiqi, 2 * 0.5 * 0.25 / (0.5**2 + 0.25**2), rtol=1e-12)
    c1 = 1e-4
    np.testing.assert_allclose(ds.ssim, (2 * 0.5 * 0.25 + c1) / (0.5**2 + 0.25**2 + c1), rtol=1e-12)
    zero = xr.zeros_like(half)
    np.testing.assert_array_equal(metrics(zero, zero, ["uiqi"]).uiqi, 1.0)


def test_masks_of_fewer_dims_equal_their_broadcast():
    pred, ref = pair(seed=15)
    rng = np.random.default_rng(15)
    for dims, shape in [(("y", "x"), (48, 52)), (("band", "y", "x"), (3, 48, 52)), (("time",), (2,))]:
        valid = xr.DataArray(rng.random(shape) > 0.02, dims=dims)
        full = valid.broadcast_like(pred).transpose(*DIMS).copy()
        xr.testing.assert_allclose(
            metrics(pred, ref, valid=valid), metrics(pred, ref, valid=full), rtol=1e-12
        )
        chunked = metrics(pred.chunk(y=20), ref.chunk(y=20), valid=valid).compute()
        xr.testing.assert_allclose(chunked, metrics(pred, ref, valid=full), rtol=1e-10)
