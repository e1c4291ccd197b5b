"""Is the Monte-Carlo dropout uncertainty larger where the model is wrong?

Simulates a paired S2/L8 series (:mod:`xharm.simulate`), harmonizes the S2 dates with
``xharm.to_landsat(..., uncertainty=True)`` and compares, over the S2-clear 30 m pixels,
the predicted standard deviation with the absolute error against the simulated
Landsat-8 truth (same date, registered, clear). Prints Spearman's rank correlation
(pooled over every date/band/pixel, per band, and per pixel with std and error averaged
over bands) and the mean absolute error in the lowest and highest std deciles.

A positive correlation means the layer ranks pixels by how wrong the model is. With a
random-weight model (``--tiny``, mechanics only) the number means nothing.

Usage::

    python examples/reports/uncertainty_check.py [--model mgan-starter] [--size-km 6] [--dates 4]
        [--samples 10] [--seed 11] [--json out.json]
    python examples/reports/uncertainty_check.py --tiny --size-km 1.2 --dates 2 --samples 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def tiny_model() -> str:
    """A random-weight tiny MGAN in a temp folder (for checking the script's mechanics)."""

    from xharm import zoo
    from xharm.models.mgan import MGANConfig, init_generator

    cfg = MGANConfig.tiny()
    params = init_generator(cfg)
    path = Path(tempfile.mkdtemp()) / "tiny-mgan"
    zoo.save_model(path, params, cfg, meta={"training_data": "none (random weights)"})
    return str(path)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model name or folder (default: the bundled mgan-starter)")
    ap.add_argument("--tiny", action="store_true", help="use a random-weight tiny model (mechanics only)")
    ap.add_argument("--size-km", type=float, default=6.0)
    ap.add_argument("--dates", type=int, default=4)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--chunk", type=int, default=256, help="output chunk side (30 m px)")
    ap.add_argument("--json", help="write the figures as JSON")
    args = ap.parse_args(argv)

    from scipy.stats import spearmanr

    import xharm
    from xharm import simulate
    from xharm.core.grid import mask_to_grid

    model = tiny_model() if args.tiny else args.model
    t0 = time.perf_counter()
    ps = simulate.pair_series(n_dates=args.dates, size_km=args.size_km, seed=args.seed, lazy=False)
    t_sim = time.perf_counter() - t0
    s2 = {10: ps.s2_10m.chunk({"time": 1}), 20: ps.s2_20m.chunk({"time": 1})}
    chunks = {"time": 1, "y": args.chunk, "x": args.chunk}

    t0 = time.perf_counter()
    # the S2 clear mask, as users pass it: cloudy inputs stay out of the generator
    det = xharm.to_landsat(s2, model=model, chunks=chunks, valid=ps.s2_valid).compute()
    t_det = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = xharm.to_landsat(
        s2, model=model, chunks=chunks, valid=ps.s2_valid, uncertainty=True, samples=args.samples
    ).compute()
    t_unc = time.perf_counter() - t0
    assert np.array_equal(det.values, out.values, equal_nan=True), "uncertainty changed the prediction"

    bands = out["band"].values.tolist()
    truth = ps.l8_truth.sel(band=bands).assign_coords(time=out["time"].values)
    valid = mask_to_grid(ps.s2_valid, out.odc.geobox).values[:, None]  # (T, 1, Y, X)
    err = np.abs(out.values - truth.values)
    std = out["uncertainty"].values
    ok = valid & np.isfinite(err) & np.isfinite(std)

    def rho(a: np.ndarray, b: np.ndarray) -> float:
        return float(spearmanr(a, b).statistic)

    pooled = rho(std[ok], err[ok])
    per_band = {b: rho(std[:, i][ok[:, i]], err[:, i][ok[:, i]]) for i, b in enumerate(bands)}
    pix_ok = ok.all(1)
    per_pixel = rho(std.mean(1)[pix_ok], err.mean(1)[pix_ok])
    s, e = std[ok], err[ok]
    lo, hi = np.quantile(s, [0.1, 0.9])
    mae_lo, mae_hi = float(e[s <= lo].mean()), float(e[s >= hi].mean())

    res = {
        "model": out.attrs["model"],
        "model_checksum": out.attrs["model_checksum"],
        "scene": {"size_km": args.size_km, "dates": args.dates, "seed": args.seed},
        "samples": args.samples,
        "valid_fraction": float(pix_ok.mean()),
        "spearman_pooled": pooled,
        "spearman_per_band": per_band,
        "spearman_per_pixel_band_mean": per_pixel,
        "mae_lowest_std_decile": mae_lo,
        "mae_highest_std_decile": mae_hi,
        "mean_std": float(s.mean()),
        "mean_abs_error": float(e.mean()),
        "seconds": {"simulate": t_sim, "deterministic": t_det, "with_uncertainty": t_unc},
    }
    print(f"model {res['model']} ({res['model_checksum'][:19]}...), {args.samples} MC-dropout samples")
    print(f"scene {args.size_km:g} km x {args.size_km:g} km, {args.dates} dates, seed {args.seed}; "
          f"{res['valid_fraction']:.0%} of pixels S2-clear")  # fmt: skip
    print(f"Spearman(std, |error|) pooled over date/band/pixel: {pooled:+.3f}")
    print("  per band: " + ", ".join(f"{b} {v:+.3f}" for b, v in per_band.items()))
    print(f"  per pixel (band means): {per_pixel:+.3f}")
    print(f"mean |error| in the lowest / highest std decile: {mae_lo:.4f} / {mae_hi:.4f} "
          f"(ratio {mae_hi / mae_lo:.2f})")  # fmt: skip
    print(f"mean std {res['mean_std']:.4f}, mean |error| {res['mean_abs_error']:.4f}")
    print(f"time: deterministic {t_det:.1f} s, with uncertainty {t_unc:.1f} s "
          f"(x{t_unc / t_det:.1f}; expected about x{args.samples + 1})")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
        print(f"wrote {args.json}")
    return res


if __name__ == "__main__":
    main()
