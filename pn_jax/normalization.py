"""Running observation statistics and the normalisation every network applies with them.

A pure ``init`` / ``update`` / ``normalize`` triple on a :class:`RunningStats` NamedTuple, as
OpenAI baselines' DDPG uses them (its ``RunningMeanStd``): each vector step merges the ``N``
observations acted on into a running mean and variance, and every network input, whether acting,
learning, σ adaptation or evaluation, is ``clip((obs − mean) / max(std, 0.1), ±5)`` with the
statistics of that moment. The replay keeps raw observations, so a batch is normalised with the
current statistics when it is sampled.

The merge is Chan et al.'s parallel update written with weights in ``[0, 1]``
(``var ← var + w·(var_b − var) + w·(1 − w)·δ²``, ``w = n_b / (n + n_b)``) rather than with sums of
squares, so float32 stays accurate over millions of steps; the count is an int32.

brax ships running statistics too (``brax.training.acme.running_statistics``), but brax is an
optional extra here and the core install does not depend on it; these thirty lines do not need it.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

CLIP = 5.0
"""Normalised observations are clipped to ``±CLIP`` (OpenAI baselines' DDPG: 5)."""

MIN_STD = 0.1
"""The standard deviation divided by is at least this (baselines: ``sqrt(max(var, 1e-2))``), so a
coordinate that barely moves is not blown up."""


class RunningStats(NamedTuple):
    """Mean and (population) variance of every observation seen so far, per coordinate."""

    count: jax.Array  # [] int32 observations merged
    mean: jax.Array  # [O] float32
    var: jax.Array  # [O] float32


def init(obs_shape: tuple[int, ...]) -> RunningStats:
    """No observations yet: mean 0, variance 1 (so normalising before any update is the identity, clipped)."""
    return RunningStats(jnp.zeros((), jnp.int32), jnp.zeros(obs_shape, jnp.float32), jnp.ones(obs_shape, jnp.float32))


def update(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merges ``batch [B, *O]`` (B observations) into ``stats``, exactly as one pass over all of them would."""
    chex.assert_shape(batch, (None, *stats.mean.shape))
    batch = batch.astype(jnp.float32)
    batch_stats = RunningStats(jnp.array(batch.shape[0], jnp.int32), jnp.mean(batch, 0), jnp.var(batch, 0))
    return merge(stats, batch_stats)


def merge(a: RunningStats, b: RunningStats) -> RunningStats:
    """The statistics of the union of two disjoint sets of observations (Chan et al.'s parallel merge)."""
    count = a.count + b.count
    weight = b.count.astype(jnp.float32) / jnp.maximum(count, 1).astype(jnp.float32)  # 0 when both are empty
    delta = b.mean - a.mean
    mean = a.mean + weight * delta
    var = a.var + weight * (b.var - a.var) + weight * (1.0 - weight) * jnp.square(delta)
    return RunningStats(count, mean, var)


def normalize(stats: RunningStats, obs: jax.Array) -> jax.Array:
    """``clip((obs − mean) / max(std, MIN_STD), ±CLIP)`` for ``obs [..., *O]`` (float32)."""
    std = jnp.sqrt(jnp.maximum(stats.var, MIN_STD**2))
    return jnp.clip((obs - stats.mean) / std, -CLIP, CLIP)
