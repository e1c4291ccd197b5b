"""Cheap per-key uniform numbers: a counter hash seeded by a JAX PRNG key.

``jax.random`` array draws compile slowly on CPU (threefry over the whole array,
several seconds per call site), and the fast ``rbg`` generator gives different
numbers for a key depending on the batch it is vmapped in. Dropout masks and
augmentation parameters only need decorrelated bits that are a pure function of
(key, element index), so we hash the element counter with the key words
(MurmurHash3's 32-bit finalizer, one round per key word). Keys themselves still
come from ``jax.random`` (``split``/``fold_in`` on scalars are cheap).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["uniform"]


def _fmix32(h: jax.Array) -> jax.Array:
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def uniform(key: jax.Array, shape: tuple[int, ...] = ()) -> jax.Array:
    """Float32 numbers in ``[0, 1)`` of ``shape``, a pure function of one (scalar) key.

    Examples
    --------
    >>> u = uniform(jax.random.key(0), (1000,))
    >>> bool((u >= 0).all() and (u < 1).all()), abs(float(u.mean()) - 0.5) < 0.05
    (True, True)
    """
    words = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    words = words.astype(jnp.uint32).reshape(-1)
    n = math.prod(shape)
    h = jax.lax.iota(jnp.uint32, max(n, 1)) * jnp.uint32(0x9E3779B9)
    for i in range(words.shape[0]):
        h = _fmix32(h ^ words[i])
    h = _fmix32(h + jnp.uint32(0x6A09E667))
    u = (h >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)
    return u[:n].reshape(shape)
