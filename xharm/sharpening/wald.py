"""Wald-protocol evaluation of band sharpening on real scenes: RMSE, SRE, SAM, UIQI per band.

Reduced resolution (Wald et al. 1997; Lanaras et al. 2018, sec. 4): degrade every band of a
real scene by the scale with the MTF (:func:`xharm.sharpening.mtf.degrade`), sharpen the
degraded coarse bands back to the degraded 10 m grid, and score against the observed
coarse bands. Full resolution: sharpen the observed scene and check that degrading the
output reproduces the observed coarse bands (:func:`consistency_rmse`).

Scores, per band over the valid pixels: RMSE (reflectance), SRE in dB
(``10 log10(mean(ref)^2 / MSE)``, the signal-to-reconstruction error of Lanaras et al.),
UIQI (Wang & Bovik 2002, over the whole image); overall: SAM in degrees (mean spectral
angle over pixels) and RMSE over all bands. NumPy only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .mtf import DEFAULT_MTF, degrade

__all__ = ["consistency_rmse", "reduced_scene", "scores", "wald_table"]

Scene = Mapping[int, np.ndarray]


def reduced_scene(
    scene: Scene, scale: int, *, mtf: float = DEFAULT_MTF
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """``(inputs, truth)``: every band degraded by ``scale`` (keyed by its *nominal* grid) and the
    observed coarse bands (20 m for ``scale=2``, 60 m for 6) as truth, cropped to nest."""
    coarse = 20 if scale == 2 else 60
    res = [r for r in (10, 20, 60) if r in scene and (r <= coarse)]
    n = min(scene[r].shape[-2] * r // (coarse * scale) for r in res)
    m = min(scene[r].shape[-1] * r // (coarse * scale) for r in res)
    inputs = {}
    for r in res:
        f = coarse * scale // r
        inputs[r] = degrade(np.asarray(scene[r], np.float64)[:, : n * f, : m * f], scale, mtf=mtf).astype(
            np.float32
        )
    truth = np.asarray(scene[coarse], np.float32)[:, : n * scale, : m * scale]
    return inputs, truth


def scores(pred: np.ndarray, ref: np.ndarray, bands: Sequence[str]) -> dict[str, Any]:
    """Per-band RMSE, SRE, UIQI and overall SAM / RMSE of ``(C, H, W)`` arrays (NaN skipped).

    Examples
    --------
    >>> r = np.random.default_rng(0).random((2, 8, 8)) + 0.1
    >>> s = scores(r, r, ["B05", "B06"])
    >>> s["rmse"]["B05"], round(s["uiqi"]["B06"], 6), round(s["sam"], 6)
    (0.0, 1.0, 0.0)
    """
    p = np.asarray(pred, np.float64)
    t = np.asarray(ref, np.float64)
    ok = ~(np.isnan(p).any(0) | np.isnan(t).any(0))
    out: dict[str, Any] = {"rmse": {}, "sre": {}, "uiqi": {}}
    for i, b in enumerate(bands):
        pi, ti = p[i][ok], t[i][ok]
        mse = float(np.mean((pi - ti) ** 2))
        out["rmse"][b] = float(np.sqrt(mse))
        out["sre"][b] = float(10 * np.log10(np.mean(ti) ** 2 / mse)) if mse > 0 else float("inf")
        mp, mt = pi.mean(), ti.mean()
        vp, vt = pi.var(), ti.var()
        cov = float(np.mean((pi - mp) * (ti - mt)))
        out["uiqi"][b] = float(4 * cov * mp * mt / ((vp + vt) * (mp**2 + mt**2)))
    pv, tv = p[:, ok], t[:, ok]
    cos = (pv * tv).sum(0) / np.maximum(np.linalg.norm(pv, axis=0) * np.linalg.norm(tv, axis=0), 1e-30)
    out["sam"] = float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean())
    out["rmse_all"] = float(np.sqrt(np.mean((pv - tv) ** 2)))
    return out


def wald_table(
    scene: Scene,
    methods: Mapping[str, Callable[[Mapping[int, np.ndarray]], np.ndarray]],
    bands: Sequence[str],
    scale: int = 2,
    *,
    mtf: float = DEFAULT_MTF,
) -> dict[str, dict[str, Any]]:
    """Scores of each method at reduced resolution on one scene.

    Each method maps the degraded ``{10: ..., 20: ...[, 60: ...]}`` arrays to the sharpened
    ``(C, H, W)`` coarse bands on the degraded 10 m grid.
    """
    inputs, truth = reduced_scene(scene, scale, mtf=mtf)
    return {name: scores(fn(inputs), truth, bands) for name, fn in methods.items()}


def consistency_rmse(
    sharp: np.ndarray, observed: np.ndarray, scale: int, *, mtf: float = DEFAULT_MTF
) -> float:
    """RMSE between ``degrade(sharp)`` and the observed coarse bands (the full-resolution check)."""
    d = degrade(np.asarray(sharp, np.float64), scale, mtf=mtf) - np.asarray(observed, np.float64)
    return float(np.sqrt(np.nanmean(d**2)))
