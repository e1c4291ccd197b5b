"""Evaluate the sharpening starters on held-out real scenes: ``python -m xharm.sharpening.report``.

Runs every method through :func:`xharm.sharpening.api.sharpen` (the same lazy engine users call):

* reduced resolution (Wald): per band RMSE / SRE / UIQI and overall SAM for the DSen2
  starter, bicubic and the high-pass-injection baseline;
* full resolution: RMSE between the degraded 10 m output and the observed coarse bands,
  without and with the consistency projection;
* a quicklook PNG (bicubic | sharpened | 10 m true colour) with ``--png``.

Prints Markdown tables; ``--json`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .api import sharpen
from .data import BANDS, scene_to_cubes
from .mtf import DEFAULT_MTF
from .starter import TEST_SCENES, load_scene
from .wald import consistency_rmse, reduced_scene, scores

__all__ = ["evaluate_scene", "main", "markdown"]

_METHODS = ("dsen2", "bicubic", "hpf")


def _run(
    inputs: Mapping[int, np.ndarray], method: str, scale: int, model: str | None, consistent: bool
) -> np.ndarray:

    bands = BANDS[20] if scale == 2 else BANDS[60]
    out = sharpen(
        scene_to_cubes(inputs),
        bands=bands,
        method=method,
        model=model,
        consistent=consistent,  # type: ignore[arg-type]
    )
    return np.asarray(out.values[0])


def evaluate_scene(
    scene: Mapping[int, np.ndarray], scale: int = 2, model: str | None = None
) -> dict[str, Any]:
    """Wald scores per method, and the full-resolution consistency RMSE with/without projection."""
    bands = BANDS[20] if scale == 2 else BANDS[60]
    coarse = 20 if scale == 2 else 60
    inputs, truth = reduced_scene(scene, scale)
    wald = {m: scores(_run(inputs, m, scale, model, False), truth, bands) for m in _METHODS}
    full = {}
    for m in _METHODS:
        rows = {}
        for c in (False, True):
            sharp = _run(scene, m, scale, model, c)
            obs = np.asarray(scene[coarse])[:, : sharp.shape[-2] // scale, : sharp.shape[-1] // scale]
            rows["projected" if c else "raw"] = consistency_rmse(sharp, obs, scale, mtf=DEFAULT_MTF)
        full[m] = rows
    return {"wald": wald, "full_resolution_consistency_rmse": full}


def markdown(result: Mapping[str, Any], bands: Sequence[str]) -> str:
    """The Wald scores and the consistency check as Markdown (RMSE in reflectance x 1e4).

    Per band cells read ``RMSE / SRE (dB) / UIQI``; SAM and RMSE over all bands per method.
    """
    head = "| method | " + " | ".join(bands) + " | RMSE all | SAM (deg) |"
    lines = [head, "|---" * (len(bands) + 3) + "|"]
    for m, s in result["wald"].items():
        cells = [f"{1e4 * s['rmse'][b]:.1f} / {s['sre'][b]:.2f} / {s['uiqi'][b]:.4f}" for b in bands]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {1e4 * s['rmse_all']:.1f} | {s['sam']:.3f} |")
    lines += ["", "| method | consistency RMSE raw (x1e4) | with projection (x1e4) |", "|---|---|---|"]
    for m, r in result["full_resolution_consistency_rmse"].items():
        lines.append(f"| {m} | {1e4 * r['raw']:.3f} | {1e4 * r['projected']:.2e} |")
    return "\n".join(lines)


def quicklook(scene: Mapping[int, np.ndarray], path: str | Path, model: str | None = None) -> None:
    """Bicubic | DSen2 starter | 10 m true colour, on a 150 x 150 px crop of the full-resolution scene."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    crop = {r: a[:, : 300 * 10 // r, : 300 * 10 // r] for r, a in scene.items()}
    bic = _run(crop, "bicubic", 2, None, False)
    net = _run(crop, "dsen2", 2, model, False)
    i = BANDS[20].index("B11")
    sl = (slice(60, 210), slice(60, 210))
    lo, hi = np.percentile(bic[i][sl], [1, 99])
    rgb = np.stack([crop[10][BANDS[10].index(b)] for b in ("B04", "B03", "B02")], -1)[sl]
    rgb = np.clip(rgb / np.percentile(rgb, 99), 0, 1)
    fig, ax = plt.subplots(1, 3, figsize=(12, 4.6))
    for a, img, title in zip(
        ax,
        (bic[i][sl], net[i][sl], rgb),
        ("B11 bicubic (20 m -> 10 m)", "B11 DSen2 starter (hpf-anchored)", "10 m B04 B03 B02"),
        strict=True,
    ):
        a.imshow(
            img,
            cmap=None if img.ndim == 3 else "gray",
            vmin=None if img.ndim == 3 else lo,
            vmax=None if img.ndim == 3 else hi,
        )
        a.set_title(title)
        a.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the evaluation of the bundled (or given) starter on the held-out scenes."""
    p = argparse.ArgumentParser(prog="python -m xharm.sharpening.report")
    p.add_argument("--data", default="../shared/data/real")
    p.add_argument("--scale", type=int, default=2, choices=(2, 6))
    p.add_argument("--model", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--png", default=None)
    p.add_argument("--scenes", nargs="+", default=list(TEST_SCENES), help="scenes to score (under --data)")
    a = p.parse_args(argv)
    bands = BANDS[20] if a.scale == 2 else BANDS[60]
    results = {}
    for name in a.scenes:
        scene = load_scene(a.data, name)
        res = evaluate_scene(scene, a.scale, a.model)  # type: ignore[arg-type]
        results[name] = res
        print(f"## {name}, {a.scale}x\n")
        print(markdown(res, bands))
        print()
        if a.png and a.scale == 2:
            quicklook(scene, a.png, a.model)  # type: ignore[arg-type]
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
