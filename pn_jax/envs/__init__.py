"""Environments behind one vectorised, normalised interface: gymnax, sparse variants, brax.

One file per family: gymnax and the DeepSea names here, :mod:`pn_jax.envs.sparse` (sparse-reward
wrappers, DeepSea with a randomised action map) and :mod:`pn_jax.envs.brax_envs` (``brax/<name>``, an optional extra).

Actions cross this boundary in normalised units, ``[-1, 1]`` per dimension, and are mapped
linearly onto each environment's own bounds. gymnax 1.x ``step`` auto-resets and returns
``obs, state, reward, terminated, truncated, info`` with the pre-reset observation in
``info["final_observation"]``; :func:`step` keeps that real next observation so learners can
bootstrap through a time limit (truncation) but never through a terminal state.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment, spaces
from gymnax.environments.bsuite.deep_sea import DeepSea

from pn_jax.catalog import CONTINUOUS_ENVS, DISCRETE_ENVS, deep_sea, entry_point, first_line, is_entry_point
from pn_jax.envs import brax_envs
from pn_jax.envs.sparse import (
    SPARSE_ENVS,
    SPARSE_PENDULUM_TOLERANCE,
    GoalFn,
    RandomMapDeepSea,
    RandomMapParams,
    SparseReward,
    random_action_map,
)

__all__ = [
    "CONTINUOUS_ENVS",
    "DISCRETE_ENVS",
    "GOALS",
    "KNOWN_ENVS",
    "PLANES",
    "SPARSE_ENVS",
    "SPARSE_PENDULUM_TOLERANCE",
    "Env",
    "Goal",
    "GoalFn",
    "Plane",
    "RandomMapDeepSea",
    "RandomMapParams",
    "SparseReward",
    "Step",
    "brax_envs",
    "is_continuous",
    "is_known",
    "make",
    "custom",
    "describe",
    "entry_point",
    "from_object",
    "is_entry_point",
    "is_registered",
    "make_gymnax",
    "random_action_map",
    "register",
    "reset",
    "step",
    "to_env_action",
]


class Goal(NamedTuple):
    """What counts as reaching the goal of a sparse task, and as solving it.

    Attributes:
      reward_above: a step whose reward exceeds this reached the goal (MountainCar's +100 flag).
      solved_return: a deterministic evaluation return above this solves the task.
    """

    reward_above: float
    solved_return: float


class Plane(NamedTuple):
    """A 2-D view of the state for coverage histograms: ``features(obs [..., O]) -> [..., 2]``."""

    features: Callable[[jax.Array], jax.Array]
    low: tuple[float, float]
    high: tuple[float, float]
    labels: tuple[str, str]


def _pendulum_plane(obs: jax.Array) -> jax.Array:
    return jnp.stack([jnp.arctan2(obs[..., 1], obs[..., 0]), obs[..., 2]], axis=-1)


GOALS: dict[str, Goal] = {
    "MountainCarContinuous-v0": Goal(reward_above=0.0, solved_return=90.0),
    "SparsePendulum-v1": Goal(reward_above=0.0, solved_return=100.0),
}
"""Sparse tasks: what reaching the goal and solving mean (dense tasks have none)."""

PLANES: dict[str, Plane] = {
    "MountainCarContinuous-v0": Plane(lambda obs: obs[..., :2], (-1.2, -0.07), (0.6, 0.07), ("position", "velocity")),
    "Pendulum-v1": Plane(_pendulum_plane, (-jnp.pi, -8.0), (jnp.pi, 8.0), ("angle", "angular velocity")),
    "SparsePendulum-v1": Plane(_pendulum_plane, (-jnp.pi, -8.0), (jnp.pi, 8.0), ("angle", "angular velocity")),
}
"""State planes for coverage histograms, per environment."""

ACTION_MAP_STREAM = 0x6D6170
"""``fold_in`` tag of the map's key, a stream apart from seed K's training stream ``jax.random.key(K)``."""


def action_map_key(map_seed: int) -> jax.Array:
    """The key that draws ``DeepSeaRandom-<N>-<map_seed>``'s map: ``fold_in(key(map_seed), ACTION_MAP_STREAM)``."""
    return jax.random.fold_in(jax.random.key(map_seed), ACTION_MAP_STREAM)


KNOWN_ENVS: tuple[str, ...] = (*gymnax.registered_envs, *SPARSE_ENVS)

DEEP_SEA_GOAL = Goal(reward_above=0.5, solved_return=0.5)
"""DeepSea pays +1 only at the bottom-right cell, reached by going right at every step."""


def is_known(name: str) -> bool:
    """Whether ``name`` is a built-in environment :func:`make` can build (a ``brax/…`` name: only with
    the extra installed); names given to :func:`register` and ``module:callable`` ones are not built-in."""
    if brax_envs.is_brax(name):
        return brax_envs.problem(name, brax_envs.DEFAULT_BACKEND) is None
    return isinstance(name, str) and (name in KNOWN_ENVS or deep_sea(name)[0] > 0)


_REGISTERED: dict[str, Callable[[], Any]] = {}
"""Names given to :func:`register`, and their factories."""


def register(name: str, factory: Callable[[], Any]) -> None:
    """Makes ``name`` an environment name for configs, :func:`make` and ``pn-train --env``.

    ``factory()`` returns the environment, or ``(env, env_params)``: anything :func:`from_object`
    takes. Registering a name again replaces its factory (a notebook cell may run twice); built-in
    names cannot be taken. A registered name lives in this process only: a command line names its
    env ``package.module:callable`` instead.

    Example::

        pn_jax.envs.register("MyTask-v0", lambda: (MyTask(), MyTask().default_params))
        train = pn_jax.make_train(pn_jax.DDPGConfig(env="MyTask-v0"))
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"env: a registered name must be a non-empty string without ':', got {name!r}")
    if is_known(name) or brax_envs.is_brax(name):
        raise ValueError(f"env: {name!r} is a built-in environment; register yours under another name")
    if not callable(factory):
        raise ValueError(f"env: the factory registered as {name!r} must be callable, got {type(factory).__name__}")
    _REGISTERED[name] = factory


def is_registered(name: str) -> bool:
    """Whether ``name`` was given to :func:`register` in this process."""
    return isinstance(name, str) and name in _REGISTERED


def custom(name: str) -> tuple[Any, Any]:
    """``(env, env_params or None)`` from a registered name's or an entry point's factory."""
    factory = _REGISTERED[name] if is_registered(name) else entry_point(name)
    try:
        made = factory()
    except Exception as error:  # the user's code: report whatever it raised, on one line
        raise ValueError(f"env: the factory of {name!r} failed: {first_line(error)}") from None
    if isinstance(made, tuple) and len(made) == 2:
        return made
    return made, None


def make_gymnax(name: str) -> tuple[environment.Environment, Any]:
    """``gymnax.make`` that also knows :data:`SPARSE_ENVS` and the DeepSea chains.

    ``DeepSea-<N>`` is bsuite's deep-sea chain of size N with a fixed action map (``right`` is
    action 1 in every cell, ``randomize_actions=False``): N steps per episode, +1 only after going
    right N times, a small cost for each right step. ``DeepSeaRandom-<N>-<K>`` is the same chain
    with bsuite's randomised map, drawn from :func:`action_map_key` ``(K)`` (``-<K>`` left out: K = 0):
    in each cell a coin decides which action goes right (:class:`RandomMapDeepSea`); the map is
    the same in every episode, training and evaluation alike.
    """
    if name in SPARSE_ENVS:
        return SPARSE_ENVS[name]()
    size, map_seed = deep_sea(name)
    if size and map_seed is None:
        env = DeepSea(size=size)
        return env, env.default_params.replace(randomize_actions=False)
    if size:
        env = RandomMapDeepSea(size=size)
        return env, env.default_params.replace(action_map=random_action_map(action_map_key(map_seed), size))
    return gymnax.make(name)


class Env(NamedTuple):
    """An environment with its (static) parameters and action bounds.

    Attributes:
      name: registered gymnax name, a sparse variant, a DeepSea chain or ``brax/<name>``.
      env: the environment object with gymnax 1.x ``reset`` / ``step`` (static; pure methods):
        a gymnax environment or a :class:`~pn_jax.envs.brax_envs.BraxTask`.
      params: its ``EnvParams`` (a pytree; could be vmapped for domain randomisation); None for brax.
      obs_dim: flat observation size.
      action_dim: action size.
      action_low, action_high: ``[action_dim]`` bounds in environment units.
      max_steps: episode time limit.
      goal: what reaching the goal and solving mean, for sparse tasks (else None).
      plane: the 2-D state view for coverage histograms (None: the first two observations,
        within the observation bounds when those are finite).
      num_actions: ``|A|`` of a discrete action space; 0 for a continuous one.
      upright: ``state [N, ...] -> [N]``, the world-z component of the body's up axis (below 0:
        upside down), for bodies that can flip (brax); None where it means nothing.
    """

    name: str
    env: Any
    params: Any
    obs_dim: int
    action_dim: int
    action_low: jax.Array
    action_high: jax.Array
    max_steps: int
    goal: Goal | None
    plane: Plane
    num_actions: int = 0
    upright: Callable[[Any], jax.Array] | None = None


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
    """Whether a known environment has a continuous (``Box``) action space (every brax one does)."""
    if brax_envs.is_brax(name):
        return True
    env, params = make_gymnax(name)
    return isinstance(env.action_space(params), spaces.Box)


def make(name: str, discrete: bool = False, brax_backend: str = brax_envs.DEFAULT_BACKEND) -> Env:
    """Builds the :class:`Env` record for an environment.

    Args:
      name: a gymnax name, a sparse variant (:data:`SPARSE_ENVS`), ``DeepSea-<N>``,
        ``DeepSeaRandom-<N>[-<K>]``, ``brax/<name>``, a name given to :func:`register`, or
        ``package.module:callable`` (imported; the callable returns the env or ``(env, env_params)``).
      discrete: expect a discrete action space (DQN) instead of a continuous one (DDPG, TD3).
      brax_backend: the physics pipeline of a brax environment (:data:`brax_envs.BACKENDS`).

    Raises:
      ValueError: unknown name, brax without its extra, or an action space of the other kind.
    """
    valid = DISCRETE_ENVS if discrete else CONTINUOUS_ENVS
    if is_registered(name) or is_entry_point(name):
        env, params = custom(name)
        return from_object(env, params, name=name, discrete=discrete)
    if brax_envs.is_brax(name):
        if discrete:
            raise ValueError(f"env: {name!r} has a continuous action space; DQN needs one of {', '.join(valid)}")
        with jax.ensure_compile_time_eval():  # bounds stay concrete when built inside jit
            return _make_brax(name, brax_backend)
    if not is_known(name):
        raise ValueError(
            f"env: unknown environment {name!r}; choose one of {', '.join(valid)}, a name given to "
            "pn_jax.envs.register, or package.module:callable"
        )
    with jax.ensure_compile_time_eval():  # spaces and bounds stay concrete when built inside jit
        return _make_gymnax_env(name, discrete, valid)


def _make_gymnax_env(name: str, discrete: bool, valid: tuple[str, ...]) -> Env:
    """The :class:`Env` of a known gymnax name (see :func:`make`)."""
    env, params = make_gymnax(name)
    space = env.action_space(params)
    if discrete != isinstance(space, spaces.Discrete):
        kind = "a discrete" if isinstance(space, spaces.Discrete) else "a continuous"
        other, needs = (
            ("DDPG or TD3 (--algo ddpg / td3)", "DQN needs") if discrete else ("DQN (--algo dqn)", "DDPG and TD3 need")
        )
        raise ValueError(f"env: {name!r} has {kind} action space, for {other}; {needs} one of {', '.join(valid)}")
    if discrete:
        shape, num_actions = (1,), int(space.n)
        low, high = jnp.zeros(shape), jnp.full(shape, num_actions - 1.0)
    else:
        shape, num_actions = space.shape if len(space.shape) else (1,), 0
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), shape)
    obs_shape = env.observation_space(params).shape
    return Env(
        name=name,
        env=env,
        params=params,
        obs_dim=math.prod(obs_shape),
        action_dim=int(shape[0]),
        action_low=low,
        action_high=high,
        max_steps=int(params.max_steps_in_episode),
        goal=GOALS.get(name) or (DEEP_SEA_GOAL if deep_sea(name)[0] else None),
        plane=PLANES.get(name) or _default_plane(env.observation_space(params)),
        num_actions=num_actions,
    )


def _make_brax(name: str, backend: str) -> Env:
    """The :class:`Env` of ``brax/<name>``: 1000-step episodes, the first two observations as its plane."""
    task, low, high = brax_envs.make_task(name, backend)
    return _brax_record(name, task, low, high, upright=brax_envs.torso_up if brax_envs.has_torso(name) else None)


def _brax_record(
    name: str, task: brax_envs.BraxTask, low: jax.Array, high: jax.Array, upright: Callable | None = None
) -> Env:
    """The :class:`Env` of a brax task: its 1000-step episodes, the first two observations as its plane."""
    return Env(
        name=name,
        env=task,
        params=None,
        obs_dim=int(task.env.observation_size),
        action_dim=int(task.env.action_size),
        action_low=low,
        action_high=high,
        max_steps=task.max_steps,
        goal=None,
        plane=Plane(lambda obs: obs[..., :2], (-1.0, -1.0), (1.0, 1.0), ("obs[0]", "obs[1]")),
        upright=upright,
    )


def _is_brax_env(env: Any) -> bool:
    """Whether ``env`` is a brax ``Env`` (checked only where brax is already imported)."""
    base = sys.modules.get("brax.envs.base")
    return base is not None and isinstance(env, base.Env)


def _is_box(space: Any) -> bool:
    """A box space: gymnax's ``Box`` or anything with ``low``, ``high`` and a 0-d or 1-d ``shape``."""
    return all(hasattr(space, field) for field in ("low", "high", "shape")) and len(space.shape) <= 1


def _is_discrete(space: Any) -> bool:
    """A discrete space: gymnax's ``Discrete`` or anything with an integer ``n`` and no bounds."""
    return isinstance(getattr(space, "n", None), (int, np.integer)) and not hasattr(space, "low")


def from_object(env: Any, params: Any = None, *, name: str, discrete: bool = False) -> Env:
    """The :class:`Env` record of your own environment object, trained like a built-in one.

    Args:
      env: a ``gymnax.environments.environment.Environment`` subclass (:class:`SparseReward` too):
        you write ``step_env`` / ``reset_env``, ``action_space(params)`` (a ``Box`` for DDPG/TD3,
        ``Discrete`` for DQN) and ``observation_space(params)`` (a ``Box``); its params hold the time
        limit ``max_steps_in_episode``, and gymnax's ``step`` adds the truncation, the auto-reset and
        ``info["final_observation"]`` (the pre-reset observation the replay stores) — or a bare brax
        ``Env``, given a 1000-step time limit and auto-reset (:class:`~pn_jax.envs.brax_envs.BraxTask`).
      params: its parameters (default: ``env.default_params``; unused for brax).
      name: the run's label (metrics.json, checkpoints).
      discrete: expect a discrete action space (DQN).

    Raises:
      ValueError: one line naming what is wrong with the object.
    """
    with jax.ensure_compile_time_eval():  # spaces and bounds stay concrete when built inside jit
        if _is_brax_env(env):
            if discrete:
                raise ValueError(f"env: {name!r} is a brax Env (continuous actions); DQN needs a discrete one")
            wrappers = sys.modules.get("brax.envs.wrappers.training")
            if wrappers is not None and isinstance(env, wrappers.Wrapper):
                raise ValueError(
                    f"env: {name!r} is wrapped by brax ({type(env).__name__}): pass the bare env "
                    "(brax.envs.get_environment(...), not brax.envs.create(...)); pn_jax adds the time limit "
                    "and the auto-reset that keep truncation apart from termination"
                )
            if params is not None:
                raise ValueError(f"env_params: {name!r} is a brax Env, which keeps its system itself; give none")
            ones = jnp.ones((env.action_size,), jnp.float32)  # brax maps [-1, 1] onto its actuators itself
            return _brax_record(name, brax_envs.BraxTask(env), -ones, ones)
        return _from_gymnax_style(env, params, name, discrete)


def _from_gymnax_style(env: Any, params: Any, name: str, discrete: bool) -> Env:
    """:func:`from_object` for a gymnax-style object; checks its interface by tracing it abstractly."""
    if not isinstance(env, environment.Environment):
        raise ValueError(
            f"env: {name!r} is a {type(env).__name__}, not a gymnax Environment subclass or a brax Env; subclass "
            "gymnax.environments.environment.Environment (its step adds the time limit and the auto-reset)"
        )
    if params is None:
        params = getattr(env, "default_params", None)
    if not hasattr(params, "max_steps_in_episode"):
        raise ValueError(f"env: {name!r}: its params need max_steps_in_episode (the time limit), got {params!r}")
    space, obs_space = env.action_space(params), env.observation_space(params)
    if discrete and not _is_discrete(space):
        raise ValueError(f"env: {name!r} has a {type(space).__name__} action space; DQN needs a Discrete one")
    if not discrete and not _is_box(space):
        raise ValueError(
            f"env: {name!r} has a {type(space).__name__} action space; DDPG and TD3 need a 1-d Box "
            "(a Discrete one is for DQN: --algo dqn)"
        )
    if not hasattr(obs_space, "shape") or _is_discrete(obs_space):
        raise ValueError(f"env: {name!r} has a {type(obs_space).__name__} observation space; a Box is needed")
    shape = space.shape if not discrete and len(space.shape) else (1,)
    action = jnp.zeros((), jnp.int32) if discrete else jnp.zeros(shape, jnp.float32)
    key = jax.random.key(0)
    try:
        _, state = jax.eval_shape(lambda k: env.reset(k, params), key)
    except Exception as error:  # the user's code: report whatever it raised, on one line
        raise ValueError(f"env: {name!r}: reset(key, params) failed: {first_line(error)}") from None
    try:
        out = jax.eval_shape(lambda k, s, a: env.step(k, s, a, params), key, state, action)
    except Exception as error:  # the user's code: report whatever it raised, on one line
        raise ValueError(f"env: {name!r}: step(key, state, action, params) failed: {first_line(error)}") from None
    if not (isinstance(out, tuple) and len(out) == 6 and isinstance(out[5], dict) and "final_observation" in out[5]):
        raise ValueError(
            f"env: {name!r}: step must return gymnax 1.x's (obs, state, reward, terminated, truncated, info) "
            'with the pre-reset observation in info["final_observation"] (subclass gymnax Environment to get it)'
        )
    if discrete:
        low, high = jnp.zeros((1,)), jnp.full((1,), int(space.n) - 1.0)
    else:
        low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), shape)
        high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), shape)
        if not bool(jnp.all(jnp.isfinite(low) & jnp.isfinite(high))):
            raise ValueError(f"env: {name!r}: its action space needs finite bounds (actions are normalised onto them)")
    return Env(
        name=name,
        env=env,
        params=params,
        obs_dim=math.prod(obs_space.shape),
        action_dim=int(shape[0]),
        action_low=low,
        action_high=high,
        max_steps=int(params.max_steps_in_episode),
        goal=SPARSE_GOAL if isinstance(env, SparseReward) else None,
        plane=_default_plane(obs_space),
        num_actions=int(space.n) if discrete else 0,
    )


def describe(env: Env) -> str:
    """The class of the environment a run trained on, inside pn_jax's wrappers, e.g.
    ``brax.envs.half_cheetah.Halfcheetah`` or ``SparseReward(<module>.Pendulum)``."""

    def name(obj: Any) -> str:
        return f"{type(obj).__module__}.{type(obj).__qualname__}"

    inner = env.env.env if isinstance(env.env, brax_envs.BraxTask) else env.env
    return f"SparseReward({name(inner.base)})" if isinstance(inner, SparseReward) else name(inner)


SPARSE_GOAL = Goal(reward_above=0.5, solved_return=0.5)
"""Your own :class:`SparseReward` task pays 1 at the goal: a step above 0.5 reached it, a return above 0.5 solves it."""


def _default_plane(space: Any) -> Plane:
    """The first two observations, within the observation bounds where those are sensible."""
    low = np.broadcast_to(np.asarray(space.low, np.float64), space.shape).reshape(-1)
    high = np.broadcast_to(np.asarray(space.high, np.float64), space.shape).reshape(-1)
    low, high = np.resize(low, 2), np.resize(high, 2)  # a 1-D observation is paired with itself
    bounded = (np.abs(low) < 1e6) & (np.abs(high) < 1e6)
    low, high = np.where(bounded, low, -1.0), np.where(bounded, high, 1.0)

    def features(obs: jax.Array) -> jax.Array:  # obs [..., O], flattened observations
        return obs[..., np.arange(2) % obs.shape[-1]]

    return Plane(features, (float(low[0]), float(low[1])), (float(high[0]), float(high[1])), ("obs[0]", "obs[1]"))


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
    """Steps every copy with normalised ``action [N, A]`` (discrete: ``[N]`` ints); auto-resets finished episodes."""
    num_envs = action.shape[0]
    chex.assert_shape(action, (num_envs,) if env.num_actions else (num_envs, env.action_dim))
    keys = jax.random.split(key, num_envs)
    env_action = action if env.num_actions else to_env_action(env, action)
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
