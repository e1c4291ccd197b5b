"""extract_pairs: aligned multi-resolution training patches, masks, determinism, disjoint split."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from odc.geo.geobox import GeoBox

from xharm.core.cube import make_cube
from xharm.engine.pairs import extract_pairs
from xharm.exceptions import GridError, MissingBandError
from xharm.spec import mgan_spec

SPEC = mgan_spec(16)  # 48 / 24 / 16 px, training stride 8 (30 m px)
X0, Y0 = 600000.0, 5000000.0
TIMES = ["2021-06-01", "2021-06-11"]
H, W = 40, 48  # 30 m target grid, placed 60 m inside the S2 footprint


def _cube(res, bands, sensor, shape, x0, y0, chunks=None):
    """Band 0: distance (km) of the pixel centre below Y0; band 1: to the right of X0; others random."""
    nt = len(TIMES)
    ny, nx = shape
    yy = (Y0 - (y0 - (np.arange(ny) + 0.5) * res)) / 1000
    xx = ((x0 + (np.arange(nx) + 0.5) * res) - X0) / 1000
    data = np.random.default_rng(res).random((nt, len(bands), ny, nx)).astype(np.float32)
    data[:, 0] = yy[:, None]
    data[:, 1] = xx[None, :]
    gbox = GeoBox(shape, Affine(res, 0.0, x0, 0.0, -res, y0), "EPSG:32632")
    cube = make_cube(data, geobox=gbox, bands=bands, sensor=sensor, time=TIMES)
    return cube.chunk(chunks) if chunks else cube


def _scene(chunks=None):
    return {
        "s2_10m": _cube(10, ["B02", "B03", "B04", "B08"], "S2A", (3 * H + 12, 3 * W + 12), X0, Y0, chunks),
        "s2_20m": _cube(20, ["B11", "B12"], "S2A", (60 + 6, 72 + 6), X0, Y0, chunks),
        "l8": _cube(30, ["B2", "B3", "B4", "B5", "B6", "B7"], "landsat-8", (H, W), X0 + 60, Y0 - 60, chunks),
    }


def _all(stream):
    batches = list(stream)
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}, batches


def test_patches_are_aligned_across_resolutions():
    stream = extract_pairs(_scene(chunks={"y": 25, "x": 25}), SPEC, batch_size=7, normalize=False)
    # inside 40 x 48 at stride 8: 4 x 5 positions per time step
    assert stream.n_patches == 2 * 4 * 5 and stream.n_rejected == 0 and len(stream) == 6
    allp, batches = _all(stream)
    assert [len(b["l8"]) for b in batches] == [7] * 5 + [5]
    assert allp["s2_10m"].shape[1:] == (48, 48, 4) and allp["s2_20m"].shape[1:] == (24, 24, 2)
    assert allp["l8"].shape[1:] == (16, 16, 6) and allp["l8"].dtype == np.float32
    for axis in (0, 1):  # band 0: y distance of pixel centres, band 1: x distance
        top = {k: v[:, 0, 0, axis] * 1000 - res / 2 for (k, v), res in zip(allp.items(), (10, 20, 30))}
        np.testing.assert_allclose(top["s2_10m"], top["l8"], atol=1e-3)
        np.testing.assert_allclose(top["s2_20m"], top["l8"], atol=1e-3)
    # every position exactly once per epoch
    tops = sorted(
        zip(allp["l8"][:, 0, 0, 0].round(4), allp["l8"][:, 0, 0, 1].round(4), allp["l8"][:, 0, 0, 2])
    )
    assert len(set(tops)) == stream.n_patches


def test_invalid_patches_are_dropped():
    scene = _scene()
    valid = np.ones((2, H, W), bool)
    valid[0, 10:14, 20:30] = False  # cloud on the target grid, first date
    v20 = np.ones((2, 66, 78), bool)
    v20[1, 3, 3] = False  # one 20 m pixel on the second date (target rows/cols start at 20 m px 3)
    masks = {
        "l8": xr.DataArray(valid, dims=("time", "y", "x")),
        "s2_20m": xr.DataArray(v20, dims=("time", "y", "x")),
    }
    stream = extract_pairs(scene, SPEC, valid=masks, max_invalid=0.0, shuffle=False)
    expected = set()
    for t in range(2):
        for r in range(0, H - 16 + 1, 8):
            for c in range(0, W - 16 + 1, 8):
                bad = not valid[t, r : r + 16, c : c + 16].all()
                bad |= not v20[
                    t, 3 + r * 3 // 2 : 3 + (r + 16) * 3 // 2, 3 + c * 3 // 2 : 3 + (c + 16) * 3 // 2
                ].all()
                if not bad:
                    expected.add((t, r, c))
    assert {tuple(p) for p in stream.positions.tolist()} == expected
    assert stream.n_rejected == 40 - len(expected)
    loose = extract_pairs(scene, SPEC, valid=masks, max_invalid=0.2)
    assert loose.n_patches > stream.n_patches


def test_nan_counts_as_invalid():
    scene = _scene()
    x = scene["s2_10m"].values.copy()
    x[1, 2, 6 + 3 * 30, 6 + 3 * 40] = np.nan  # under target pixel (30, 40) of date 2
    scene["s2_10m"] = scene["s2_10m"].copy(data=x)
    stream = extract_pairs(scene, SPEC)
    hit = {
        (1, r, c) for r in range(0, 25, 8) for c in range(0, 33, 8) if r <= 30 < r + 16 and c <= 40 < c + 16
    }
    assert hit and not hit & {tuple(p) for p in stream.positions.tolist()}


def test_shuffling_is_deterministic():
    scene = _scene()
    first = lambda s: np.concatenate([b["l8"][:, 0, 0, :2] for b in s])  # noqa: E731
    a = extract_pairs(scene, SPEC, seed=3, shuffle_buffer=8)
    b = extract_pairs(scene, SPEC, seed=3, shuffle_buffer=8)
    c = extract_pairs(scene, SPEC, seed=4, shuffle_buffer=8)
    np.testing.assert_array_equal(first(a), first(b))
    np.testing.assert_array_equal(first(a), first(a))  # re-iterable
    assert not np.array_equal(first(a), first(c))
    assert not np.array_equal(first(a.iter_epoch(0)), first(a.iter_epoch(1)))
    assert sorted(map(tuple, first(a))) == sorted(map(tuple, first(c)))  # same patches, other order


def test_split_blocks_are_spatially_disjoint():
    scene = _scene()
    kw = dict(block=16, val_fraction=0.3, seed=1)
    tr = extract_pairs(scene, SPEC, split="train", **kw)
    va = extract_pairs(scene, SPEC, split="val", **kw)
    assert tr.n_patches > 0 and va.n_patches > 0
    cover = lambda s: {  # noqa: E731
        (r + i, c + j) for _, r, c in s.positions.tolist() for i in range(16) for j in range(16)
    }
    assert not cover(tr) & cover(va)


def test_errors():
    scene = _scene()
    with pytest.raises(MissingBandError, match="l8"):
        extract_pairs({k: v for k, v in scene.items() if k != "l8"}, SPEC)
    big = _cube(30, ["B2", "B3", "B4", "B5", "B6", "B7"], "landsat-8", (H + 30, W), X0 + 60, Y0 - 60)
    with pytest.raises(GridError, match="cover"):
        extract_pairs({**scene, "l8": big}, SPEC)
