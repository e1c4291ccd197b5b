"""Losses of the MGAN (Sedona et al. 2021, eqs. 2-4).

* :func:`l1_loss` - eq. (2), mean absolute error, times a weight.
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

__all__ = ["l1_loss", "relativistic_d_loss", "relativistic_g_loss"]


def l1_loss(prediction: jax.Array, target: jax.Array, weight: float = 1.0) -> jax.Array:
    """``weight * mean(|prediction - target|)`` (eq. 2).

    Examples
    --------
    >>> float(l1_loss(jnp.array([1.0, 2.0]), jnp.array([0.0, 4.0]), weight=10.0))
    15.0
    """
    return weight * jnp.mean(jnp.abs(prediction - target))


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
