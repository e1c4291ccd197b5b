"""Wald scores and reduced scenes, checked against hand-computed values."""

from __future__ import annotations

import numpy as np

from xharm.sharpening.wald import consistency_rmse, reduced_scene, scores


def test_scores_by_hand():
    ref = np.array([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]])
    pred = ref.copy()
    pred[0, 0, 0] = 2.0
    s = scores(pred, ref, ["a", "b"])
    assert s["rmse"]["a"] == 0.5 and s["rmse"]["b"] == 0.0
    assert np.isclose(s["sre"]["a"], 10 * np.log10(2.5**2 / 0.25))
    # pixel (0, 0): vectors (2, 1) vs (1, 1)
    ang = np.degrees(np.arccos(3 / (np.sqrt(5) * np.sqrt(2))))
    assert np.isclose(s["sam"], ang / 4)
    mp, mt = pred[0].mean(), ref[0].mean()
    cov = np.mean((pred[0] - mp) * (ref[0] - mt))
    assert np.isclose(s["uiqi"]["a"], 4 * cov * mp * mt / ((pred[0].var() + ref[0].var()) * (mp**2 + mt**2)))


def test_reduced_scene_shapes_and_consistency():
    rng = np.random.default_rng(0)
    s = {10: rng.random((4, 50, 50)), 20: rng.random((6, 25, 25)), 60: rng.random((2, 8, 8))}
    inp, truth = reduced_scene(s, 2)
    assert inp[10].shape == (4, 24, 24) and inp[20].shape == (6, 12, 12) and truth.shape == (6, 24, 24)
    assert consistency_rmse(np.repeat(np.repeat(truth, 2, -2), 2, -1), truth, 2) > 0
