"""DQN (Mnih et al., 2015) as a pure ``init`` / ``update`` pair: Huber loss, Adam, a Polyak-averaged
target network, optional double-DQN targets (van Hasselt et al., 2016).

The learner sees only its own parameters: exploration acts with perturbed copies it keeps itself,
and never touches ``params`` or ``target_params``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from pn_jax.agents.common import polyak_update, td_target
from pn_jax.agents.ddpg import DDPGInfo
from pn_jax.replay import Transition


class DQNState(NamedTuple):
    params: Any  # online Q-network θ (what the agent acts with, perturbed or not)
    target_params: Any  # θ⁻, Polyak-averaged towards θ
    opt_state: Any


class DQN(NamedTuple):
    """``init(key, obs [O]) -> DQNState``; ``update(state, batch [B]) -> (state, info)``."""

    init: Callable[..., DQNState]
    update: Callable[..., tuple[DQNState, DDPGInfo]]
    q_apply: Callable[[Any, jax.Array], jax.Array]


def make_dqn(
    q_network: Any,
    lr: jax.Array | float = 5e-4,
    tau: jax.Array | float = 0.005,
    gamma: jax.Array | float = 0.99,
    double_dqn: bool = True,
    max_grad_norm: float = 10.0,
    anneal_updates: int = 0,
) -> DQN:
    """Builds DQN for a flax module ``q_network(obs) -> [|A|]``.

    Hyper-parameters may be traced arrays; ``double_dqn`` is static. With ``anneal_updates > 0``
    the learning rate decays linearly from ``lr`` to 0 over that many updates. The info reuses
    :class:`DDPGInfo`: ``critic_loss`` is the Huber TD loss, ``actor_loss`` is 0.
    """
    schedule = optax.linear_schedule(lr, 0.0, anneal_updates) if anneal_updates else lr
    optimiser = optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(schedule))

    def init(key: chex.PRNGKey, obs: jax.Array) -> DQNState:
        params = q_network.init(key, obs)
        return DQNState(params=params, target_params=params, opt_state=optimiser.init(params))

    def loss_fn(params, target_params, batch: Transition):
        q = jnp.take_along_axis(q_network.apply(params, batch.obs), batch.action[:, None], axis=-1)[:, 0]
        next_target_q = q_network.apply(target_params, batch.next_obs)
        if double_dqn:
            best = jnp.argmax(q_network.apply(params, batch.next_obs), axis=-1)
            next_value = jnp.take_along_axis(next_target_q, best[:, None], axis=-1)[:, 0]
        else:
            next_value = jnp.max(next_target_q, axis=-1)
        target = jax.lax.stop_gradient(td_target(batch.reward, batch.terminated, next_value, gamma))
        return jnp.mean(optax.huber_loss(q, target)), q

    def update(state: DQNState, batch: Transition) -> tuple[DQNState, DDPGInfo]:
        chex.assert_rank(batch.action, 1)
        (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, state.target_params, batch)
        updates, opt_state = optimiser.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = DQNState(params, polyak_update(params, state.target_params, tau), opt_state)
        return new_state, DDPGInfo(critic_loss=loss, actor_loss=jnp.zeros_like(loss), q_mean=jnp.mean(q))

    return DQN(init=init, update=update, q_apply=q_network.apply)
