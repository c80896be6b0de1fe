"""Exploration diagnostics: how the exploratory actions of a strategy move along an episode.

:func:`exploration_rollout` acts with a strategy for a fixed number of steps and records the
*exploration perturbation* ``a_t − π_θ(s_t)``: the action taken minus what the unperturbed actor
would have done. :func:`autocorrelation` then measures its temporal consistency along episodes.
Gaussian action noise is white (autocorrelation ≈ 0 beyond lag 0); parameter noise, whose
perturbation is a smooth function of a slowly changing state, stays correlated for many steps.

Usage (inside or outside ``jit``/``vmap``)::

    rollout = exploration_rollout(key, config, num_steps=1000)   # fresh actor, σ₀
    rho = autocorrelation(rollout.perturbation, rollout.done, max_lag=50)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from pn_jax import envs, normalization
from pn_jax.config import DDPGConfig, HParams
from pn_jax.networks import Actor
from pn_jax.train import make_config_exploration, network_input


class Rollout(NamedTuple):
    """``T`` vector steps of ``N`` environments acting with an exploration strategy."""

    perturbation: jax.Array  # [T, N, A] action taken − π_θ(s), normalised units
    done: jax.Array  # [T, N] bool: the episode ended at this step
    obs: jax.Array  # [T, N, O] observation acted on


def exploration_rollout(
    key: chex.PRNGKey,
    config: DDPGConfig,
    num_steps: int,
    actor_params: Any = None,
    exploration_state: Any = None,
    hparams: HParams | None = None,
    obs_stats: normalization.RunningStats | None = None,
) -> Rollout:
    """Acts for ``num_steps`` vector steps with ``config.exploration`` and records the perturbation.

    Args:
      key: PRNG key.
      config: the run's configuration (env, actor shape, exploration, ``num_envs``).
      num_steps: vector steps to roll out (static). The strategy's noise source is renewed
        (``refresh``) every ``adapt_every × update_period`` vector steps, as in training; σ stays
        fixed.
      actor_params: the unperturbed actor θ (default: a freshly initialised actor).
      exploration_state: the strategy's state, e.g. a trained run's ``state.exploration`` with its
        adapted σ (default: the strategy's initial state, σ = σ₀).
      hparams: dynamic hyper-parameters (default ``config.hparams()``).
      obs_stats: with ``config.obs_norm``, the observation statistics the actor sees observations
        through, e.g. a trained run's ``state.obs_stats`` (default: none seen yet); kept fixed.

    Returns:
      A :class:`Rollout`.
    """
    hp = config.hparams() if hparams is None else hparams
    env = envs.make(config.env, brax_backend=config.brax_backend)
    actor = Actor(env.action_dim, config.hidden_sizes, config.layer_norm)
    exploration = make_config_exploration(config, actor.apply, env.action_dim, hp, env.max_steps)
    init_key, explore_key, reset_key, loop_key = jax.random.split(key, 4)
    obs, env_state = envs.reset(reset_key, env, config.num_envs)
    stats = normalization.init(obs.shape[1:]) if obs_stats is None else obs_stats
    seen = lambda obs: network_input(config, stats, obs)  # noqa: E731
    if actor_params is None:
        actor_params = actor.init(init_key, obs[:1])
    if exploration_state is None:
        exploration_state = exploration.init(explore_key, actor_params, config.num_envs)

    block = config.adapt_every * config.update_period  # vector steps between σ adaptations in training

    def body(carry, xs):
        obs, env_state, explore_state = carry
        step_key, t = xs
        act_key, env_key, reset_key, refresh_key = jax.random.split(step_key, 4)
        action = exploration.act(act_key, explore_state, actor_params, seen(obs))
        s = envs.step(env_key, env, env_state, action)
        done = s.terminated | s.truncated
        explore_state = exploration.reset(reset_key, explore_state, actor_params, done)
        # renew the noise source where training would adapt (σ itself stays fixed here)
        explore_state = jax.lax.cond(
            (t + 1) % block == 0,
            lambda: exploration.refresh(refresh_key, explore_state, actor_params),
            lambda: explore_state,
        )
        perturbation = jnp.clip(action, -1.0, 1.0) - jnp.clip(actor.apply(actor_params, seen(obs)), -1.0, 1.0)
        return (s.obs, s.state, explore_state), Rollout(perturbation, done, obs)

    xs = (jax.random.split(loop_key, num_steps), jnp.arange(num_steps))
    _, rollout = jax.lax.scan(body, (obs, env_state, exploration_state), xs)
    return rollout


def autocorrelation(x: jax.Array, done: jax.Array, max_lag: int) -> jax.Array:
    """Autocorrelation of ``x [T, N, A]`` at lags ``0..max_lag``, using pairs within one episode.

    ``ρ_k = mean(x_t · x_{t+k}) / mean(x_t²)`` over every ``(t, env, action)`` whose step ``t + k``
    belongs to the same episode as ``t`` (no ``done [T, N]`` in ``t .. t+k−1``). ``x`` is not
    centred: exploration noise has mean zero a priori, so a perturbation that keeps one offset for a
    whole episode (parameter noise on a flat stretch of the policy) counts as fully consistent.
    NaN where ``x`` is all zero (no perturbation).

    Returns:
      ``[max_lag + 1]``, ``ρ_0 = 1``.
    """
    chex.assert_rank(x, 3)
    chex.assert_equal_shape_prefix((x, done), 2)
    steps = x.shape[0]
    episode = jnp.cumsum(done, axis=0) - done  # [T, N] episode index of each step
    power = jnp.mean(jnp.square(x))

    def at_lag(lag):
        later_x, later_episode = jnp.roll(x, -lag, axis=0), jnp.roll(episode, -lag, axis=0)
        valid = (jnp.arange(steps)[:, None] < steps - lag) & (later_episode == episode)  # [T, N]
        products = jnp.where(valid[..., None], x * later_x, 0.0)
        return jnp.sum(products) / jnp.maximum(jnp.sum(valid) * x.shape[-1], 1) / power

    return jax.vmap(at_lag)(jnp.arange(max_lag + 1))
