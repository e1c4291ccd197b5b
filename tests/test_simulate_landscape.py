"""Tests of xharm.simulate.landscape."""

from __future__ import annotations

import numpy as np

from xharm.simulate import landscape as ls


def test_deterministic_and_seed_dependent() -> None:
    a, b = ls.make_landscape((120, 150), seed=4), ls.make_landscape((120, 150), seed=4)
    c = ls.make_landscape((120, 150), seed=5)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.texture, b.texture)
    assert not np.array_equal(a.labels, c.labels)


def test_every_class_in_a_2km_scene() -> None:
    land = ls.make_landscape((200, 200), seed=0)
    assert set(np.unique(land.labels).tolist()) == set(ls.CLASSES)
    assert land.labels.dtype == np.uint8 and land.field_id.dtype == np.int32


def test_fields_are_rectangles() -> None:
    land = ls.make_landscape((200, 200), seed=1)
    for f in np.unique(land.field_id)[:50]:
        yy, xx = np.nonzero(land.field_id == f)
        assert (yy.max() - yy.min() + 1) * (xx.max() - xx.min() + 1) == yy.size


def test_texture_and_urban_layers() -> None:
    land = ls.make_landscape((240, 240), seed=2)
    assert abs(float(land.texture.mean()) - 1.0) < 0.05
    urban = land.labels == ls.CLASS_CODES["urban"]
    assert np.all(land.urban_green[~urban] == 0) and land.urban_green[urban].max() <= 0.9
    assert land.urban_material.max() < len(ls.URBAN_STREETS) + len(ls.URBAN_BLOCKS)


def test_fractal_noise_statistics() -> None:
    n = ls.fractal_noise((128, 96), np.random.default_rng(0), beta=3.0)
    assert n.shape == (128, 96) and abs(float(n.mean())) < 1e-5 and abs(float(n.std()) - 1) < 1e-4
    smooth = ls.fractal_noise((128, 128), np.random.default_rng(0), beta=4.0)
    rough = ls.fractal_noise((128, 128), np.random.default_rng(0), beta=1.0)
    # steeper spectrum -> neighbours more alike
    assert np.abs(np.diff(smooth)).mean() < np.abs(np.diff(rough)).mean()
    up = ls.fractal_noise((64, 64), np.random.default_rng(1), coarsen=4)
    assert up.shape == (64, 64)
