"""The training loop: data -> (p)mapped steps -> validation each epoch -> checkpoints -> model files.

:func:`fit` is the one entry point (the CLI ``xharm train`` calls it). A run
directory holds ``config.json``, ``norm.json``, ``history.json``, ``checkpoints/``
and, at the end, ``model/`` (a :mod:`xharm.zoo` model: weights + ``ModelSpec``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..exceptions import ConfigError, DimensionError, MissingBandError, describe
from ..spec import ModelSpec, NormStats
from .checkpoint import Checkpointer
from .config import TrainConfig
from .data import (
    PatchSet,
    batch_at,
    load_patches,
    norm_stats_from_patches,
    patchset_from_stream,
    steps_per_epoch,
)
from .parallel import make_parallel_step, replicate, resolve_devices, unreplicate
from .state import GANState, create_state
from .step import check_target_norm, jit_eval_step, jit_train_step

__all__ = ["FitResult", "evaluate", "fit"]


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    state: GANState  # final state (single replica)
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch
    spec: ModelSpec | None = None  # spec of the exported model
    run_dir: Path | None = None


def _as_patchset(data: PatchSet | Mapping[str, np.ndarray] | str | Path, spec: ModelSpec) -> PatchSet:
    """The training patches of ``spec``'s groups (its output group is the target)."""
    groups = [g.name for g in spec.groups]
    if isinstance(data, PatchSet):
        return data
    if isinstance(data, str | Path):
        return load_patches(data, groups, target=spec.output.name)
    if hasattr(data, "iter_epoch"):  # a pair stream from xharm.engine.pairs.extract_pairs
        return patchset_from_stream(data)
    return PatchSet(dict(data), target=spec.output.name)


def _check_shapes(ps: PatchSet, cfg: TrainConfig, spec: ModelSpec) -> None:
    expected = cfg.model.input_shapes()
    found = ps.shapes()
    missing = [g.name for g in spec.groups if g.name not in found]
    if missing:
        raise MissingBandError(
            describe(
                f"the training patches lack group(s) {', '.join(missing)} of model {spec.name!r}",
                expected=[g.name for g in spec.groups],
                found=list(found),
                fix="extract the patches with this model's spec (extract_pairs / xharm train --simulate)",
            )
        )
    bad = {g.name: found[g.name] for g in spec.groups if tuple(found[g.name]) != tuple(expected[g.name])}
    if bad:
        raise DimensionError(
            describe(
                "training patches do not match the model config",
                expected={g: expected[g] for g in bad},
                found=bad,
                fix="extract patches with the config's patch30, or set model.patch30 to match",
            )
        )


def evaluate(
    cfg: TrainConfig, g_params: Any, ps: PatchSet, norm: Mapping[str, NormStats] | None, batch: int = 16
) -> dict[str, float]:
    """Validation metrics of the generator on normalized patches, in physical units of ``l8``.

    Returns ``val_l1`` (mean absolute error), ``val_rmse`` and ``val_sam`` (mean spectral
    angle, degrees). Without ``norm`` the metrics are in normalized units.
    """
    out_bands = cfg.model.out_bands
    spec = cfg.model.spec()
    target = spec.output.name
    if norm is not None and target in norm:
        scale = jnp.asarray(norm[target].scale, jnp.float32)
        offset = jnp.asarray(norm[target].mean, jnp.float32)
    else:
        scale, offset = jnp.ones(out_bands, jnp.float32), jnp.zeros(out_bands, jnp.float32)
    step = jit_eval_step(cfg)
    n = len(ps)
    batch = max(1, min(batch, n))
    sums = {"abs": 0.0, "sq": 0.0, "sam": 0.0, "pixels": 0.0, "values": 0.0}
    for start in range(0, n, batch):
        idx = np.arange(start, min(start + batch, n))
        pad = batch - len(idx)
        idx_p = np.concatenate([idx, np.repeat(idx[-1:], pad)])
        b = {g.name: np.asarray(ps.arrays[g.name][idx_p], np.float32) for g in spec.groups}
        weight = np.concatenate([np.ones(len(idx)), np.zeros(pad)]).astype(np.float32)
        res = step(g_params, b, scale, offset, weight)
        for k in sums:
            sums[k] += float(res[k])
    return {
        "val_l1": sums["abs"] / sums["values"],
        "val_rmse": float(np.sqrt(sums["sq"] / sums["values"])),
        "val_sam": float(np.degrees(sums["sam"] / sums["pixels"])),
    }


def _prepare(
    data: PatchSet | Mapping[str, np.ndarray] | str | Path,
    cfg: TrainConfig,
    norm: Mapping[str, NormStats] | None,
    spec: ModelSpec,
) -> tuple[PatchSet, PatchSet | None, Mapping[str, NormStats] | None]:
    ps = _as_patchset(data, spec)
    _check_shapes(ps, cfg, spec)
    train, val = ps.split(cfg.val_fraction, cfg.seed)
    if ps.normalized:
        return train, val, norm if norm is not None else ps.norm
    stats = norm if norm is not None else ps.norm
    if stats is None:
        stats = norm_stats_from_patches(train, spec, cfg.clip_percentiles)
    train = train.with_norm(stats).normalize()
    val = val.with_norm(stats).normalize() if val is not None else None
    return train, val, stats


def fit(
    cfg: TrainConfig,
    data: PatchSet | Mapping[str, np.ndarray] | str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    norm: Mapping[str, NormStats] | None = None,
    description: str = "",
    export: bool = True,
    meta: Mapping[str, str] | None = None,
) -> FitResult:
    """Train the MGAN on paired patches; checkpoints and the final model go to ``out_dir``.

    Parameters
    ----------
    cfg
        Training configuration (:class:`~xharm.train.config.TrainConfig`).
    data
        A :class:`~xharm.train.data.PatchSet`, a dict of arrays (one per group of
        ``cfg.model.spec()``: ``s2_10m``, ``s2_20m``, ``l8``), a pair stream from
        ``xharm.engine.pairs.extract_pairs`` (read once), or the
        path of a patch store (Zarr or ``.npy`` folder).
    out_dir
        Run directory.
    resume
        Continue from the newest checkpoint in ``out_dir`` (a fresh start when none).
    norm
        Normalization stats per group; default: the store's, else computed on the
        training split (1st/99th percentile clip, mean, max).
    description
        Free text about the training data, stored in the model's spec.
    export
        Write the generator as a zoo model to ``out_dir / "model"`` at the end.
    meta
        Extra ``meta`` entries of the exported model's spec (e.g. its input domain:
        ``processing_level``, ``archetypes``; :attr:`xharm.spec.ModelSpec.domain`).

    Examples
    --------
    >>> from xharm.train.config import TrainConfig
    >>> cfg = TrainConfig.preset("tiny")  # doctest: +SKIP
    >>> result = fit(cfg, "pairs.zarr", "runs/tiny")  # doctest: +SKIP
    """
    out = Path(out_dir)
    spec = cfg.model.spec()
    train, val, stats = _prepare(data, cfg, norm, spec)
    out_name = spec.output.name
    target_norm = None
    if stats is not None and out_name in stats:
        target_norm = (stats[out_name].scale, stats[out_name].mean)
        if cfg.model.anchor:  # the bound is in reflectance; the generator works in normalized units
            model = dataclasses.replace(cfg.model, out_scale=stats[out_name].scale)
            cfg = dataclasses.replace(cfg, model=model)
    check_target_norm(cfg, target_norm)  # before anything is written

    devices = resolve_devices(cfg.devices)
    n_dev = len(devices)
    global_batch = n_dev * cfg.local_batch
    spe = steps_per_epoch(len(train), global_batch)
    total = cfg.epochs * spe if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * spe)

    out.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpointer(out / "checkpoints", every=cfg.checkpoint_every, keep=cfg.keep_checkpoints)
    state = create_state(cfg, n_dev)
    history: list[dict[str, float]] = []
    if ckpt.latest_step() is not None:
        if not resume:
            ckpt.close()
            raise ConfigError(
                describe(
                    f"run directory {out} already has checkpoints",
                    fix="pass resume=True (CLI --resume) to continue, or choose another directory",
                )
            )
        saved = json.loads((out / "config.json").read_text()) if (out / "config.json").is_file() else None
        if saved is not None and TrainConfig.from_dict(saved).model != cfg.model:
            ckpt.close()
            raise ConfigError(describe(f"cannot resume {out}: the model config differs from the saved one"))
        state = ckpt.restore(state)
        if (out / "history.json").is_file():
            history = [
                h for h in json.loads((out / "history.json").read_text()) if h["step"] <= int(state.step)
            ]
    (out / "config.json").write_text(cfg.to_json())
    if stats is not None:
        (out / "norm.json").write_text(json.dumps({g: s.to_dict() for g, s in stats.items()}, indent=1))

    step_fn: Callable[..., Any]
    if n_dev > 1:
        step_fn = make_parallel_step(cfg, devices, target_norm)
        state = replicate(state, devices)
    else:
        step_fn = jit_train_step(cfg, 1, target_norm)
        state = jax.device_put(state, devices[0])

    start = int(unreplicate(state).step if n_dev > 1 else state.step)
    bar = _progress(cfg, start, total)
    metrics: dict[str, Any] = {}
    try:
        for step in range(start, total):
            batch = batch_at(train, step, global_batch, cfg.seed)
            state, metrics = step_fn(state, batch)  # type: ignore[arg-type]
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{float(metrics[k]):.3f}" for k in ("g_l1", "g_adv", "d_loss")})
            done = step + 1
            due = done % spe == 0 or done == total or done % cfg.checkpoint_every == 0
            single = (unreplicate(state) if n_dev > 1 else state) if due else None
            if done % spe == 0 or done == total:
                row = {"epoch": done / spe, "step": done, **{k: float(v) for k, v in metrics.items()}}
                if val is not None and single is not None:
                    row.update(evaluate(cfg, single.g_params, val, stats, batch=global_batch))
                history.append(row)
                (out / "history.json").write_text(json.dumps(history, indent=1))
            if single is not None:
                ckpt.save(done, single, force=done == total)
    finally:
        if bar is not None:
            bar.close()
        ckpt.close()

    final = unreplicate(state) if n_dev > 1 else state
    result = FitResult(state=final, history=history, run_dir=out)
    if export:
        from ..zoo.io import save_model

        metrics_out = {k: v for k, v in (history[-1] if history else {}).items() if k.startswith("val_")}
        result.spec = save_model(
            out / "model",
            final.g_params,
            cfg.model,
            norm=stats,
            meta={
                **dict(meta or {}),
                "train_config": cfg.to_json(),
                "training_data": description or f"{len(train)} training patches",
                "steps": str(int(final.step)),
                "metrics": json.dumps(metrics_out),
            },
        )
    return result


def _progress(cfg: TrainConfig, start: int, total: int) -> Any:
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, desc="mgan", unit="step")
