"""gymnax continuous-control environments behind one vectorised, normalised interface.

Actions cross this boundary in normalised units, ``[-1, 1]`` per dimension, and are mapped
linearly onto each environment's own bounds. gymnax 1.x ``step`` auto-resets and returns
``obs, state, reward, terminated, truncated, info`` with the pre-reset observation in
``info["final_observation"]``; :func:`step` keeps that real next observation so learners can
bootstrap through a time limit (truncation) but never through a terminal state.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import gymnax
import jax
import jax.numpy as jnp
from gymnax.environments import spaces

CONTINUOUS_ENVS: tuple[str, ...] = (
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "Reacher-misc",
    "Swimmer-misc",
    "PointRobot-misc",
)
"""gymnax environments with a ``Box`` action space that DDPG-style learners can drive."""

KNOWN_ENVS: tuple[str, ...] = tuple(gymnax.registered_envs)


class Env(NamedTuple):
    """A gymnax environment with its (static) parameters and action bounds.

    Attributes:
      name: registered gymnax name.
      env: the gymnax environment object (static; pure methods).
      params: its ``EnvParams`` (a pytree; could be vmapped for domain randomisation).
      obs_dim: flat observation size.
      action_dim: action size.
      action_low, action_high: ``[action_dim]`` bounds in environment units.
      max_steps: episode time limit.
    """

    name: str
    env: Any
    params: Any
    obs_dim: int
    action_dim: int
    action_low: jax.Array
    action_high: jax.Array
    max_steps: int


class Step(NamedTuple):
    """One vectorised environment step; leading axis ``[N]`` on every field.

    ``obs`` is the observation to act on next (already reset where an episode ended);
    ``next_obs`` is the true successor of the previous observation (pre-reset), which is what a
    replay buffer must store.
    """

    obs: jax.Array  # [N, obs_dim]
    state: Any
    reward: jax.Array  # [N]
    terminated: jax.Array  # [N] bool: a terminal state, no bootstrap
    truncated: jax.Array  # [N] bool: time limit, bootstrap from next_obs
    next_obs: jax.Array  # [N, obs_dim]


def is_continuous(name: str) -> bool:
    """Whether a registered gymnax environment has a continuous (``Box``) action space."""
    env, params = gymnax.make(name)
    return isinstance(env.action_space(params), spaces.Box)


def make(name: str) -> Env:
    """Builds the :class:`Env` record for a continuous gymnax environment.

    Raises:
      ValueError: unknown name, or an environment whose actions are not continuous.
    """
    if name not in KNOWN_ENVS:
        raise ValueError(f"env: unknown environment {name!r}; choose one of {', '.join(CONTINUOUS_ENVS)}")
    env, params = gymnax.make(name)
    space = env.action_space(params)
    if not isinstance(space, spaces.Box):
        raise ValueError(f"env: {name!r} has a discrete action space; DDPG needs one of {', '.join(CONTINUOUS_ENVS)}")
    shape = space.shape if len(space.shape) else (1,)
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), shape)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), shape)
    obs_shape = env.observation_space(params).shape
    return Env(
        name=name,
        env=env,
        params=params,
        obs_dim=int(jnp.prod(jnp.array(obs_shape))),
        action_dim=int(shape[0]),
        action_low=low,
        action_high=high,
        max_steps=int(params.max_steps_in_episode),
    )


def to_env_action(env: Env, action: jax.Array) -> jax.Array:
    """Maps normalised actions ``[..., A]`` in ``[-1, 1]`` onto the environment's bounds."""
    action = jnp.clip(action, -1.0, 1.0)
    return env.action_low + 0.5 * (action + 1.0) * (env.action_high - env.action_low)


def reset(key: chex.PRNGKey, env: Env, num_envs: int) -> tuple[jax.Array, Any]:
    """Resets ``num_envs`` independent copies. Returns ``obs [N, obs_dim]`` and the batched state."""
    keys = jax.random.split(key, num_envs)
    obs, state = jax.vmap(env.env.reset, in_axes=(0, None))(keys, env.params)
    return obs.reshape(num_envs, -1).astype(jnp.float32), state


def step(key: chex.PRNGKey, env: Env, state: Any, action: jax.Array) -> Step:
    """Steps every copy with normalised ``action [N, A]``; auto-resets finished episodes."""
    num_envs = action.shape[0]
    chex.assert_shape(action, (num_envs, env.action_dim))
    keys = jax.random.split(key, num_envs)
    env_action = to_env_action(env, action)
    obs, state, reward, terminated, truncated, info = jax.vmap(env.env.step, in_axes=(0, 0, 0, None))(
        keys, state, env_action, env.params
    )
    return Step(
        obs=obs.reshape(num_envs, -1).astype(jnp.float32),
        state=state,
        reward=reward.reshape(num_envs).astype(jnp.float32),
        terminated=terminated.reshape(num_envs).astype(bool),
        truncated=jnp.broadcast_to(truncated, (num_envs,)).astype(bool) & ~terminated.reshape(num_envs),
        next_obs=info["final_observation"].reshape(num_envs, -1).astype(jnp.float32),
    )
