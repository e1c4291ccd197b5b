"""Train xharm's bundled starter MGAN on simulated Sentinel-2 / Landsat-8 pairs.

This is the exact recipe of the model shipped as ``xharm/zoo/weights/mgan-starter``
(see ``docs/model_card.md``): simulated same-day pairs over several landscapes
(``xharm.simulate``, seeds disjoint from every evaluation seed), paired patches cut by
the patch engine (``xharm.pairs.extract_pairs``, stride half a patch, patches with clouds
or shadows in either sensor dropped), the "small" MGAN preset at a 64 px output patch,
trained on the CPU.

Run::

    python benchmarks/train_starter.py --out runs/starter --steps 2500
    python benchmarks/train_starter.py --out runs/starter --select   # pick a checkpoint (seeds 901, 902)
    python benchmarks/train_starter.py --out runs/starter --install   # copy into the package
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

FIRST_TRAIN_SEED = 101  # training scenes are seeds 101, 102, ...
SELECTION_SEEDS = (901, 902)  # checkpoint selection (--select); benchmarks/table_iv.py evaluates on 7-9
HELD_OUT_SEEDS = (7, 8, 9, *SELECTION_SEEDS)


def scene_patches(
    seed: int, size_km: float, n_dates: int, model, max_invalid: float
) -> dict[str, np.ndarray]:
    """Paired patches (raw reflectance) of one simulated training scene; empty arrays when none is clear.

    ``model`` (an ``MGANConfig``) gives the patch size and the 20 m input bands.
    """
    from xharm.exceptions import EmptyDataError
    from xharm.pairs import extract_pairs
    from xharm.simulate import pair_series
    from xharm.spec import mgan_spec
    from xharm.train.data import patchset_from_stream

    spec = mgan_spec(model.patch30, bands_20m=model.s2_20m_bands)
    ps = pair_series(n_dates=n_dates, size_km=size_km, seed=seed, lazy=False)
    t = ps.s2_10m.time.values
    l8 = ps.l8.assign_coords(time=t)  # Landsat passes 20 min before Sentinel-2 on each day
    stream = extract_pairs(
        {"s2_10m": ps.s2_10m, "s2_20m": ps.s2_20m, "l8": l8},
        spec,
        valid={"s2_20m": ps.s2_valid, "l8": ps.l8_valid.assign_coords(time=t)},
        max_invalid=max_invalid,
        normalize=False,
        seed=seed,
        batch_size=64,
    )
    try:
        return dict(patchset_from_stream(stream).arrays)
    except EmptyDataError:
        return {g: np.zeros((0, *shp), np.float32) for g, shp in model.input_shapes().items()}


def build_patches(
    seeds,
    size_km: float,
    n_dates: int,
    model,
    max_invalid: float,
    out: Path,
    jobs: int = 1,
) -> int:
    """Write the paired patches of every training scene to ``out`` (``<group>.npy``); returns their count.

    Each scene's patches are kept in ``out/scenes/<seed>.npz`` (no pickle), so a rerun
    with more scenes only simulates the new ones. ``jobs`` scenes are simulated at once.
    """
    from concurrent.futures import ProcessPoolExecutor

    cache = out / "scenes"
    cache.mkdir(parents=True, exist_ok=True)
    todo = [s for s in seeds if not (cache / f"{s}.npz").is_file()]

    def keep(seed: int, arrays: dict[str, np.ndarray]) -> None:
        tmp = cache / f"{seed}.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(cache / f"{seed}.npz")
        print(f"scene seed {seed}: {len(arrays['l8'])} clear patch pairs", flush=True)

    args = (size_km, n_dates, model, max_invalid)
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for seed, arrays in zip(todo, pool.map(scene_patches, todo, *([a] * len(todo) for a in args))):
                keep(seed, arrays)
    else:
        for seed in todo:
            keep(seed, scene_patches(seed, *args))
    counts = {}
    for s in seeds:
        with np.load(cache / f"{s}.npz", allow_pickle=False) as z:
            counts[s] = len(z["l8"])
    n = sum(counts.values())
    for g, shp in model.input_shapes().items():  # one group at a time: bounded memory
        arr = np.lib.format.open_memmap(out / f"{g}.npy", mode="w+", dtype=np.float32, shape=(n, *shp))
        i = 0
        for s in seeds:
            with np.load(cache / f"{s}.npz", allow_pickle=False) as z:
                arr[i : i + counts[s]] = z[g]
            i += counts[s]
        arr.flush()
        del arr
    return n


def init_from(src: Path, step: int | None, cfg, out: Path, fit_skip: bool = False):
    """Start run ``out`` from a checkpoint of run ``src``, widened to ``cfg``'s 20 m bands.

    New input bands (``--nir-20m``: B8A) start with zero weights and a 1 x 1 skip becomes
    the equivalent ``--skip-kernel`` one, so training resumes from exactly what ``src``
    computed (:func:`xharm.train.state.grow_state`); the
    optimizer state, step and key come along. Returns the step and, with ``fit_skip``,
    the normalization stats the skip was fitted with (for ``fit``; else None).
    """
    from xharm.train.checkpoint import Checkpointer
    from xharm.train.config import TrainConfig
    from xharm.train.state import create_state, grow_state

    old = TrainConfig.from_json((src / "config.json").read_text())
    with Checkpointer(src / "checkpoints") as ck:
        state = ck.restore(create_state(old), step)
    if old.model != cfg.model:
        state = grow_state(state, old, cfg)
    stats = None
    if fit_skip:  # the skip's least-squares filter on the training split; U-Net output zeroed
        state, stats = _fitted_skip(state, cfg, out / "patches")
    with Checkpointer(out / "checkpoints", every=cfg.checkpoint_every, keep=cfg.keep_checkpoints) as ck:
        if ck.latest_step() is not None:
            raise SystemExit(f"{out} already has checkpoints: drop --init-from to resume it")
        ck.save(int(state.step), state, force=True)
    # the lineage goes into the selected model's spec (meta "started_from")
    parent = json.loads((src / "init.json").read_text()) if (src / "init.json").is_file() else None
    lineage = {"run": str(src), "step": int(state.step), "train_config": old.to_dict(), "parent": parent}
    (out / "init.json").write_text(json.dumps(lineage, indent=1))
    return int(state.step), stats


def _fitted_skip(state, cfg, patches: Path):
    """``(state with its K x K skip fitted by ridge regression, the normalization stats used)``.

    The stats are those ``fit`` computes (training split, same percentiles); they are
    handed to ``fit`` so that it does not compute them again.
    """
    from xharm.spec import mgan_spec
    from xharm.train.data import load_patches, norm_stats_from_patches
    from xharm.train.linear import fit_skip, with_skip

    train, _ = load_patches(patches).split(cfg.val_fraction, cfg.seed)
    spec = mgan_spec(cfg.model.patch30, bands_20m=cfg.model.s2_20m_bands)
    stats = norm_stats_from_patches(train, spec, cfg.clip_percentiles)
    pick = np.sort(np.random.default_rng(cfg.seed).choice(len(train), min(480, len(train)), replace=False))
    sample = train.subset(pick).with_norm(stats).normalize()
    del train
    kernel, bias = fit_skip(sample, cfg.model, n_patches=len(sample))
    print(f"skip ({cfg.model.skip_kernel} x {cfg.model.skip_kernel}) fitted on {len(sample)} patches")
    return with_skip(state, kernel, bias), stats


def select(run: Path, seeds: list[int], size_km: float = 6.0, n_dates: int = 6) -> None:
    """Score every checkpoint of ``run`` on held-out selection scenes; export the best as ``run/model``.

    Selection scenes (default :data:`SELECTION_SEEDS`) are disjoint from the training seeds and from the
    evaluation seeds of ``benchmarks/table_iv.py`` (7-9). Scores are against the simulated
    Landsat-8 observation on pixels clear in both sensors; the checkpoint with the lowest
    mean of SAM / SAM_HLS and RMSE / RMSE_HLS wins.
    """
    import tempfile

    from xharm import simulate, to_landsat
    from xharm.demo import score_table
    from xharm.grid import mask_to_grid
    from xharm.spec import NormStats
    from xharm.train.checkpoint import Checkpointer
    from xharm.train.config import TrainConfig
    from xharm.train.state import create_state
    from xharm.zoo.io import save_model

    cfg = TrainConfig.from_json((run / "config.json").read_text())
    norm = {g: NormStats.from_dict(d) for g, d in json.loads((run / "norm.json").read_text()).items()}
    scenes = [simulate.pair_series(n_dates=n_dates, size_km=size_km, seed=s, lazy=False) for s in seeds]

    def scores(model: str | None) -> tuple[float, float]:
        rows = []
        for ps in scenes:
            s2 = {10: ps.s2_10m, 20: ps.s2_20m}
            kw = {"method": "hls"} if model is None else {"model": model}
            pred = to_landsat(s2, valid=ps.s2_valid, **kw)
            pred = pred.drop_vars("valid", errors="ignore").compute()
            t = ps.s2_10m.time.values
            ref = ps.l8.sel(band=pred["band"].values.tolist()).assign_coords(time=t)
            valid = mask_to_grid(ps.s2_valid, pred.odc.geobox) & ps.l8_valid.assign_coords(time=t)
            rows.append(score_table({"m": pred}, ref, valid)[0].loc["m"])
        return float(np.mean([r["sam"] for r in rows])), float(np.mean([r["rmse"] for r in rows]))

    sam_h, rmse_h = scores(None)
    print(f"selection seeds {seeds}: HLS SAM {sam_h:.3f} deg, RMSE {rmse_h:.4f}")
    best: tuple[float, int, float, float] | None = None
    with Checkpointer(run / "checkpoints") as ck, tempfile.TemporaryDirectory() as tmp:
        template = create_state(cfg, 1)
        # an --init-from run starts from another run's (possibly grown) state: not a candidate
        start = json.loads((run / "init.json").read_text())["step"] if (run / "init.json").is_file() else -1
        for step in [s for s in ck.steps() if s > start]:
            state = ck.restore(template, step)
            save_model(Path(tmp) / str(step), state.g_params, cfg.model, norm=norm)
            sam, rmse = scores(str(Path(tmp) / str(step)))
            crit = 0.5 * (sam / sam_h + rmse / rmse_h)
            print(f"  step {step:5d}: SAM {sam:.3f} deg, RMSE {rmse:.4f}, criterion {crit:.4f}")
            if best is None or crit < best[0]:
                best = (crit, step, sam, rmse)
        if best is None:
            raise SystemExit(f"no checkpoint in {run / 'checkpoints'}")
        state = ck.restore(template, best[1])
    spec_old = json.loads((run / "model" / "spec.json").read_text()) if (run / "model").is_dir() else {}
    meta = dict(spec_old.get("meta", {}))
    chosen = f"best of the checkpoints on seeds {seeds} (criterion {best[0]:.4f})"
    meta.update(steps=str(best[1]), selection=chosen)
    if (run / "description.txt").is_file():  # written before training: there even if the run was stopped
        meta["training_data"] = (run / "description.txt").read_text()
    if (run / "init.json").is_file():  # --init-from: the earlier stages of this model
        meta["started_from"] = (run / "init.json").read_text()
    meta["train_config"] = cfg.to_json()  # this run's config (an older spec may carry another)
    # the run's last validation metrics describe the last step, not the chosen one
    scores_best = {"selection_sam_deg": round(best[2], 4), "selection_rmse": round(best[3], 5)}
    meta["metrics"] = json.dumps(scores_best)
    if (run / "model").exists():
        shutil.rmtree(run / "model")
    save_model(run / "model", state.g_params, cfg.model, norm=norm, meta=meta)
    print(f"selected step {best[1]} -> {run / 'model'}")


def install(model_dir: Path) -> None:
    """Copy a trained model into the package as ``mgan-starter``, weights stored as float16."""
    from xharm.zoo.io import load_model, save_model
    from xharm.zoo.registry import WEIGHTS_DIR

    spec, params, config = load_model(model_dir)
    dst = WEIGHTS_DIR / "mgan-starter"
    if dst.exists():
        shutil.rmtree(dst)
    norm = {g.name: spec.norm_for(g.name) for g in spec.groups if spec.norm_for(g.name) is not None}
    new = save_model(
        dst, params, config, norm=norm, version=spec.version, meta=dict(spec.meta), dtype="float16"
    )
    size = (dst / "weights.msgpack").stat().st_size / 2**20
    print(f"installed {model_dir} -> {dst} ({size:.1f} MiB, {new.checksum})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/starter")
    ap.add_argument("--scenes", type=int, default=144, help="training landscapes (seeds 101, 102, ...)")
    ap.add_argument("--size-km", type=float, default=6.0)
    ap.add_argument("--dates", type=int, default=8)
    ap.add_argument("--depth", type=int, default=4, help="U-Net encoder blocks")
    ap.add_argument("--patch", type=int, default=64, help="output patch side at 30 m")
    ap.add_argument("--max-invalid", type=float, default=0.02)
    ap.add_argument("--steps", type=int, default=2500, help="training steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--features", type=int, default=32, help="features of the first U-Net block")
    ap.add_argument(
        "--residual",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="generator adds a learned 1x1 map of the 30 m-averaged input (MGANConfig.residual)",
    )
    ap.add_argument("--l1-weight", type=float, default=1000.0, help="weight of L1 against the GAN loss")
    ap.add_argument(
        "--sam-weight",
        type=float,
        default=200.0,
        help="weight of the spectral-angle term (TrainConfig.sam_weight)",
    )
    ap.add_argument("--jobs", type=int, default=2, help="scenes simulated at once")
    ap.add_argument(
        "--input-holes",
        type=float,
        default=0.0,
        help="share of patches with a masked input hole (TrainConfig)",
    )
    ap.add_argument(
        "--nir-20m",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="add S2 B8A (narrow NIR, OLI B5's counterpart) to the 20 m input (an xharm option)",
    )
    ap.add_argument(
        "--skip-kernel",
        type=int,
        default=1,
        help="residual skip: 1 = 1x1 on the 30 m average, odd K = K x K linear filter at 10 m",
    )
    ap.add_argument(
        "--fit-skip",
        action="store_true",
        help="with --init-from: set the K x K skip to its least-squares fit, U-Net output to zero",
    )
    ap.add_argument(
        "--init-from",
        metavar="RUN[:STEP]",
        help="start from a checkpoint of another run (default: newest), grown to --nir-20m / --skip-kernel",
    )
    ap.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (TrainConfig.learning_rate)")
    ap.add_argument(
        "--resume", action="store_true", help="continue RUN from its last checkpoint (to --steps)"
    )
    ap.add_argument("--clip", type=float, nargs=2, default=(0.1, 99.9), help="normalization clip percentiles")
    ap.add_argument(
        "--select", type=int, nargs="*", metavar="SEED",
        help="score every checkpoint of RUN on these held-out scenes and export the best as RUN/model",
    )  # fmt: skip
    ap.add_argument(
        "--install", action="store_true", help="copy RUN/model into xharm/zoo/weights/mgan-starter"
    )
    args = ap.parse_args()
    out = Path(args.out)

    if args.select is not None:
        select(out, args.select or list(SELECTION_SEEDS))
        return
    if args.install:
        install(out / "model")
        return

    from xharm.train.config import TrainConfig
    from xharm.train.loop import fit

    # The "small" preset with 32 features in the first U-Net block: its output is the only
    # full-detail path to the 30 m output (2 x 2 pixels x 6 bands = 24 values per
    # half-resolution position), and the preset's 16 features starve it (measured: validation
    # RMSE plateaued at 0.019 with 16, see docs/model_card.md).
    cfg = TrainConfig.preset("small").with_overrides(
        [f"model.patch30={args.patch}", f"model.depth={args.depth}", "model.dropout_blocks=1",
         f"model.features={args.features}",
         f"local_batch={args.batch}", "checkpoint_every=250", "keep_checkpoints=20", "epochs=1000",
         f"l1_weight={args.l1_weight}", f"sam_weight={args.sam_weight}",
         f"clip_percentiles={list(args.clip)}", f"input_holes={args.input_holes}", f"learning_rate={args.lr}"]
    )  # fmt: skip
    if args.residual:
        cfg = cfg.with_overrides(["model.residual=true", 'model.output_activation="linear"'])
    if args.nir_20m:
        cfg = cfg.with_overrides(["model.bands_20m=3", 'model.s2_20m_bands=["B8A", "B11", "B12"]'])
    if args.skip_kernel != 1:
        cfg = cfg.with_overrides([f"model.skip_kernel={args.skip_kernel}"])
    steps = args.steps
    cfg = cfg.with_overrides([f"max_steps={steps}"])
    t0 = time.perf_counter()
    seeds = tuple(range(FIRST_TRAIN_SEED, FIRST_TRAIN_SEED + args.scenes))
    clash = sorted(set(seeds) & set(HELD_OUT_SEEDS))
    if clash:
        raise SystemExit(f"training seeds {clash} are evaluation/selection seeds: use fewer --scenes")
    n = build_patches(
        seeds, args.size_km, args.dates, cfg.model, args.max_invalid, out / "patches", args.jobs
    )
    t_data = time.perf_counter() - t0
    print(f"{n} patch pairs from {len(seeds)} scenes in {t_data:.0f} s")

    description = (
        f"xharm.simulate pair_series, seeds {seeds[0]}-{seeds[-1]}, "
        f"{args.size_km:g} km x {args.size_km:g} km, "
        f"{args.dates} dates each (2021-04-01..2021-10-15), {n} patch pairs of {args.patch} px at 30 m "
        f"(stride {args.patch // 2}), max invalid fraction {args.max_invalid}; target: simulated Landsat-8 "
        f"C2 L2 reflectance of the same day"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "description.txt").write_text(description)
    resume, norm = args.resume, None
    if args.init_from:
        src, _, at = args.init_from.partition(":")
        step0, norm = init_from(Path(src), int(at) if at else None, cfg, out, fit_skip=args.fit_skip)
        print(f"starting from {src} step {step0}")
        resume = True
    t2 = time.perf_counter()
    result = fit(
        cfg, out / "patches", out, norm=norm, description=description, resume=resume
    )  # memory-mapped
    t_train = time.perf_counter() - t2
    summary = {
        "patch_pairs": n,
        "steps": steps,
        "train_seconds": round(t_train, 1),
        "data_seconds": round(t_data, 1),
        "last": result.history[-1] if result.history else {},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
