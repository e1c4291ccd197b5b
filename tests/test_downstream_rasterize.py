"""Tests of xharm.downstream.rasterize: area-majority labels and parcel-edge flags on any grid."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox

from xharm import simulate
from xharm.downstream import area_majority, block_mode, parcel_labels
from xharm.exceptions import ArgumentError, CRSError, ProductError

RES = 30.0


def _layout(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A hand-made map (m, y down): a slanted boundary, a disc, a quarter block and two
    fields of one class that meet along x = 200 m (an edge between parcels, not classes)."""
    code = np.where(y < 0.4 * x + 20.0, 1, 2)
    parcel = code.copy()
    disc = (x - 150.0) ** 2 + (y - 170.0) ** 2 < 40.0**2
    code, parcel = np.where(disc, 3, code), np.where(disc, 3, parcel)
    quarter = (x > 43.0) & (x < 120.0) & (y > 103.0) & (y < 200.0)  # starts 13 m into a pixel
    code, parcel = np.where(quarter, 4, code), np.where(quarter, 4, parcel)
    field2 = (code == 2) & (x >= 200.0)
    return code, np.where(field2, 5, parcel)


def _brute_force(shape: tuple[int, int], n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel and class: share of an n x n point count (0.2 m spacing), and the parcels seen."""
    ny, nx = shape
    o = (np.arange(n) + 0.5) / n * RES
    shares = np.zeros((6, ny, nx))
    parcels = np.zeros((ny, nx), int)
    for i in range(ny):
        for j in range(nx):
            y, x = np.meshgrid(i * RES + o, j * RES + o, indexing="ij")
            code, parcel = _layout(x, y)
            shares[:, i, j] = np.bincount(code.ravel(), minlength=6) / code.size
            parcels[i, j] = np.unique(parcel).size
    return shares, parcels


def test_sixty_forty_goes_to_the_sixty_class_in_both_axes():
    def vertical(x, y):
        c = np.where(x < 18.0, 1, 2)  # first pixel: 60 % class 1
        return c, c

    def horizontal(x, y):
        c = np.where(y < 12.0, 1, 2)  # y runs down: top 40 % class 1, bottom 60 % class 2
        return c, c

    for samples in (9, 10):
        lab, edge, share = area_majority(vertical, (1, 2), (0.0, 0.0), RES, samples=samples)
        assert lab.tolist() == [[1, 2]] and edge.tolist() == [[True, False]]
        np.testing.assert_allclose(share, [[0.6, 1.0]], atol=1 / samples)
        lab, _, share = area_majority(horizontal, (2, 1), (0.0, 0.0), RES, samples=samples)
        assert lab.tolist() == [[2], [2]]
        np.testing.assert_allclose(share, [[0.6], [1.0]], atol=1 / samples)


def test_area_majority_matches_a_brute_force_count():
    shape = (8, 9)
    lab, edge, share = area_majority(_layout, shape, (0.0, 0.0), RES, samples=10, rows_per_pass=3)
    shares, parcels = _brute_force(shape)
    top2 = np.sort(shares, axis=0)[-2:]
    clear = top2[1] - top2[0] > 0.1  # the 10 x 10 lattice resolves these for sure
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(lab[clear], shares.argmax(0)[clear])
    assert np.abs(share - top2[1]).max() < 0.08
    # pixel (3, 1) spans x 30-60, y 90-120: its centre (45, 105) is in the class-4 block,
    # which covers only 17 x 17 m of it; the rest is class 2
    assert _layout(np.array([45.0]), np.array([105.0]))[0][0] == 4
    assert lab[3, 1] == 2 and abs(shares[4, 3, 1] - 17.0**2 / 900) < 0.01
    # edge flag: more than one parcel, including two fields of the same class
    minority = 1 - np.sort(shares, axis=0)[-1]
    sure = (parcels == 1) | (minority > 0.05)
    np.testing.assert_array_equal(edge[sure], (parcels > 1)[sure])
    same_class = (parcels > 1) & (np.count_nonzero(shares > 0, axis=0) == 1)
    assert same_class.any() and edge[same_class].all()


def test_majority_is_by_area_not_by_the_pixel_centre():
    def corner(x, y):  # class 1 in the square x, y > 13 m: the centre (15, 15) is in it
        c = np.where((x > 13.0) & (y > 13.0), 1, 2)
        return c, c

    lab, edge, share = area_majority(corner, (1, 1), (0.0, 0.0), RES, samples=30)
    assert corner(np.array([15.0]), np.array([15.0]))[0][0] == 1
    assert lab[0, 0] == 2 and edge[0, 0]
    assert abs(share[0, 0] - (1 - 17.0**2 / 900)) < 0.03


def test_samples_must_be_positive():
    with pytest.raises(ArgumentError):
        area_majority(_layout, (1, 1), (0.0, 0.0), RES, samples=0)


@pytest.fixture(scope="module")
def pairs():
    return simulate.pair_series(n_dates=1, size_km=1.2, seed=7, cloud_cover=0.0, lazy=False)


def test_interior_pixels_are_pure_blocks_of_the_10m_labels(pairs):
    lab = parcel_labels(pairs.s2_10m, pairs.l8.odc.geobox)
    assert lab.labels.dtype == np.uint8 and lab.labels.attrs["classes"]["1"] == "wheat"
    interior = ~lab.edge.values
    assert 0.2 < interior.mean() < 0.9
    np.testing.assert_array_equal(lab.share.values[interior], 1.0)
    ten = pairs.labels.values
    pure = block_mode(ten, 3, min_purity=1.0)
    # an interior 30 m pixel is inside one parcel; the 9 x 9 lattice holds its nine 10 m pixel
    # centres, so they are in that parcel too
    np.testing.assert_array_equal(pure[interior], lab.labels.values[interior])


def test_shift_moves_the_footprints_as_the_simulator_moves_the_content(pairs):
    g = pairs.l8.odc.geobox
    plain = parcel_labels(pairs.s2_10m, g).labels.values
    # content moved one pixel east: pixel j shows the ground of pixel j - 1
    east = parcel_labels(pairs.s2_10m, g, shift_m=(30.0, 0.0)).labels.values
    np.testing.assert_array_equal(east[:, 1:], plain[:, :-1])
    # content moved one pixel north: row i shows the ground of row i + 1 (rows run south)
    north = parcel_labels(pairs.s2_10m, g, shift_m=(0.0, 30.0)).labels.values
    np.testing.assert_array_equal(north[:-1], plain[1:])


def test_lazy_equals_eager_and_builds_without_computing(pairs, compute_counter):
    lazy_in = pairs.s2_10m.chunk({"y": 40})
    g = pairs.l8.odc.geobox
    lab = parcel_labels(lazy_in, g, rows_per_chunk=7)
    assert isinstance(lab.labels.data, da.Array) and compute_counter.calls == 0
    eager = parcel_labels(pairs.s2_10m, g)
    for k in ("labels", "edge", "share"):
        np.testing.assert_array_equal(lab[k].values, eager[k].values)


def test_bad_inputs(pairs):
    with pytest.raises(ProductError, match="not a simulated series"):
        parcel_labels(pairs.s2_10m.assign_attrs(simulated=None), pairs.l8.odc.geobox)
    other = GeoBox((4, 4), Affine(30, 0, 0, 0, -30, 0), "EPSG:32633")
    with pytest.raises(CRSError, match="another CRS"):
        parcel_labels(pairs.s2_10m, other)


def test_labels_moved_by_the_shift_fit_a_misregistered_landsat_series():
    """End to end: Landsat rendered one pixel east of the truth maps crops far better against
    labels moved by the drawn shift than against unmoved labels or labels moved the wrong way."""
    from xharm.downstream import CROPS, crop_mapping

    ps = simulate.pair_series(n_dates=4, size_km=1.8, seed=21, cloud_cover=0.0, misregistration=(30.0, 0.0))
    l8 = ps.l8.sel(band=["B2", "B3", "B4", "B5", "B6", "B7"])
    fast = {
        "blocks": (6, 6),
        "max_train_per_class": 100,
        "cv": 3,
        "param_grid": {"C": [10.0], "gamma": [1.0]},
    }
    oa = {}
    for name, shift in (("right", (30.0, 0.0)), ("none", (0.0, 0.0)), ("wrong", (-30.0, 0.0))):
        lab = parcel_labels(ps.s2_10m, ps.l8.odc.geobox, shift_m=shift).labels
        oa[name] = crop_mapping(l8, lab, classes=CROPS, seed=0, predict_map=False, **fast).overall_accuracy
    assert oa["right"] > oa["none"] + 0.05 and oa["none"] > oa["wrong"] + 0.05, oa
