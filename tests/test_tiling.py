"""TileSpec arithmetic and cut/stitch round trips (grids: test_grid.py; windows: test_apply.py)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox

from xharm.engine.tiling import TileSpec, cut_patches, stitch
from xharm.exceptions import GridError
from xharm.spec import mgan_spec


def _g(h, w, res, x0=600000.0, y0=5000040.0, crs="EPSG:32632"):
    return GeoBox((h, w), Affine(res, 0.0, x0, 0.0, -res, y0), crs)


def test_mgan_geometry():
    t = TileSpec.from_spec(mgan_spec())
    assert (t.patch, t.stride, t.buffer, t.keep, t.quantum) == (128, 64, 32, 64, 2)
    assert t.factor("s2_10m") == 3 and t.factor("s2_20m") == Fraction(3, 2)
    assert [t.patch_px(n) for n in t.names] == [384, 192]
    assert [t.buffer_px(n) for n in t.names] == [96, 48]
    train = TileSpec.from_spec(mgan_spec(), stride=64, buffer=0)
    assert train.inside_starts(300).tolist() == [0, 64, 128]
    assert t.cover_starts(130).tolist() == [-32, 32, 96]  # kept centres [0, 64), [64, 128), [128, 192)
    assert t.padded(130) == 192 and t.chunk(100) == 128 and t.chunk(10) == 64


def test_odd_lengths_are_refused():
    t = TileSpec.from_spec(mgan_spec())
    with pytest.raises(GridError, match="whole number"):
        t.to_input("s2_20m", 5)
    with pytest.raises(GridError, match="multiple of 2"):
        TileSpec(t.factors, 128, 63, 0)
    with pytest.raises(GridError):
        TileSpec(t.factors, 128, 64, 64)


def test_cut_patches_positions():
    img = np.arange(2 * 10 * 12 * 3, dtype=np.float32).reshape(2, 10, 12, 3)
    p = cut_patches(img, 4, 3)
    assert p.shape == (2 * 3 * 3, 4, 4, 3)
    # patch (t=1, row 2, col 1) starts at (6, 3)
    np.testing.assert_array_equal(p[1 * 9 + 2 * 3 + 1], img[1, 6:10, 3:7])


@pytest.mark.parametrize("patch,buffer", [(8, 2), (6, 1), (4, 0)])
def test_cut_then_stitch_is_identity(patch, buffer):
    keep = patch - 2 * buffer
    img = np.random.default_rng(0).random((2, 3 * keep, 5 * keep, 2)).astype(np.float32)
    padded = np.pad(img, ((0, 0), (buffer, buffer), (buffer, buffer), (0, 0)), constant_values=np.nan)
    out = stitch(cut_patches(padded, patch, keep), (2, 3, 5), buffer)
    np.testing.assert_array_equal(out, img)
