"""The DSen2 starter recipe (``python -m xharm.sharpening.starter``): its scene bookkeeping."""

from __future__ import annotations

import pytest

from xharm.exceptions import ArgumentError
from xharm.sharpening.starter import TEST_SCENES, TRAIN_SCENES, main


def test_the_default_held_out_scene_is_not_trained_on():
    assert not {s.split("_")[-1] for s in TEST_SCENES} & {s.split("_")[-1] for s in TRAIN_SCENES}


def test_a_scene_both_trained_on_and_held_out_is_refused_before_any_work(tmp_path):
    with pytest.raises(ArgumentError, match="both trained on and held out"):
        main(["--scenes", TRAIN_SCENES[0], "--held-out", TRAIN_SCENES[0], "--out", str(tmp_path / "m")])
    assert not (tmp_path / "m").exists()


def test_a_patch_that_does_not_fit_the_scale_is_refused_with_a_fix(tmp_path):
    with pytest.raises(ArgumentError, match="--patch 30"):
        main(["--scale", "6", "--patch", "32", "--out", str(tmp_path / "m")])
