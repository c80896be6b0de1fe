"""Uniform experience replay on a flashbax item buffer.

The buffer stores :class:`Transition` records with the action the environment actually received
(from the perturbed or noisy policy), the true next observation (pre-reset at a time limit), and
``terminated`` — never a merged ``done`` — so targets bootstrap through truncation only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import flashbax
import jax
import jax.numpy as jnp


class Transition(NamedTuple):
    """One transition; fields gain leading axes ``[N]`` (adding) or ``[B]`` (sampling)."""

    obs: jax.Array  # [O]
    action: jax.Array  # [A] normalised, the action taken
    reward: jax.Array  # []
    next_obs: jax.Array  # [O] true successor (pre-reset)
    terminated: jax.Array  # [] float: 1 at a terminal state, 0 otherwise (incl. time limits)


class Replay(NamedTuple):
    """Pure replay functions: ``init(example) -> state``, ``add(state, batch [N]) -> state``,
    ``sample(state, key) -> Transition [B]``."""

    init: Any
    add: Any
    sample: Any


def make_replay(buffer_size: int, batch_size: int) -> Replay:
    """A uniform FIFO replay of ``buffer_size`` transitions sampling batches of ``batch_size``."""
    buffer = flashbax.make_item_buffer(
        max_length=buffer_size, min_length=1, sample_batch_size=batch_size, add_batches=True
    )

    def init(example: Transition):
        return buffer.init(jax.tree.map(jnp.asarray, example))

    def add(state, batch: Transition):
        return buffer.add(state, batch)

    def sample(state, key: chex.PRNGKey) -> Transition:
        return buffer.sample(state, key).experience

    return Replay(init, add, sample)
