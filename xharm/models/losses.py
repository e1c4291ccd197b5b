"""Losses of the MGAN (Sedona et al. 2021, eqs. 2-4).

* :func:`l1_loss` - eq. (2), mean absolute error, times a weight.
* :func:`spectral_angle_loss` - mean spectral angle between prediction and target
  (not in the paper; an optional extra term, ``TrainConfig.sam_weight``).
* :func:`relativistic_d_loss`, :func:`relativistic_g_loss` - the relativistic
  average GAN (RaGAN) losses, eqs. (3)-(4). With critic logits ``C``,
  ``D_Ra(a, b) = sigmoid(C(a) - E[C(b)])``;

  ``L_D = -E_real[log D_Ra(real, fake)] - E_fake[log(1 - D_Ra(fake, real))]``
  ``L_G = -E_real[log(1 - D_Ra(real, fake))] - E_fake[log D_Ra(fake, real)]``

  Eq. (4) as printed in the paper repeats eq. (3) with the arguments swapped
  (which would make G minimise D's loss); we use the standard RaGAN generator loss
  above (Jolicoeur-Martineau 2018; ESRGAN), the symmetric counterpart of eq. (3).

Both are written with ``log_sigmoid`` (``log(1 - sigmoid(z)) = log_sigmoid(-z)``),
stable for any logit. The expectation ``E[C(.)]`` is over every sample and patch
position. Inside ``pmap`` pass ``axis_name``: ``E[C(.)]`` is then taken over the
global batch while the outer means stay local, so that the ``pmean`` of the
per-device gradients is the gradient of the global-batch loss.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

__all__ = [
    "l1_loss",
    "masked_mean",
    "relativistic_d_loss",
    "relativistic_g_loss",
    "spectral_angle",
    "spectral_angle_loss",
]


def l1_loss(
    prediction: jax.Array, target: jax.Array, weight: float = 1.0, keep: jax.Array | None = None
) -> jax.Array:
    """``weight * mean(|prediction - target|)`` (eq. 2).

    With ``keep`` ``(N, H, W)`` (1 = scored, 0 = ignored) the mean is taken per sample
    over its kept pixels, then over samples (:func:`masked_mean`).

    Examples
    --------
    >>> float(l1_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]), weight=10.0))
    15.0
    """
    err = jnp.abs(prediction - target)
    if keep is None:
        return weight * jnp.mean(err)
    return weight * masked_mean(jnp.mean(err, axis=-1), keep)


def masked_mean(values: jax.Array, keep: jax.Array) -> jax.Array:
    """Mean of ``values`` ``(N, H, W)`` over the pixels where ``keep`` is 1, per sample, then over samples.

    Per-sample means keep data parallelism exact: the ``pmean`` over devices of local
    means of equally many samples is the global mean.

    Examples
    --------
    >>> v = jnp.array([[[1.0, 3.0]], [[2.0, 2.0]]])
    >>> float(masked_mean(v, jnp.array([[[1.0, 0.0]], [[1.0, 1.0]]])))  # (1 + 2) / 2
    1.5
    """
    axes = tuple(range(1, values.ndim))
    return jnp.mean(jnp.sum(values * keep, axis=axes) / jnp.maximum(jnp.sum(keep, axis=axes), 1.0))


def spectral_angle(prediction: jax.Array, target: jax.Array, eps: float = 1e-16) -> jax.Array:
    """Per-pixel spectral angle (radians) between ``prediction`` and ``target`` (last axis: spectrum).

    Both must be in physical units (reflectance), not centred: the angle is taken from
    the origin. It is ``atan2(|p ^ t|, p . t)`` with ``|p ^ t|^2 = 1/2 sum_ij (p_i t_j -
    p_j t_i)^2`` (exact and never negative, unlike ``|p|^2 |t|^2 - (p . t)^2`` in float32)
    plus ``eps`` under the root, so that, unlike ``arccos``, the gradient stays finite
    when ``p`` is parallel to ``t``. A zero spectrum gives a right angle.

    Examples
    --------
    >>> round(float(spectral_angle(jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0]))), 6)  # 45 degrees
    0.785398
    """
    dot = jnp.sum(prediction * target, axis=-1)
    outer = prediction[..., :, None] * target[..., None, :]
    cross2 = 0.5 * jnp.sum((outer - jnp.swapaxes(outer, -1, -2)) ** 2, axis=(-2, -1))
    return jnp.arctan2(jnp.sqrt(cross2 + eps), dot)


def spectral_angle_loss(prediction: jax.Array, target: jax.Array, keep: jax.Array | None = None) -> jax.Array:
    """Mean :func:`spectral_angle` (radians) over all pixels, or the kept ones (``keep``, see l1_loss).

    Dark pixels (water) weigh as much as bright ones, which is what the SAM metric does.

    Examples
    --------
    >>> p, t = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 1.0]])
    >>> round(float(spectral_angle_loss(p, t)), 6)  # 45 degrees
    0.785398
    """
    angle = spectral_angle(prediction, target)
    return jnp.mean(angle) if keep is None else masked_mean(angle, keep)


def _global_mean(x: jax.Array, axis_name: str | None) -> jax.Array:
    m = jnp.mean(x)
    return lax.pmean(m, axis_name) if axis_name is not None else m


def relativistic_d_loss(
    real_logits: jax.Array, fake_logits: jax.Array, axis_name: str | None = None
) -> jax.Array:
    """Discriminator loss of the relativistic average GAN (eq. 3).

    Examples
    --------
    >>> round(float(relativistic_d_loss(jnp.zeros(2), jnp.zeros(2))), 4)  # 2 log 2
    1.3863
    """
    real_rel = real_logits - _global_mean(fake_logits, axis_name)
    fake_rel = fake_logits - _global_mean(real_logits, axis_name)
    return -jnp.mean(jax.nn.log_sigmoid(real_rel)) - jnp.mean(jax.nn.log_sigmoid(-fake_rel))


def relativistic_g_loss(
    real_logits: jax.Array, fake_logits: jax.Array, axis_name: str | None = None
) -> jax.Array:
    """Generator adversarial loss of the relativistic average GAN (eq. 4, see module notes).

    Examples
    --------
    >>> round(float(relativistic_g_loss(jnp.zeros(2), jnp.zeros(2))), 4)
    1.3863
    """
    real_rel = real_logits - _global_mean(fake_logits, axis_name)
    fake_rel = fake_logits - _global_mean(real_logits, axis_name)
    return -jnp.mean(jax.nn.log_sigmoid(-real_rel)) - jnp.mean(jax.nn.log_sigmoid(fake_rel))
