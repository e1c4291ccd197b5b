"""Realism of xharm.simulate v2: the tables of docs/simulate.md, and a quicklook per archetype.

Run: ``python examples/reports/simulate_realism.py [--quicklook docs/img]``

1. Texture (red, NIR at 10 m) of the real Level-1C samples (5-95 % over the eo-learn
   Slovenia scenes and 2.4 km tiles of 18SVG) next to simulated summer L1 scenes, one per
   archetype (``xharm.simulate.realism.texture_stats``).
2. Mixed 30 m cells on the Sentinel-2-aligned grid and on a grid shifted by (6, -4) m.
3. Same-day S2 (area-averaged to 30 m) vs Landsat discrepancy per band, and the structure of
   the residual after a per-band affine fit, against the raw-S2 row of Table IV
   (Sedona et al. 2021).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from xharm import simulate
from xharm.simulate import realism as rl
from xharm.simulate.landscape import ARCHETYPES, make_landscape
from xharm.simulate.parcels import mixed_fraction

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
TABLE_IV_RAW_S2 = {"B2": 285, "B3": 371, "B4": 393, "B5": 1344, "B6": 843, "B7": 607}


def texture_table() -> None:
    real = rl.real_texture(REAL)
    keys = ("power_lt60", "var_in30", "edge", "cv")
    print("1. texture at 10 m (L1C / TOA): real 5-95 % range, simulated 2021-06-25, 2.4 km, seed 0, clear")
    print("| band | statistic | real | " + " | ".join(ARCHETYPES) + " |")
    print("|---|---|---|" + "---|" * len(ARCHETYPES))
    sims = {
        a: simulate.scene("2021-06-25", size_km=2.4, seed=0, cloud_cover=0.0, level="L1", archetype=a).s2_10m
        for a in ARCHETYPES
    }
    for band in ("B04", "B08"):
        rr = rl.ranges(real[band]) if real else {}
        for k in keys:
            vals = [rl.texture_stats(sims[a].sel(band=band).values[0])[k] for a in ARCHETYPES]
            lo_hi = f"{rr[k][0]:.2f}-{rr[k][1]:.2f}" if rr else "n/a"
            print(f"| {band} | {k} | {lo_hi} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    print()


def mixed_table() -> None:
    print("2. mixed 30 m cells (more than one field), 6 km scene, seed 2")
    print("| archetype | S2-aligned | shifted (6, -4) m | difference (points) |")
    print("|---|---|---|---|")
    for a in ARCHETYPES:
        p = make_landscape((600, 600), seed=2, archetype=a).parcels
        assert p is not None
        m0 = mixed_fraction(p, (6000.0, 6000.0))
        m1 = mixed_fraction(p, (6000.0, 6000.0), offset_m=(6.0, -4.0))
        print(f"| {a} | {100 * m0:.1f} % | {100 * m1:.1f} % | {100 * (m1 - m0):+.1f} |")
    print()


def cross_sensor_table() -> None:
    rows = rl.same_day_discrepancy()
    print("3. same-day discrepancy at 30 m, 9 clear pairs (seeds 21-23, May-Sep, 6 km): mean [min, max]")
    print("| band | RMSE | Table IV raw S2 | bias (L8 - S2) | affine-residual RMSE | lag-1 | % var > 200 m |")
    print("|---|---|---|---|---|---|---|")

    def f(lb: str, k: str, fmt: str = ".4f") -> str:
        v = np.array([r[lb][k] for r in rows])
        return f"{v.mean():{fmt}} [{v.min():{fmt}}, {v.max():{fmt}}]"

    for lb in rl.PAIRS:
        print(f"| {lb} | {f(lb, 'rmse')} | {TABLE_IV_RAW_S2[lb] / 1e4:.4f} | {f(lb, 'bias')} | "
              f"{f(lb, 'rmse_affine')} | {f(lb, 'lag1', '.2f')} | {f(lb, 'above200', '.0f')} |")  # fmt: skip


def quicklooks(folder: str) -> None:
    """One PNG per archetype: S2 true and false colour (L2A), L8 true colour, labels with features."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stretch = lambda a, hi: np.clip(np.moveaxis(a, 0, -1) / hi, 0, 1) ** (1 / 1.6)  # noqa: E731
    for a in ARCHETYPES:
        ps = simulate.scene("2021-06-25", size_km=3.0, seed=1, cloud_cover=0.0, archetype=a)
        land = make_landscape(tuple(ps.labels.shape), seed=1, archetype=a)  # type: ignore[arg-type]
        fig, ax = plt.subplots(1, 4, figsize=(20, 5.4))
        ax[0].imshow(stretch(ps.s2_10m.sel(band=["B04", "B03", "B02"]).values[0], 0.2))
        ax[0].set_title("S2 L2A 10 m true colour")
        ax[1].imshow(stretch(ps.s2_10m.sel(band=["B08", "B04", "B03"]).values[0], 0.5))
        ax[1].set_title("S2 false colour (B08, B04, B03)")
        ax[2].imshow(stretch(ps.l8.sel(band=["B4", "B3", "B2"]).values[0], 0.2), interpolation="nearest")
        ax[2].set_title("L8 C2 L2 30 m true colour")
        ax[3].imshow(ps.labels.values, cmap="tab20", vmin=0.5, vmax=20.5, interpolation="nearest")
        assert land.feat_frac is not None
        feat = np.ma.masked_less(land.feat_frac, 0.05)
        ax[3].imshow(feat, cmap="gray_r", vmin=0, vmax=1, alpha=0.8, interpolation="nearest")
        ax[3].set_title("labels + sub-pixel features (roads, hedges, trees, roofs)")
        for x in ax:
            x.set_xticks([])
            x.set_yticks([])
        fig.suptitle(f"xharm.simulate archetype '{a}': 3 km, 2021-06-25, seed 1")
        fig.tight_layout()
        path = out / f"simulate_{a}.png"
        fig.savefig(path, dpi=60)
        plt.close(fig)
        print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--quicklook":
        quicklooks(sys.argv[2])
    else:
        texture_table()
        mixed_table()
        cross_sensor_table()
