"""``xharm train``: the training recipe of xharm's models, as code in the package.

Every step that made the bundled ``mgan-starter`` is an option of ``xharm train`` (and a
function here), so a user can rerun or change it:

1. ``--simulate N``: paired patches of ``N`` simulated training scenes
   (:func:`simulate_patches`; seeds ``--first-seed``, ``--first-seed + 1``, ..., disjoint
   from the evaluation and selection seeds), cut by the patch engine
   (:func:`xharm.engine.pairs.extract_pairs`, stride half a patch, patches with clouds or
   shadows in either sensor dropped) into the patch store ``--data``;
2. training (:func:`xharm.train.loop.fit`), optionally ``--init-from RUN[:STEP]``: start
   from another run's checkpoint, grown to more 20 m bands or a wider residual skip
   (:func:`init_from`, :func:`xharm.train.state.grow_state`) and with ``--fit-skip`` the
   skip set to its least-squares fit (:func:`xharm.train.linear.fit_skip`);
3. ``--select [SEED ...]``: score every checkpoint of the run on held-out scenes and export
   the best as ``RUN/model`` (:func:`select_checkpoint`);
4. ``--install [DIR]``: copy ``RUN/model`` into the package (or ``DIR``) with float16
   weights (:func:`install_model`).

``docs/model_card.md`` lists the exact commands of the bundled starter.

This module is the pipeline layer's (it simulates scenes and runs the patch engine); the
training core in :mod:`xharm.train` stays free of xarray and Dask.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from . import simulate
from .engine.pairs import extract_pairs
from .evaluate import coregistered_target, score_series
from .exceptions import ConfigError, EmptyDataError, XharmError, describe
from .pipeline import with_physics
from .simulate import pair_series
from .simulate.landscape import archetype_for
from .spec import NormStats

__all__ = [
    "EVALUATION_SEEDS",
    "FIRST_TRAIN_SEED",
    "SELECTION_SEEDS",
    "build_parser",
    "init_from",
    "install_model",
    "load_config",
    "select_checkpoint",
    "simulate_patches",
    "train_main",
]

FIRST_TRAIN_SEED = 101
"""Training scenes are simulated with seeds 101, 102, ... by default."""
SELECTION_SEEDS: tuple[int, ...] = (901, 902)
"""Held-out scenes that pick the checkpoint (``--select`` without seeds)."""
EVALUATION_SEEDS: tuple[int, ...] = (7, 8, 9)
"""Held-out scenes of the Table IV evaluation; never used for training or selection."""


# --------------------------------------------------------------------------- patches


def scene_patches(
    seed: int,
    size_km: float,
    n_dates: int,
    model: Any,
    max_invalid: float,
    coregister_target: bool = True,
    archetype: str | None = None,
) -> dict[str, np.ndarray]:
    """Paired patches (raw reflectance) of one simulated training scene; empty arrays when none is clear.

    ``model`` (an :class:`~xharm.models.mgan.MGANConfig`) gives the patch size and the 20 m
    input bands. ``coregister_target``: the Landsat target is first brought onto the
    Sentinel-2-registered geometry (:func:`coregistered_target`). ``archetype``: the
    landscape type of :func:`xharm.simulate.pair_series` (``"auto"``: drawn from the seed).
    A physics-anchored model also gets its ``physics`` patches (``method="hls_psf"`` with
    the Sentinel-2 clear mask, as :func:`xharm.to_landsat` computes them).
    """
    from .train.data import patchset_from_stream

    spec = model.spec()
    ps = pair_series(n_dates=n_dates, size_km=size_km, seed=seed, lazy=False, archetype=archetype)
    t = ps.s2_10m.time.values
    if coregister_target:
        l8, l8_valid = coregistered_target(ps)
    else:
        l8, l8_valid = ps.l8.assign_coords(time=t), ps.l8_valid.assign_coords(time=t)
    # an anchored model also takes the physical baseline it corrects, as to_landsat computes it
    cubes = {**with_physics({"s2_10m": ps.s2_10m, "s2_20m": ps.s2_20m}, spec, valid=ps.s2_valid), "l8": l8}
    stream = extract_pairs(
        cubes,
        spec,
        valid={"s2_20m": ps.s2_valid, "l8": l8_valid},
        max_invalid=max_invalid,
        normalize=False,
        seed=seed,
        batch_size=64,
    )
    try:
        return dict(patchset_from_stream(stream).arrays)
    except EmptyDataError:
        return {g: np.zeros((0, *shp), np.float32) for g, shp in model.input_shapes().items()}


def simulate_patches(
    out: str | Path,
    seeds: Sequence[int],
    model: Any,
    *,
    size_km: float = 6.0,
    n_dates: int = 8,
    max_invalid: float = 0.02,
    jobs: int = 1,
    log: Any = print,
    coregister_target: bool = True,
    archetype: str | None = None,
) -> int:
    """Write the paired patches of simulated training scenes to the patch store ``out``.

    ``out/<group>.npy`` per group (memory-mapped by training); each scene's patches are kept
    in ``out/scenes/<seed>-<bands>.npz`` (no pickle), so a rerun with more scenes only
    simulates the new ones. ``jobs`` scenes are simulated at once.

    Parameters
    ----------
    out
        Patch store folder.
    seeds
        Simulation seeds of the training scenes; none may be an evaluation or selection seed.
    model
        :class:`~xharm.models.mgan.MGANConfig`: patch size and 20 m bands.
    size_km, n_dates
        Size and number of dates of each scene.
    max_invalid
        Largest share of cloudy / shadowed pixels in a kept patch (either sensor).
    jobs
        Scenes simulated at once (processes).
    coregister_target
        Bring each Landsat target onto the Sentinel-2-registered geometry first
        (:func:`coregistered_target`; the MGAN paper's "warping"); on by default.
    archetype
        Landscape archetype of the scenes (``None``: central-European farmland; ``"auto"``:
        one drawn per seed, all archetypes over many seeds).
    log
        Called with one progress line per scene.

    Returns
    -------
    int
        The number of patch pairs written.

    Raises
    ------
    ConfigError
        A training seed is a held-out seed, or no seed is given.
    """
    seeds = [int(s) for s in seeds]
    clash = sorted(set(seeds) & set(EVALUATION_SEEDS + SELECTION_SEEDS))
    if clash or not seeds:
        raise ConfigError(
            describe(
                "training scenes must be disjoint from the held-out scenes" if seeds else "no training scene",
                expected=f"seeds other than {sorted(EVALUATION_SEEDS + SELECTION_SEEDS)}",
                found=clash or seeds,
                fix="use fewer scenes or another --first-seed",
            )
        )
    out = Path(out)
    cache = out / "scenes"
    cache.mkdir(parents=True, exist_ok=True)
    tag = "-".join(model.s2_20m_bands) + f"-p{model.patch30}-{size_km:g}km-{n_dates}d"
    tag += "-coreg" if coregister_target else ""
    tag += f"-{archetype}" if archetype else ""
    tag += "-anchored" if model.anchor else ""

    def cached(seed: int) -> Path:
        return cache / f"{seed}-{tag}.npz"

    def keep(seed: int, arrays: dict[str, np.ndarray]) -> None:
        tmp = cache / f"{seed}-{tag}.tmp.npz"
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(cached(seed))
        log(f"scene seed {seed}: {len(arrays['l8'])} clear patch pairs")

    todo = [s for s in seeds if not cached(s).is_file()]
    args = (size_km, n_dates, model, max_invalid, coregister_target, archetype)
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for seed, arrays in zip(todo, pool.map(scene_patches, todo, *([a] * len(todo) for a in args))):
                keep(seed, arrays)
    else:
        for seed in todo:
            keep(seed, scene_patches(seed, *args))
    counts = {}
    for s in seeds:
        with np.load(cached(s), allow_pickle=False) as z:
            counts[s] = len(z["l8"])
    n = sum(counts.values())
    if n == 0:
        raise EmptyDataError(
            describe("no clear patch pair in the simulated scenes", fix="simulate more or larger scenes")
        )
    for g, shp in model.input_shapes().items():  # one group at a time: bounded memory
        arr = np.lib.format.open_memmap(out / f"{g}.npy", mode="w+", dtype=np.float32, shape=(n, *shp))
        i = 0
        for s in seeds:
            with np.load(cached(s), allow_pickle=False) as z:
                arr[i : i + counts[s]] = z[g]
            i += counts[s]
        arr.flush()
        del arr
    return n


def write_domain(
    run: str | Path, seeds: Sequence[int], archetype: str | None, *, size_km: float = 6.0, n_dates: int = 8
) -> None:
    """Record the input domain of the simulated training data in ``run/domain.json``.

    Simulated Sentinel-2 is L2A-like surface reflectance; the archetypes are those of the
    seeds; ``sun_zenith_range`` is the [min, max] Sentinel-2 sun zenith (degrees) of the
    training dates (``size_km`` and ``n_dates`` as the scenes were simulated; the geometry is
    read from lazy scenes, nothing is rendered). :func:`domain_meta` turns it into the model
    spec's ``meta`` (:attr:`xharm.spec.ModelSpec.domain`).
    """
    names = sorted({archetype_for(archetype, int(s)).name for s in seeds})
    zen = [
        pair_series(n_dates=n_dates, size_km=size_km, seed=int(s), archetype=archetype, lazy=True)
        .s2_10m["sun_zenith"]
        .values
        for s in seeds
    ]
    flat = np.concatenate(zen)
    domain = {
        "processing_level": "L2A",
        "archetypes": names,
        "sun_zenith_range": [round(float(flat.min()), 2), round(float(flat.max()), 2)],
    }
    Path(run).mkdir(parents=True, exist_ok=True)
    (Path(run) / "domain.json").write_text(json.dumps(domain))


def domain_meta(run: str | Path) -> dict[str, str]:
    """``meta`` entries (JSON strings) of ``run/domain.json``; empty when there is none."""
    f = Path(run) / "domain.json"
    if not f.is_file():
        return {}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(f.read_text()).items()}


# --------------------------------------------------------------------------- init-from


def init_from(
    src: str | Path,
    step: int | None,
    cfg: Any,
    out: str | Path,
    *,
    fit_skip: bool = False,
    data: str | Path | None = None,
) -> tuple[int, dict[str, NormStats] | None]:
    """Start run ``out`` from a checkpoint of run ``src``, grown to ``cfg``'s model.

    New 20 m input bands (e.g. B8A) start with zero weights and a 1 x 1 skip becomes the
    equivalent ``cfg.model.skip_kernel`` one, so training resumes from exactly what
    ``src`` computed (:func:`xharm.train.state.grow_state`); optimizer state, step and key
    come along. With ``fit_skip`` the K x K skip is set to its ridge fit on the training
    split of the patch store ``data`` and the U-Net output to zero.

    Returns
    -------
    tuple
        The start step and, with ``fit_skip``, the normalization stats the skip was fitted
        with (hand them to ``fit``), else None.

    Raises
    ------
    ConfigError
        ``out`` already has checkpoints, ``src`` is not a run, or ``fit_skip`` without ``data``.
    """
    from .train.checkpoint import Checkpointer
    from .train.config import TrainConfig
    from .train.state import create_state, grow_state

    src, out = Path(src), Path(out)
    if not (src / "config.json").is_file():
        raise ConfigError(
            describe(
                f"{src} is not a training run", expected=f"{src / 'config.json'}", fix="check --init-from"
            )
        )
    if fit_skip and data is None:
        raise ConfigError(describe("fit_skip needs the patch store", fix="pass --data"))
    old = TrainConfig.from_json((src / "config.json").read_text())
    with Checkpointer(src / "checkpoints") as ck:
        state = ck.restore(create_state(old), step)
    if old.model != cfg.model:
        state = grow_state(state, old, cfg)
    stats = None
    if fit_skip:
        state, stats = _fitted_skip(state, cfg, Path(data))  # type: ignore[arg-type]
    with Checkpointer(out / "checkpoints", every=cfg.checkpoint_every, keep=cfg.keep_checkpoints) as ck:
        if ck.latest_step() is not None:
            raise ConfigError(
                describe(f"{out} already has checkpoints", fix="drop --init-from to resume it (--resume)")
            )
        ck.save(int(state.step), state, force=True)
    # the lineage goes into the selected model's spec (meta "started_from")
    parent = json.loads((src / "init.json").read_text()) if (src / "init.json").is_file() else None
    lineage = {"run": src.name, "step": int(state.step), "train_config": old.to_dict(), "parent": parent}
    (out / "init.json").write_text(json.dumps(lineage, indent=1))
    return int(state.step), stats


def _fitted_skip(state: Any, cfg: Any, patches: Path) -> tuple[Any, dict[str, NormStats]]:
    """``(state with its K x K skip fitted by ridge regression, the normalization stats used)``."""
    from .train.data import load_patches, norm_stats_from_patches
    from .train.linear import fit_skip, with_skip

    train, _ = load_patches(patches).split(cfg.val_fraction, cfg.seed)
    spec = cfg.model.spec()
    stats = norm_stats_from_patches(train, spec, cfg.clip_percentiles)
    pick = np.sort(np.random.default_rng(cfg.seed).choice(len(train), min(480, len(train)), replace=False))
    sample = train.subset(pick).with_norm(stats).normalize()
    del train
    kernel, bias = fit_skip(sample, cfg.model, n_patches=len(sample))
    return with_skip(state, kernel, bias), stats


# --------------------------------------------------------------------------- select / install


def select_checkpoint(
    run: str | Path,
    seeds: Sequence[int] = SELECTION_SEEDS,
    *,
    size_km: float = 6.0,
    n_dates: int = 6,
    archetype: str | None = "auto",
    log: Any = print,
) -> dict[str, Any]:
    """Score every checkpoint of ``run`` on held-out scenes; export the best as ``run/model``.

    Scores are against the registered Landsat product (Landsat's radiometry on the
    Sentinel-2 grid, :attr:`xharm.simulate.PairSeries.target`) on the pixels clear in Sentinel-2, every
    method given the S2 clear mask; the checkpoint with the lowest mean of SAM / SAM_phys
    and RMSE / RMSE_phys wins, ``phys`` being the geometry-aware physical baseline
    ``method="hls_psf"``. Selection scenes use ``archetype`` (default: drawn per seed). The
    start checkpoint of an ``--init-from`` run is not a candidate.

    Returns
    -------
    dict
        ``step``, ``criterion``, ``sam``, ``rmse`` of the chosen checkpoint and ``hls_sam``,
        ``hls_rmse``.

    Raises
    ------
    ConfigError
        ``run`` has no config, norm stats or candidate checkpoint, or a seed is a training seed.
    """
    import tempfile

    from .train.checkpoint import Checkpointer
    from .train.config import TrainConfig
    from .train.state import create_state
    from .zoo.io import save_model

    run = Path(run)
    for need in ("config.json", "norm.json"):
        if not (run / need).is_file():
            raise ConfigError(
                describe(f"{run} has no {need}", fix="train the run first (xharm train ... --out RUN)")
            )
    cfg = TrainConfig.from_json((run / "config.json").read_text())
    norm = {g: NormStats.from_dict(d) for g, d in json.loads((run / "norm.json").read_text()).items()}
    scenes = [
        simulate.pair_series(n_dates=n_dates, size_km=size_km, seed=s, lazy=False, archetype=archetype)
        for s in seeds
    ]

    def scores(model: str | None) -> tuple[float, float]:
        method = ["hls_psf"] if model is None else ["mgan"]
        rows = [
            score_series(ps, method, model=model, references=["target"])["target"][0].iloc[0] for ps in scenes
        ]
        return float(np.mean([r["sam"] for r in rows])), float(np.mean([r["rmse"] for r in rows]))

    sam_h, rmse_h = scores(None)
    log(f"selection seeds {list(seeds)}: HLS+PSF SAM {sam_h:.3f} deg, RMSE {rmse_h:.4f}")
    best: tuple[float, int, float, float] | None = None
    start = json.loads((run / "init.json").read_text())["step"] if (run / "init.json").is_file() else -1
    with Checkpointer(run / "checkpoints") as ck, tempfile.TemporaryDirectory() as tmp:
        template = create_state(cfg, 1)
        for step in [s for s in ck.steps() if s > start]:
            state = ck.restore(template, step)
            save_model(Path(tmp) / str(step), state.g_params, cfg.model, norm=norm)
            sam, rmse = scores(str(Path(tmp) / str(step)))
            crit = 0.5 * (sam / sam_h + rmse / rmse_h)
            log(f"  step {step:5d}: SAM {sam:.3f} deg, RMSE {rmse:.4f}, criterion {crit:.4f}")
            if best is None or crit < best[0]:
                best = (crit, step, sam, rmse)
        if best is None:
            raise ConfigError(
                describe(f"no candidate checkpoint in {run / 'checkpoints'}", fix="train longer")
            )
        state = ck.restore(template, best[1])
    spec_old = json.loads((run / "model" / "spec.json").read_text()) if (run / "model").is_dir() else {}
    meta = dict(spec_old.get("meta", {}))
    meta.update(
        steps=str(best[1]),
        selection=f"best of the checkpoints on seeds {list(seeds)} (criterion {best[0]:.4f})",
    )
    if (run / "description.txt").is_file():  # written before training: there even if the run was stopped
        meta["training_data"] = (run / "description.txt").read_text()
    if (run / "init.json").is_file():  # --init-from: the earlier stages of this model
        meta["started_from"] = (run / "init.json").read_text()
    meta.update(domain_meta(run))
    meta["train_config"] = cfg.to_json()
    meta["metrics"] = json.dumps(
        {"selection_sam_deg": round(best[2], 4), "selection_rmse": round(best[3], 5)}
    )
    if (run / "model").exists():
        shutil.rmtree(run / "model")
    save_model(run / "model", state.g_params, cfg.model, norm=norm, meta=meta)
    log(f"selected step {best[1]} -> {run / 'model'}")
    return {
        "step": best[1],
        "criterion": best[0],
        "sam": best[2],
        "rmse": best[3],
        "hls_sam": sam_h,
        "hls_rmse": rmse_h,
    }


def install_model(
    model_dir: str | Path,
    dst: str | Path | None = None,
    *,
    name: str = "mgan-starter",
    bound: float | None = None,
) -> Path:
    """Copy a trained model into the package's zoo as ``name`` (or to ``dst``), weights as float16.

    ``bound`` (a physics-anchored model only) sets a new correction bound (reflectance) on
    the same weights: the correction ``bound * tanh(u / bound)`` is unchanged where small
    and saturates at the new bound.

    Returns the folder written.
    """
    import dataclasses

    from .zoo.io import load_model, save_model
    from .zoo.registry import WEIGHTS_DIR

    spec, params, config = load_model(model_dir)
    meta = dict(spec.meta)
    if bound is not None:
        if not config.anchor:
            raise ConfigError(describe("--bound applies to physics-anchored models only", found=model_dir))
        config = dataclasses.replace(config, bound=float(bound))
        meta.pop("correction_bound", None)  # save_model records the config's
    target = Path(dst) if dst is not None else WEIGHTS_DIR / name
    if target.exists():
        shutil.rmtree(target)
    save_model(target, params, config, norm=spec.norms(), version=spec.version, meta=meta, dtype="float16")
    return target


# --------------------------------------------------------------------------- CLI


def load_config(name_or_path: str) -> Any:
    """A preset name or a JSON config file."""
    from .train.config import TrainConfig

    p = Path(name_or_path)
    if p.suffix == ".json" or p.is_file():
        return TrainConfig.from_json(p.read_text())
    return TrainConfig.preset(name_or_path)


def build_parser(prog: str = "xharm train") -> argparse.ArgumentParser:
    """The argument parser of :func:`train_main`."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Train the MGAN (Sentinel-2 -> Landsat-8) on paired patches: the recipe of the bundled "
        "starter, step by step (docs/model_card.md lists its commands).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="preset (full, small, starter, tiny) or a TrainConfig JSON file")
    p.add_argument("--data", help="patch store: Zarr group or folder of <group>.npy (written by --simulate)")
    p.add_argument("--out", required=True, help="run directory (checkpoints, history, model/)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. epochs=5 or model.features=32 (repeatable)",
    )
    p.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    p.add_argument("--max-steps", type=int, help="shortcut for --set max_steps=N")
    p.add_argument("--devices", type=int, help="local devices for data parallelism (default: all)")
    p.add_argument("--seed", type=int, help="shortcut for --set seed=N")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--description", default="", help="text about the training data, stored in the model spec")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    sim = p.add_argument_group("simulated training data")
    sim.add_argument(
        "--simulate", type=int, metavar="N", help="first write the patches of N simulated scenes to --data"
    )
    sim.add_argument(
        "--first-seed", type=int, default=FIRST_TRAIN_SEED, help="seed of the first simulated scene"
    )
    sim.add_argument("--scene-km", type=float, default=6.0, help="side of each simulated scene (km)")
    sim.add_argument("--scene-dates", type=int, default=8, help="dates per simulated scene")
    sim.add_argument("--max-invalid", type=float, default=0.02, help="largest cloudy share of a kept patch")
    sim.add_argument("--jobs", type=int, default=1, help="scenes simulated at once (processes)")
    sim.add_argument(
        "--no-coregister", action="store_true", help="keep each Landsat target's own geolocation"
    )
    sim.add_argument(
        "--archetype",
        default="auto",
        help="landscape archetype of the scenes ('auto': drawn per seed; or one of "
        "xharm.simulate.landscape.ARCHETYPES)",
    )
    stage = p.add_argument_group("stages")
    stage.add_argument(
        "--init-from",
        metavar="RUN[:STEP]",
        help="start from a checkpoint of another run, grown to this config's model",
    )
    stage.add_argument(
        "--fit-skip", action="store_true", help="with --init-from: set the K x K skip to its ridge fit"
    )
    stage.add_argument(
        "--select",
        type=int,
        nargs="*",
        metavar="SEED",
        help=f"score the checkpoints of --out on held-out scenes (default {list(SELECTION_SEEDS)}), "
        "export the best",
    )
    stage.add_argument("--select-km", type=float, default=6.0, help="side of each selection scene (km)")
    stage.add_argument("--select-dates", type=int, default=6, help="dates per selection scene")
    stage.add_argument(
        "--install",
        nargs="?",
        const="",
        metavar="DIR",
        help="copy --out/model (float16) into the package as mgan-starter, or into DIR",
    )
    stage.add_argument(
        "--bound",
        type=float,
        help="with --install: the correction bound (reflectance) of a physics-anchored model, same weights",
    )
    return p


def train_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``xharm train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        if args.select is not None or args.install is not None:
            if args.select is not None:
                chosen = select_checkpoint(
                    out, args.select or SELECTION_SEEDS, size_km=args.select_km, n_dates=args.select_dates
                )
                print(json.dumps(chosen))
            if args.install is not None:
                dst = install_model(out / "model", args.install or None, bound=args.bound)
                print(f"installed {out / 'model'} -> {dst}")
            return 0
        if args.config is None or args.data is None:
            raise ConfigError(
                describe(
                    "CONFIG and --data are needed to train",
                    fix="e.g. xharm train starter --data PATCHES --out RUN",
                )
            )
        cfg = load_config(args.config)
        overrides = list(args.overrides)
        for name, value in (
            ("epochs", args.epochs),
            ("max_steps", args.max_steps),
            ("devices", args.devices),
            ("seed", args.seed),
        ):
            if value is not None:
                overrides.append(f"{name}={value}")
        if args.no_progress:
            overrides.append("progress=false")
        cfg = cfg.with_overrides(overrides)
        if args.print_config:
            print(cfg.to_json())
            return 0
        from .train.loop import fit

        description = args.description
        if args.simulate is not None:
            seeds = range(args.first_seed, args.first_seed + args.simulate)
            n = simulate_patches(
                args.data,
                seeds,
                cfg.model,
                size_km=args.scene_km,
                n_dates=args.scene_dates,
                max_invalid=args.max_invalid,
                jobs=args.jobs,
                coregister_target=not args.no_coregister,
                archetype=args.archetype,
            )
            write_domain(out, seeds, args.archetype, size_km=args.scene_km, n_dates=args.scene_dates)
            description = description or (
                f"xharm.simulate pair_series, seeds {seeds[0]}-{seeds[-1]}, {args.scene_km:g} km x "
                f"{args.scene_km:g} km, {args.scene_dates} dates each, {n} patch pairs of "
                f"{cfg.model.patch30} px at 30 m (stride {cfg.model.patch30 // 2}), max invalid fraction "
                f"{args.max_invalid}; target: simulated Landsat-8 C2 L2 reflectance of the same day"
                + ("" if args.no_coregister else ", co-registered onto the Sentinel-2 geometry")
            )
        out.mkdir(parents=True, exist_ok=True)
        if description:
            (out / "description.txt").write_text(description)
        resume, norm = args.resume, None
        if args.init_from:
            src, _, at = args.init_from.partition(":")
            _, norm = init_from(
                src, int(at) if at else None, cfg, out, fit_skip=args.fit_skip, data=args.data
            )
            resume = True
        elif args.fit_skip:
            raise ConfigError(describe("--fit-skip needs --init-from", fix="add --init-from RUN[:STEP]"))
        result = fit(
            cfg, args.data, out, resume=resume, norm=norm, description=description, meta=domain_meta(out)
        )
    except XharmError as err:
        print(f"xharm train: error: {err}", file=sys.stderr)
        return 2
    last = result.history[-1] if result.history else {}
    print(json.dumps({"steps": int(result.state.step), "model": str(out / "model"), **last}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(train_main())
