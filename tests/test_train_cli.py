"""``xharm train`` entry point (train_main)."""

from __future__ import annotations

import json

import numpy as np

from xharm.train.cli import train_main
from xharm.train.config import TrainConfig
from xharm.train.data import save_patches


def test_train_main_runs_and_exports(tmp_path, capsys):
    rng = np.random.default_rng(0)
    s = TrainConfig.preset("tiny").model.input_shapes()
    save_patches(tmp_path / "p", {g: rng.uniform(0, 0.3, (8, *s[g])).astype(np.float32) for g in s})
    rc = train_main(
        [
            "tiny",
            "--data",
            str(tmp_path / "p"),
            "--out",
            str(tmp_path / "run"),
            "--max-steps",
            "1",
            "--set",
            "val_fraction=0",
            "--set",
            "epochs=2",
            "--no-progress",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["steps"] == 1 and (tmp_path / "run" / "model" / "spec.json").is_file()
    # the saved config is a valid CONFIG argument
    rc = train_main([str(tmp_path / "run" / "config.json"), "--data", "x", "--out", "y", "--print-config"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["epochs"] == 2


def test_train_main_errors(tmp_path, capsys):
    assert train_main(["tiny", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")]) == 2
    assert "no patch store" in capsys.readouterr().err
    assert train_main(["huge", "--data", "x", "--out", "y"]) == 2
    assert train_main(["tiny", "--data", "x", "--out", "y", "--set", "nope=1"]) == 2
