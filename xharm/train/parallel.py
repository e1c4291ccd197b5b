"""Data-parallel training over local devices with ``jax.pmap`` (the only file that says pmap).

The state is replicated on every device; each global batch of
``devices * local_batch`` patches is split into one local batch per device; the
step averages gradients and metrics with ``lax.pmean`` (see
:func:`xharm.train.step.make_train_step`), so every replica stays identical and
one data-parallel step equals one single-device step on the same global batch.
The learning rate is scaled linearly with the device count (the paper).

On a CPU-only machine several devices can be simulated with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (set before JAX starts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import jax
import numpy as np

from ..exceptions import ConfigError, describe
from .config import TrainConfig
from .state import GANState
from .step import Metrics, TargetNorm, as_target_norm, make_train_step

__all__ = ["AXIS", "make_parallel_step", "replicate", "resolve_devices", "shard_batch", "unreplicate"]

AXIS = "devices"
T = TypeVar("T")  # a pytree: the GAN state, or DSen2's (params, optimizer state)


def resolve_devices(count: int | None) -> list[jax.Device]:
    """The local devices a run uses (``count`` of them, e.g. ``TrainConfig.devices``; all when None)."""
    local = jax.local_devices()
    n = len(local) if count is None else count
    if not 1 <= n <= len(local):
        raise ConfigError(
            describe(
                "more devices requested than are available",
                expected=f"1..{len(local)} ({jax.default_backend()})",
                found=n,
                fix="lower devices, or on CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N",
            )
        )
    return local[:n]


def make_parallel_step(
    cfg: TrainConfig, devices: list[jax.Device], target_norm: TargetNorm | None = None
) -> Callable[[GANState, Mapping[str, Any]], tuple[GANState, Metrics]]:
    """``pmap`` of the train step over ``devices``; takes/returns replicated state and sharded batches.

    Metrics come back from the first replica (they are already averaged). ``target_norm``
    as in :func:`~xharm.train.step.make_train_step`.
    """
    step = make_train_step(cfg, devices=len(devices), axis_name=AXIS, target_norm=as_target_norm(target_norm))
    pstep = jax.pmap(step, axis_name=AXIS, devices=devices)

    def run(state: GANState, batch: Mapping[str, Any]) -> tuple[GANState, Metrics]:
        new_state, metrics = pstep(state, shard_batch(batch, len(devices)))
        return new_state, jax.tree_util.tree_map(lambda m: m[0], metrics)

    return run


def shard_batch(batch: Mapping[str, Any], n_devices: int) -> dict[str, np.ndarray]:
    """Reshape every array ``(G, ...)`` of a global batch to ``(n_devices, G / n_devices, ...)``."""
    out = {}
    for name, a in batch.items():
        a = np.asarray(a)
        if a.shape[0] % n_devices:
            raise ConfigError(
                describe(
                    f"global batch of {name!r} cannot be split over {n_devices} devices",
                    expected=f"a multiple of {n_devices} patches (devices x local_batch)",
                    found=a.shape[0],
                    fix="make the global batch devices x local_batch",
                )
            )
        out[name] = a.reshape(n_devices, a.shape[0] // n_devices, *a.shape[1:])
    return out


def replicate(state: T, devices: list[jax.Device]) -> T:
    """Copy the state onto every device (leading axis = device)."""
    mesh = jax.sharding.Mesh(np.asarray(devices), (AXIS,))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(AXIS))
    n = len(devices)
    return jax.tree_util.tree_map(
        lambda x: jax.device_put(np.broadcast_to(np.asarray(x)[None], (n, *np.shape(x))), sharding), state
    )


def unreplicate(state: T) -> T:
    """The state of the first replica (all replicas are equal)."""
    return jax.tree_util.tree_map(lambda x: x[0], state)
