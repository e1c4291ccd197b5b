"""The MGAN on real Sentinel-2 L2A patches: how far it strays from physics (issue 17).

The six BigEarthNet-S2 patches in ``../shared/data/real/bigearthnet_s2_l2a_patches`` (1.2 km
each, tiles T33UUP, T29UPU, T29SND and T35VPK, June 2017 to February 2018, a snow patch
among them) have no Landsat reference: this is a safety check of a model trained on
simulated scenes, not a score. Per patch and band it prints the median |MGAN - HLS| and
|MGAN - HLS + Landsat PSF| (the model's physics part), the share of negative outputs where
HLS is positive, and the quality bits of an anchored model (bit 1: correction at its bound;
bit 2: input outside the training range, bit 4: the date's sun zenith outside the training
dates' range; the output is the physics part under bits 2 and 4)
(:func:`xharm.evaluate.real_l2a_check`).

Run::

    python examples/reports/real_l2a_check.py                         # the bundled starter
    python examples/reports/real_l2a_check.py --model runs/x/model --root path/to/patches
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from xharm.evaluate import markdown, real_l2a_check

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "bigearthnet_s2_l2a_patches"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=ROOT, help="folder of BigEarthNet patch folders")
    p.add_argument("--model", default=None, help="MGAN model (default: the bundled one)")
    args = p.parse_args()
    t0 = time.perf_counter()
    table = real_l2a_check(args.root, model=args.model)
    table["patch"] = table["patch"].str.replace("_MSIL2A_", " ", regex=False)
    columns = {"median_vs_hls": "{:.4f}", "median_vs_hls_psf": "{:.4f}", "negative_pct": "{:.2f}"}
    for col, fmt in columns.items():
        print(f"\n## {col} per patch (rows) and band (columns)\n")
        print(markdown(table.pivot(index=["patch", "date"], columns="band", values=col), fmt))
    flags = table.groupby(["patch", "date"])[
        ["limited_pct", "outside_pct", "sun_pct", "sun_zenith", "hls_median"]
    ]
    print("\n## quality bits (% of pixels, any band), sun zenith (deg) and the largest band median of HLS\n")
    flags = flags.max()
    print(markdown(flags, "{:.2f}"))
    print(f"\nlargest median |MGAN - HLS| {table['median_vs_hls'].max():.4f} (goal < 0.02); "
          f"largest negative share {table['negative_pct'].max():.2f} % (goal < 0.5 %); "
          f"{time.perf_counter() - t0:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
