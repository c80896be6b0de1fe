"""TD3 (Fujimoto et al., 2018) as a pure ``init`` / ``update`` pair.

Three changes to DDPG: twin critics with the minimum of their targets in the TD target
(clipped double-Q), target-policy smoothing (clipped Gaussian noise on the target action), and an
actor and target-network update only every ``policy_delay`` critic updates. As in
:mod:`pn_jax.agents.ddpg`, the learner only ever sees the unperturbed actor; replayed
transitions carry the action actually taken.

The delayed update is a select, not a branch: every call computes the actor's gradient and keeps
the new actor, its optimiser state and the moved targets only on every ``policy_delay``-th call.
Under ``vmap`` (seeds) a branch would run both sides anyway, so this costs what DDPG's update does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from pn_jax.agents.common import polyak_update, td_target
from pn_jax.agents.ddpg import DDPGInfo, critic_optimizer
from pn_jax.replay import Transition


class TD3State(NamedTuple):
    actor_params: Any
    critic_params: tuple[Any, Any]  # the twin critics
    target_actor_params: Any
    target_critic_params: tuple[Any, Any]
    actor_opt_state: Any
    critic_opt_state: Any
    key: chex.PRNGKey  # target-policy smoothing noise
    critic_updates: jax.Array  # [] int32: critic updates so far


class TD3(NamedTuple):
    """``init(key, obs [O], action [A]) -> TD3State``; ``update(state, batch [B]) -> (state, info)``."""

    init: Callable[..., TD3State]
    update: Callable[..., tuple[TD3State, DDPGInfo]]
    actor_apply: Callable[[Any, jax.Array], jax.Array]


def smoothed_target_action(
    key: chex.PRNGKey, target_action: jax.Array, policy_noise: float, noise_clip: float
) -> jax.Array:
    """``clip(π'(s') + clip(N(0, policy_noise²), ±noise_clip), ±1)``, actions ``[B, A]`` in normalised units."""
    noise = jnp.clip(policy_noise * jax.random.normal(key, target_action.shape), -noise_clip, noise_clip)
    return jnp.clip(target_action + noise, -1.0, 1.0)


def make_td3(
    actor: Any,
    critic: Any,
    actor_lr: jax.Array | float = 1e-3,
    critic_lr: jax.Array | float = 1e-3,
    tau: jax.Array | float = 0.005,
    gamma: jax.Array | float = 0.99,
    policy_noise: float = 0.2,
    noise_clip: float = 0.5,
    policy_delay: int = 2,
    critic_l2: jax.Array | float = 0.0,
) -> TD3:
    """Builds TD3 for flax modules ``actor(obs) -> [-1, 1]^A`` and ``critic(obs, action) -> Q``.

    ``critic`` is instantiated twice (independent initialisations; both twins, and their targets,
    share its structure, LayerNorm included). Hyper-parameters other than ``policy_delay`` may be
    traced arrays. ``critic_l2``: L2 on both twins' hidden kernels (see
    :func:`pn_jax.agents.ddpg.critic_optimizer`).
    """
    chex.assert_scalar_positive(policy_delay)
    actor_opt = optax.adam(actor_lr)
    critic_opt = critic_optimizer(critic_lr, critic_l2)

    def init(key: chex.PRNGKey, obs: jax.Array, action: jax.Array) -> TD3State:
        actor_key, critic_key_1, critic_key_2, noise_key = jax.random.split(key, 4)
        actor_params = actor.init(actor_key, obs)
        critic_params = (critic.init(critic_key_1, obs, action), critic.init(critic_key_2, obs, action))
        return TD3State(
            actor_params=actor_params,
            critic_params=critic_params,
            target_actor_params=actor_params,
            target_critic_params=critic_params,
            actor_opt_state=actor_opt.init(actor_params),
            critic_opt_state=critic_opt.init(critic_params),
            key=noise_key,
            critic_updates=jnp.zeros((), jnp.int32),
        )

    def critic_loss_fn(critic_params, state: TD3State, batch: Transition, noise_key: chex.PRNGKey):
        target_action = actor.apply(state.target_actor_params, batch.next_obs)
        next_action = smoothed_target_action(noise_key, target_action, policy_noise, noise_clip)
        next_q = jnp.minimum(*(critic.apply(p, batch.next_obs, next_action) for p in state.target_critic_params))
        target = jax.lax.stop_gradient(td_target(batch.reward, batch.terminated, next_q, gamma))
        q1, q2 = (critic.apply(p, batch.obs, batch.action) for p in critic_params)
        return jnp.mean(jnp.square(q1 - target)) + jnp.mean(jnp.square(q2 - target)), q1

    def actor_loss_fn(actor_params, critic_params, obs):
        return -jnp.mean(critic.apply(critic_params[0], obs, actor.apply(actor_params, obs)))

    def update(state: TD3State, batch: Transition) -> tuple[TD3State, DDPGInfo]:
        chex.assert_rank(batch.reward, 1)
        key, noise_key = jax.random.split(state.key)
        (critic_loss, q), critic_grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(
            state.critic_params, state, batch, noise_key
        )
        critic_updates, critic_opt_state = critic_opt.update(critic_grads, state.critic_opt_state, state.critic_params)
        critic_params = optax.apply_updates(state.critic_params, critic_updates)

        actor_loss, actor_grads = jax.value_and_grad(actor_loss_fn)(state.actor_params, critic_params, batch.obs)
        actor_updates, new_actor_opt_state = actor_opt.update(actor_grads, state.actor_opt_state)
        new_actor_params = optax.apply_updates(state.actor_params, actor_updates)

        count = state.critic_updates + 1
        delayed = count % policy_delay == 0

        def on_delayed_step(new: Any, old: Any) -> Any:
            return jax.tree.map(lambda n, o: jnp.where(delayed, n, o), new, old)

        actor_params = on_delayed_step(new_actor_params, state.actor_params)
        new_state = TD3State(
            actor_params=actor_params,
            critic_params=critic_params,
            target_actor_params=on_delayed_step(
                polyak_update(actor_params, state.target_actor_params, tau), state.target_actor_params
            ),
            target_critic_params=on_delayed_step(
                polyak_update(critic_params, state.target_critic_params, tau), state.target_critic_params
            ),
            actor_opt_state=on_delayed_step(new_actor_opt_state, state.actor_opt_state),
            critic_opt_state=critic_opt_state,
            key=key,
            critic_updates=count,
        )
        return new_state, DDPGInfo(critic_loss=critic_loss, actor_loss=actor_loss, q_mean=jnp.mean(q))

    return TD3(init=init, update=update, actor_apply=actor.apply)
