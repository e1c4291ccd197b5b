"""Real scenes for sharpening: band order of the DSen2 .mat files, nesting of the reader's cubes."""

from __future__ import annotations

import numpy as np
import pytest

from xharm.sharpening.data import BANDS, read_dsen2_mat, scene_from_cubes, scene_to_cubes


def test_dsen2_mat_band_order(real_data):
    path = real_data / "dsen2_s2_l1c_patches" / "S2A_MSIL1C_20170527_T33UUB.mat"
    if not path.is_file():
        pytest.skip("DSen2 patches missing")
    s = read_dsen2_mat(path)
    assert {r: a.shape for r, a in s.items()} == {10: (4, 600, 600), 20: (6, 300, 300), 60: (2, 100, 100)}
    m = s[10].mean(axis=(1, 2))
    # SOURCE.md: im10 means (DN) 790 / 1020 / 1003 / 3544 for B4, B3, B2, B8
    np.testing.assert_allclose(m, [0.1003, 0.1020, 0.0790, 0.3544], atol=2e-4)
    assert s[20][BANDS[20].index("B8A")].mean() > s[20][BANDS[20].index("B12")].mean()


def test_reader_cubes_to_scene_and_back():
    rng = np.random.default_rng(0)
    s = {10: rng.random((4, 12, 18)), 20: rng.random((6, 6, 9)), 60: rng.random((2, 2, 3))}
    cubes = scene_to_cubes(s)
    back = scene_from_cubes({float(k): v for k, v in cubes.items()})
    for r in s:
        np.testing.assert_allclose(back[r], s[r], rtol=1e-6)
    assert cubes[60].odc.geobox.resolution.x == 60 and cubes[10].attrs["processing_level"] == "L1C"
