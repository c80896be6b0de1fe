"""DDPG (Lillicrap et al., 2016) as a pure ``init`` / ``update`` pair.

The learner only ever sees the *unperturbed* actor θ: exploration keeps its own perturbed copies,
and replayed transitions carry the action that was actually taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from pn_jax.agents.common import polyak_update, td_target
from pn_jax.networks import hidden_kernel_mask
from pn_jax.replay import Transition


class DDPGState(NamedTuple):
    actor_params: Any
    critic_params: Any
    target_actor_params: Any
    target_critic_params: Any
    actor_opt_state: Any
    critic_opt_state: Any


class DDPGInfo(NamedTuple):
    critic_loss: jax.Array  # []
    actor_loss: jax.Array  # []
    q_mean: jax.Array  # []


class DDPG(NamedTuple):
    """``init(key, obs [O], action [A]) -> DDPGState``; ``update(state, batch [B]) -> (state, info)``."""

    init: Callable[..., DDPGState]
    update: Callable[..., tuple[DDPGState, DDPGInfo]]
    actor_apply: Callable[[Any, jax.Array], jax.Array]


def critic_optimizer(learning_rate: jax.Array | float, l2: jax.Array | float = 0.0) -> optax.GradientTransformation:
    """Adam on the critic's loss plus ``l2 · Σ w²/2`` over its hidden Dense kernels.

    OpenAI baselines' DDPG adds ``tf.contrib.layers.l2_regularizer(l2)`` (``l2 · Σ w²/2``) over the
    critic's kernels, output layer excepted, to the critic's loss: its gradient ``l2 · w`` joins the
    loss gradient *before* Adam rescales it. ``optax.add_decayed_weights(l2)`` chained before
    ``optax.adam`` does exactly that (an L2 loss term, not AdamW's decoupled decay); the mask is
    :func:`~pn_jax.networks.hidden_kernel_mask` (no biases, no LayerNorm, no output layer).
    ``l2 = 0`` adds ``0 · w`` to the gradient: the same updates as plain Adam.

    Args:
      learning_rate: Adam's step size (a traced array or a float).
      l2: the L2 coefficient ≥ 0 (a traced array or a float).

    Returns:
      An optax transformation for a critic's params (one flax params dict, or the twin critics' tuple).
    """
    return optax.chain(optax.add_decayed_weights(l2, mask=hidden_kernel_mask), optax.adam(learning_rate))


def make_ddpg(
    actor: Any,
    critic: Any,
    actor_lr: jax.Array | float = 1e-3,
    critic_lr: jax.Array | float = 1e-3,
    tau: jax.Array | float = 0.005,
    gamma: jax.Array | float = 0.99,
    critic_l2: jax.Array | float = 0.0,
) -> DDPG:
    """Builds DDPG for flax modules ``actor(obs) -> [-1, 1]^A`` and ``critic(obs, action) -> Q``.

    Hyper-parameters may be traced arrays, so one compiled program trains a grid of them.
    ``critic_l2``: L2 on the critic's hidden kernels (see :func:`critic_optimizer`).
    """
    actor_opt = optax.adam(actor_lr)
    critic_opt = critic_optimizer(critic_lr, critic_l2)

    def init(key: chex.PRNGKey, obs: jax.Array, action: jax.Array) -> DDPGState:
        actor_key, critic_key = jax.random.split(key)
        actor_params = actor.init(actor_key, obs)
        critic_params = critic.init(critic_key, obs, action)
        return DDPGState(
            actor_params=actor_params,
            critic_params=critic_params,
            target_actor_params=actor_params,
            target_critic_params=critic_params,
            actor_opt_state=actor_opt.init(actor_params),
            critic_opt_state=critic_opt.init(critic_params),
        )

    def critic_loss_fn(critic_params, state: DDPGState, batch: Transition):
        next_action = actor.apply(state.target_actor_params, batch.next_obs)
        next_q = critic.apply(state.target_critic_params, batch.next_obs, next_action)
        target = jax.lax.stop_gradient(td_target(batch.reward, batch.terminated, next_q, gamma))
        q = critic.apply(critic_params, batch.obs, batch.action)
        return jnp.mean(jnp.square(q - target)), q

    def actor_loss_fn(actor_params, critic_params, obs):
        return -jnp.mean(critic.apply(critic_params, obs, actor.apply(actor_params, obs)))

    def update(state: DDPGState, batch: Transition) -> tuple[DDPGState, DDPGInfo]:
        chex.assert_rank(batch.reward, 1)
        (critic_loss, q), critic_grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic_params, state, batch
        )
        critic_updates, critic_opt_state = critic_opt.update(critic_grads, state.critic_opt_state, state.critic_params)
        critic_params = optax.apply_updates(state.critic_params, critic_updates)

        actor_loss, actor_grads = jax.value_and_grad(actor_loss_fn)(state.actor_params, critic_params, batch.obs)
        actor_updates, actor_opt_state = actor_opt.update(actor_grads, state.actor_opt_state)
        actor_params = optax.apply_updates(state.actor_params, actor_updates)

        new_state = DDPGState(
            actor_params=actor_params,
            critic_params=critic_params,
            target_actor_params=polyak_update(actor_params, state.target_actor_params, tau),
            target_critic_params=polyak_update(critic_params, state.target_critic_params, tau),
            actor_opt_state=actor_opt_state,
            critic_opt_state=critic_opt_state,
        )
        return new_state, DDPGInfo(critic_loss=critic_loss, actor_loss=actor_loss, q_mean=jnp.mean(q))

    return DDPG(init=init, update=update, actor_apply=actor.apply)
