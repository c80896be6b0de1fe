"""Pieces shared by learners: target-network updates and TD targets."""

from __future__ import annotations

from typing import Any

import jax


def polyak_update(online: Any, target: Any, tau: jax.Array | float) -> Any:
    """``target ← τ·online + (1 − τ)·target`` leaf by leaf."""
    return jax.tree.map(lambda o, t: tau * o + (1.0 - tau) * t, online, target)


def td_target(reward: jax.Array, terminated: jax.Array, next_value: jax.Array, gamma: jax.Array | float) -> jax.Array:
    """``r + γ·(1 − terminated)·V(s')``: bootstraps through time limits, never through terminals.

    Args:
      reward, terminated, next_value: ``[B]`` (``terminated`` as 0/1 floats or bools).
      gamma: discount.
    """
    return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * next_value
