"""Tests of xharm.downstream: label regrid, block split, gap filling, crop mapping."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from xharm.core.cube import make_cube
from xharm.downstream import (
    TEST,
    TRAIN,
    UNUSED,
    block_ids,
    block_mode,
    block_split,
    crop_mapping,
    fill_gaps,
    labels_to_grid,
    scores_from_confusion,
)
from xharm.exceptions import DimensionError, GridError, UnitsError

X0, Y1 = 600000.0, 5000040.0
CLASSES = {"1": "wheat", "2": "maize", "3": "rapeseed", "4": "grassland"}


def _g(res: float, n: int) -> GeoBox:
    return GeoBox((n, n), Affine(res, 0, X0, 0, -res, Y1), "EPSG:32632")


def _labels10(codes30: np.ndarray) -> xr.DataArray:
    """10 m labels whose 3x3 blocks are pure copies of a 30 m code raster."""
    lab = np.repeat(np.repeat(codes30, 3, 0), 3, 1).astype(np.uint8)
    return xr.DataArray(
        lab, dims=("y", "x"), coords=xr_coords(_g(10, lab.shape[0])), attrs={"classes": CLASSES}
    )


def _planted(n: int = 48, field: int = 6, seed: int = 0, gaps: float = 0.0):
    """A 30 m series of 4 dates x 3 bands; each 6x6 field has one class with its own profile."""
    rng = np.random.default_rng(seed)
    nf = n // field
    codes = rng.integers(1, 5, size=(nf, nf))
    codes30 = np.repeat(np.repeat(codes, field, 0), field, 1)
    # class profiles (time, band): separated by >= 0.1 reflectance on several dates
    prof = {
        1: [[0.05, 0.08, 0.30], [0.04, 0.10, 0.45], [0.10, 0.15, 0.25], [0.12, 0.16, 0.20]],
        2: [[0.12, 0.16, 0.20], [0.10, 0.14, 0.22], [0.04, 0.08, 0.50], [0.05, 0.09, 0.40]],
        3: [[0.06, 0.12, 0.35], [0.15, 0.20, 0.30], [0.05, 0.08, 0.35], [0.10, 0.14, 0.25]],
        4: [[0.05, 0.09, 0.32], [0.05, 0.09, 0.35], [0.05, 0.09, 0.33], [0.05, 0.09, 0.34]],
    }
    data = np.stack([np.asarray(prof[int(c)]) for c in codes30.ravel()]).reshape(n, n, 4, 3)
    data = data.transpose(2, 3, 0, 1) + rng.normal(0, 0.01, (4, 3, n, n))
    valid = rng.random((4, n, n)) >= gaps
    data = np.where(valid[:, None], data, np.nan)
    times = pd.date_range("2021-04-01", periods=4, freq="45D")
    cube = make_cube(data, geobox=_g(30, n), bands=["B2", "B3", "B5"], sensor="landsat-8", time=times)
    vmask = xr.DataArray(valid, dims=("time", "y", "x"), coords={"time": cube.time, **xr_coords(_g(30, n))})
    return cube, codes30.astype(np.uint8), vmask


# --------------------------------------------------------------------------- labels


def test_block_mode_known_values_ties_and_purity():
    a = np.array(
        [
            [1, 1, 1, 2, 2, 3],
            [1, 1, 1, 2, 3, 3],
            [1, 1, 9, 4, 4, 3],
        ],
        dtype=np.uint8,
    )
    # block 0: eight 1s, one 9 -> 1 (purity 8/9); block 1: 2,2,3,2,3,3,4,4,3 -> 3 (4 of 9)
    assert block_mode(a, 3).tolist() == [[1, 3]]
    assert block_mode(a, 3, min_purity=0.5).tolist() == [[1, 0]]
    tie = np.array([[5, 5], [2, 2]], dtype=np.uint8)  # 2 vs 5, two each: smallest wins
    assert block_mode(tie, 2).tolist() == [[2]]


def test_labels_to_grid_offset_and_dask_equal_numpy():
    rng = np.random.default_rng(3)
    lab = rng.integers(1, 6, size=(18, 18)).astype(np.uint8)
    src = xr.DataArray(lab, dims=("y", "x"), coords=xr_coords(_g(10, 18)), attrs={"classes": CLASSES})
    # target: 30 m grid starting one 30 m pixel in (x) and two down (y), 3x4 pixels
    g30 = GeoBox((3, 4), Affine(30, 0, X0 + 30, 0, -30, Y1 - 60), "EPSG:32632")
    out = labels_to_grid(src, g30)
    expected = np.empty((3, 4), np.uint8)
    for i in range(3):
        for j in range(4):
            blk = lab[6 + 3 * i : 9 + 3 * i, 3 + 3 * j : 6 + 3 * j].ravel()
            counts = np.bincount(blk, minlength=8)
            expected[i, j] = int(np.argmax(counts))  # argmax: first max = smallest code
    np.testing.assert_array_equal(out.values, expected)
    assert out.odc.geobox == g30 and out.dtype == np.uint8 and out.attrs["classes"] == CLASSES
    lazy = labels_to_grid(src.chunk({"y": 7, "x": 5}), g30)
    assert isinstance(lazy.data, da.Array)
    np.testing.assert_array_equal(lazy.values, expected)


def test_labels_to_grid_errors():
    lab = xr.DataArray(np.ones((6, 6), np.uint8), dims=("y", "x"), coords=xr_coords(_g(10, 6)))
    with pytest.raises(GridError, match="footprint"):
        labels_to_grid(lab, _g(30, 3))
    with pytest.raises(GridError):
        labels_to_grid(lab, GeoBox((1, 1), Affine(30, 0, X0 + 5, 0, -30, Y1), "EPSG:32632"))
    with pytest.raises(UnitsError, match="integer"):
        labels_to_grid(lab.astype("float32"), _g(30, 2))
    with pytest.raises(DimensionError):
        labels_to_grid(lab.expand_dims(time=1), _g(30, 2))


# --------------------------------------------------------------------------- split


def test_block_split_disjoint_whole_blocks_buffer_and_seeded():
    like = xr.DataArray(np.zeros((40, 50)), dims=("y", "x"))
    s = block_split(like, blocks=(4, 5), test_fraction=0.3, buffer=2, seed=7)
    m = s.values
    ids = block_ids((40, 50), (4, 5))
    np.testing.assert_array_equal(s["block_id"].values, ids)
    test_blocks = set(s.attrs["test_blocks"])
    assert len(test_blocks) == 6  # round(0.3 * 20)
    # test pixels are exactly the test blocks; no block holds both train and test pixels
    np.testing.assert_array_equal(m == TEST, np.isin(ids, list(test_blocks)))
    for b in range(20):
        vals = set(np.unique(m[ids == b]).tolist())
        assert not ({TRAIN, TEST} <= vals)
    # every train pixel is more than 2 pixels (Chebyshev) from every test pixel
    ty, tx = np.nonzero(m == TEST)
    for y, x in zip(*np.nonzero(m == TRAIN), strict=True):
        assert np.max(np.stack([np.abs(ty - y), np.abs(tx - x)]), axis=0).min() > 2
    # the pixels dropped are exactly those within the buffer
    assert (m == UNUSED).sum() > 0
    np.testing.assert_array_equal(block_split(like, blocks=(4, 5), buffer=2, seed=7).values, m)
    assert not np.array_equal(block_split(like, blocks=(4, 5), buffer=2, seed=8).values, m)


def test_block_ids_sizes():
    ids = block_ids((10, 7), (3, 2))  # row edges round(0, 3.33, 6.67, 10) = 0, 3, 7, 10; cols 0, 4, 7
    assert np.bincount(ids[:, 0] // 2).tolist() == [3, 4, 3]
    assert np.bincount(ids[0]).tolist() == [4, 3]
    with pytest.raises(DimensionError):
        block_ids((4, 4), (5, 1))


# --------------------------------------------------------------------------- gaps


def test_fill_gaps_matches_np_interp_with_flat_ends():
    rng = np.random.default_rng(1)
    days = np.array([0.0, 10, 16, 40, 41, 90])
    vals = rng.random((50, 6, 2)).astype(np.float32)
    ok = rng.random((50, 6)) > 0.4
    ok[:, 2] |= ~ok.any(1)  # every pixel has a valid date
    out = fill_gaps(vals, ok, days)
    for p in range(50):
        for b in range(2):
            exp = np.interp(days, days[ok[p]], vals[p, ok[p], b])  # np.interp holds the ends
            np.testing.assert_allclose(out[p, :, b], exp, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- scores


def test_scores_from_confusion_by_hand():
    cm = np.array([[50, 10, 0], [5, 30, 5], [0, 0, 0]])
    pa, ua, f1, oa, kappa = scores_from_confusion(cm)
    np.testing.assert_allclose(pa[:2], [50 / 60, 30 / 40])
    assert np.isnan(pa[2]) and ua[2] == 0.0
    np.testing.assert_allclose(ua[:2], [50 / 55, 30 / 40])
    np.testing.assert_allclose(f1[0], 2 * (50 / 60) * (50 / 55) / (50 / 60 + 50 / 55))
    assert oa == pytest.approx(80 / 100)
    pe = (60 * 55 + 40 * 40 + 0 * 5) / 100**2
    assert kappa == pytest.approx((0.8 - pe) / (1 - pe))


# --------------------------------------------------------------------------- crop mapping


@pytest.fixture(scope="module")
def planted():
    return _planted(gaps=0.15)


@pytest.fixture(scope="module")
def planted_result(planted):
    cube, codes30, valid = planted
    return crop_mapping(
        cube, _labels10(codes30), valid=valid, blocks=(4, 4), max_train_per_class=80, cv=3, seed=0
    )


def test_crop_mapping_recovers_planted_classes(planted, planted_result):
    cube, codes30, _ = planted
    r = planted_result
    assert r.overall_accuracy > 0.95
    assert list(r.table.index) == ["wheat", "maize", "rapeseed", "grassland"]
    assert list(r.table.columns) == ["code", "PA", "UA", "F1", "support", "n_train"]
    assert (r.table["n_train"] <= 80).all() and (r.table["PA"] > 0.9).all()
    # the table and OA agree with the confusion matrix and with the map on the test blocks
    cm = r.confusion.values
    assert cm.sum() == r.table["support"].sum() == r.info["n_test"]
    test = (r.split.values == TEST) & (r.prediction.values != 0)
    assert np.mean(r.prediction.values[test] == codes30[test]) == pytest.approx(r.overall_accuracy)
    assert r.confusion.dims == ("reference", "predicted")
    assert r.prediction.odc.geobox == cube.odc.geobox
    assert r.info["filled_fraction"] > 0.1  # cloudy dates were filled, not dropped


def test_crop_mapping_split_has_no_pixel_in_both(planted_result):
    s = planted_result.split
    assert set(np.unique(s.values).tolist()) <= {UNUSED, TRAIN, TEST}
    ids = s["block_id"].values
    for b in np.unique(ids):
        assert not ({TRAIN, TEST} <= set(np.unique(s.values[ids == b]).tolist()))


def test_crop_mapping_reproducible_for_a_seed(planted, planted_result):
    cube, codes30, valid = planted
    kw = dict(valid=valid, blocks=(4, 4), max_train_per_class=80, cv=3)
    again = crop_mapping(cube, _labels10(codes30), seed=0, **kw)
    pd.testing.assert_frame_equal(again.table, planted_result.table)
    np.testing.assert_array_equal(again.prediction.values, planted_result.prediction.values)
    assert again.best_params == planted_result.best_params
    other = crop_mapping(cube, _labels10(codes30), seed=1, **kw)
    assert not np.array_equal(other.split.values, planted_result.split.values)


def test_crop_mapping_30m_labels_classes_and_valid_coord(planted):
    cube, codes30, valid = planted
    lab30 = xr.DataArray(
        codes30, dims=("y", "x"), coords={"y": cube.y, "x": cube.x}, attrs={"classes": CLASSES}
    )
    with_coord = cube.assign_coords(valid=valid)  # like the output of baselines.to_landsat
    r = crop_mapping(
        with_coord,
        lab30,
        exclude=["grassland"],
        blocks=(4, 4),
        max_train_per_class=60,
        cv=3,
        predict_map=False,
    )
    assert list(r.table["code"]) == [1, 2, 3]
    assert set(np.unique(r.prediction.values)) <= {0, 1, 2, 3}
    assert (r.prediction.values[r.split.values != TEST] == 0).all()
    r2 = crop_mapping(cube, lab30, classes=[2, "wheat"], blocks=(4, 4), max_train_per_class=60, cv=3)
    assert list(r2.table.index) == ["maize", "wheat"]


def test_crop_mapping_input_errors(planted):
    cube, codes30, _ = planted
    lab = _labels10(codes30)
    with pytest.raises(DimensionError):
        crop_mapping(cube.transpose("band", "time", "y", "x"), lab)
    with pytest.raises(KeyError, match="barley"):
        crop_mapping(cube, lab, classes=["barley"])
    with pytest.raises(UnitsError):
        crop_mapping(cube, lab.astype("float32"))
    with pytest.raises(DimensionError, match="dates"):
        crop_mapping(cube, lab, valid=xr.ones_like(cube.isel(band=0, time=[0]), dtype=bool))


def test_plot_confusion_returns_figure(planted_result, tmp_path):
    from matplotlib.figure import Figure

    path = tmp_path / "cm.png"
    fig = planted_result.plot_confusion(path)
    assert isinstance(fig, Figure) and path.stat().st_size > 1000
    assert len(fig.axes[0].texts) == 16
