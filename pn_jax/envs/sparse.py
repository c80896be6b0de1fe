"""Sparse-reward tasks: gymnax environments whose reward only marks a goal region, and bsuite's
DeepSea with a randomised action map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import gymnax
import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment
from gymnax.environments.bsuite import deep_sea
from gymnax.environments.classic_control import pendulum

GoalFn = Callable[[jax.Array], jax.Array]


class SparseReward(environment.Environment):
    """Wraps a gymnax environment so that it rewards only a goal region of observation space.

    The reward of a step is ``1`` when ``goal(next_obs)`` holds and ``0`` otherwise; dynamics,
    observations, time limit and auto-reset are the wrapped environment's. With
    ``terminate_on_goal`` the episode also ends on reaching the goal; ``start(key, params) ->
    (obs, state)`` replaces the wrapped environment's start-state distribution.

    Example::

        upright = lambda obs: obs[..., 0] > jnp.cos(0.2)     # Pendulum obs = (cos θ, sin θ, θ̇)
        env = SparseReward(gymnax.make("Pendulum-v1")[0], upright)
    """

    def __init__(
        self,
        base: environment.Environment,
        goal: GoalFn,
        terminate_on_goal: bool = False,
        start: Callable[[chex.PRNGKey, Any], tuple[jax.Array, Any]] | None = None,
    ):
        super().__init__()
        self.base, self.goal, self.terminate_on_goal, self.start = base, goal, terminate_on_goal, start

    @property
    def default_params(self):
        return self.base.default_params

    def step_env(self, key, state, action, params):
        obs, state, _, terminated, info = self.base.step_env(key, state, action, params)
        reached = self.goal(obs)
        if self.terminate_on_goal:
            terminated = terminated | reached
        return obs, state, reached.astype(jnp.float32), terminated, info

    def reset_env(self, key, params):
        return self.base.reset_env(key, params) if self.start is None else self.start(key, params)

    def is_truncated(self, state, params):
        return self.base.is_truncated(state, params)

    def action_space(self, params):
        return self.base.action_space(params)

    def observation_space(self, params):
        return self.base.observation_space(params)

    def state_space(self, params):
        return self.base.state_space(params)

    def get_obs(self, state, params=None, key=None):
        return self.base.get_obs(state, params, key) if params is not None else self.base.get_obs(state)

    @property
    def num_actions(self) -> int:
        return self.base.num_actions

    @property
    def name(self) -> str:
        return f"Sparse{self.base.name}"


SPARSE_PENDULUM_TOLERANCE = 0.2
"""SparsePendulum-v1 rewards steps with the pole within this many radians of upright."""


def _sparse_pendulum() -> tuple[SparseReward, Any]:
    """Pendulum swing-up that rewards only being upright, starting from hanging still.

    The start is θ = π ± 0.05, θ̇ = ±0.05 (gymnax's Pendulum starts anywhere, often already near
    upright, which leaves nothing to explore). The maximum torque cannot lift the pole directly:
    it must be pumped back and forth, so the reward is only found by a consistent swing.
    """
    base, params = gymnax.make("Pendulum-v1")

    def hanging(key, params):
        theta, theta_dot = jax.random.uniform(key, (2,), minval=-0.05, maxval=0.05)
        state = pendulum.EnvState(theta=jnp.pi + theta, theta_dot=theta_dot, last_u=jnp.zeros(()), time=0)
        return base.get_obs(state), state

    upright = lambda obs: obs[..., 0] > jnp.cos(SPARSE_PENDULUM_TOLERANCE)  # noqa: E731
    return SparseReward(base, upright, start=hanging), params


SPARSE_ENVS: dict[str, Callable[[], tuple[SparseReward, Any]]] = {"SparsePendulum-v1": _sparse_pendulum}
"""Sparse-reward variants of gymnax environments: ``name -> () -> (env, params)``."""


def random_action_map(key: chex.PRNGKey, size: int) -> jax.Array:
    """``[size, size]`` int32: the action (0 or 1) that goes right in each cell, each a fair coin."""
    return jax.random.bernoulli(key, 0.5, (size, size)).astype(jnp.int32)


@struct.dataclass
class RandomMapParams(deep_sea.EnvParams):
    """gymnax's DeepSea parameters plus ``action_map [N, N]`` int32 (see :class:`RandomMapDeepSea`)."""

    action_map: jax.Array | None = None


class RandomMapDeepSea(deep_sea.DeepSea):
    """bsuite's DeepSea whose action map lives in its parameters, as bsuite draws one per instance.

    In cell ``(row, column)`` action ``params.action_map[row, column]`` goes right and the other
    goes left, so no single action is "right" everywhere: a policy that prefers one action in every
    state reaches the +1 only if the ``N`` cells of the diagonal path happen to share it
    (probability ``2^(1-N)`` over maps). Every reset, the auto-resets inside ``step`` included,
    puts ``params.action_map`` into the state, so the map stays fixed across all episodes played
    with the same params; the map is a traced leaf, so params can be vmapped to give every seed its
    own map. (gymnax's ``DeepSea`` keeps its map on the object and redraws it per episode with
    ``sample_action_map``: neither can differ between vmapped seeds.)

    Example::

        env = RandomMapDeepSea(8)
        params = env.default_params.replace(action_map=random_action_map(jax.random.key(3), 8))
    """

    @property
    def default_params(self) -> RandomMapParams:
        """The map of ``jax.random.key(0)``; deterministic transitions, ``N`` steps per episode."""
        action_map = random_action_map(jax.random.key(0), self.size)
        return RandomMapParams(max_steps_in_episode=self.size, action_map=action_map)

    def reset_env(self, key: chex.PRNGKey, params: RandomMapParams) -> tuple[jax.Array, deep_sea.EnvState]:
        """The top-left cell with ``params.action_map`` (``key`` unused: the start is fixed)."""
        stochastic = (1 - 1 / self.size) ** (self.size - 1)
        optimal = jnp.where(params.deterministic, 1.0, stochastic) - params.unscaled_move_cost
        state = deep_sea.EnvState(
            row=0,
            column=0,
            bad_episode=False,
            total_bad_episodes=0,
            denoised_return=0,
            optimal_return=optimal,
            action_mapping=jnp.asarray(params.action_map, jnp.int32),
            time=0,
        )
        return self.get_obs(state), state

    @property
    def name(self) -> str:
        return "DeepSeaRandom-bsuite"
