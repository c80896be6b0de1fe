"""Environments defined outside pn_jax, as a user would write them, for the own-environment tests.

``Drift`` is a continuous task: a point on a line, pushed by the action, paid ``-|x|`` per step.
``Switch`` is a discrete one: action 1 moves towards +1 and pays when there. Both subclass gymnax's
``Environment``, which gives them gymnax 1.x ``step`` (auto-reset, time limit, pre-reset observation).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces


@struct.dataclass
class State(environment.EnvState):
    x: jax.Array
    time: int


@struct.dataclass
class Params(environment.EnvParams):
    max_steps_in_episode: int = 50
    speed: float = 0.1


class Drift(environment.Environment):
    """Continuous: ``x ← clip(x + speed·a, ±2)``, reward ``−|x|``, start ``x ~ U(−1, 1)``."""

    @property
    def default_params(self) -> Params:
        return Params()

    def step_env(self, key, state, action, params):
        x = jnp.clip(state.x + params.speed * jnp.clip(action[0], -1.0, 1.0), -2.0, 2.0)
        new = State(x=x, time=state.time + 1)
        return self.get_obs(new), new, -jnp.abs(x), jnp.array(False), {}

    def reset_env(self, key, params):
        state = State(x=jax.random.uniform(key, minval=-1.0, maxval=1.0), time=0)
        return self.get_obs(state), state

    def get_obs(self, state, params=None, key=None):
        return jnp.array([state.x, state.time / 50.0])

    def action_space(self, params=None):
        return spaces.Box(-1.0, 1.0, (1,))

    def observation_space(self, params=None):
        return spaces.Box(-jnp.inf, jnp.inf, (2,))


class Switch(Drift):
    """Discrete: action 1 moves ``x`` up, 0 down; reward 1 while ``x > 0.5``, the episode ends at ``x = 2``."""

    def step_env(self, key, state, action, params):
        x = jnp.clip(state.x + params.speed * (2.0 * action - 1.0), -2.0, 2.0)
        new = State(x=x, time=state.time + 1)
        return self.get_obs(new), new, (x > 0.5).astype(jnp.float32), x >= 2.0, {}

    def action_space(self, params=None):
        return spaces.Discrete(2)


def make_drift() -> Drift:
    """A factory returning the env alone (its default params are used)."""
    return Drift()


def make_switch() -> tuple[Switch, Any]:
    """A factory returning ``(env, env_params)``."""
    return Switch(), Params(max_steps_in_episode=40)


NOT_CALLABLE = 3
