"""brax environments (``brax/<name>``) behind the gymnax 1.x interface that :mod:`pn_jax.envs` drives.

brax is an optional extra (``pip install -e ".[brax]"``); nothing here imports it until a
``brax/…`` environment is built. brax's own ``step`` neither ends episodes on a time limit nor
resets; :class:`BraxTask` adds both the way gymnax does: episodes last at most ``max_steps``
(1000, as in the MuJoCo benchmarks), a finished episode is replaced by a fresh ``reset`` with its
own key in the same step, and ``info["final_observation"]`` keeps the true pre-reset observation
for the replay. brax's ``done`` (a hopper or walker falling) is a terminal state; reaching the time
limit is a truncation.
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from pn_jax.catalog import BRAX_BACKENDS, BRAX_DEFAULT_BACKEND, BRAX_PREFIX, is_brax

PREFIX = BRAX_PREFIX
BACKENDS = BRAX_BACKENDS
DEFAULT_BACKEND = BRAX_DEFAULT_BACKEND

EPISODE_STEPS = 1000
"""The time limit of every brax episode."""

INSTALL_HINT = 'pip install -e ".[brax]"'


class BraxState(NamedTuple):
    """One brax environment's state and its step count within the current episode."""

    brax: Any  # brax.envs.State (pipeline_state, obs, reward, done, metrics, info)
    time: jax.Array  # [] int32


NOISE = (
    "Brax System, piplines and environments are not actively being maintained",
    "JAXopt is no longer maintained",
)
"""Warnings brax and its dependencies give on every import or env build that ask nothing of a user."""


@contextlib.contextmanager
def _quiet():
    """Silences brax's import and build noise: MJX's ``Failed to import warp`` prints (an optional GPU
    backend), :data:`NOISE` warnings, and MuJoCo's compiler warnings about brax's own model files (which
    MuJoCo would also append to ``MUJOCO_LOG.TXT`` in the working directory); other warnings pass."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        for message in NOISE:
            warnings.filterwarnings("ignore", message=re.escape(message))
        yield


def _mujoco_warning(message: str) -> None:
    """MuJoCo's warnings as Python warnings (not printed and logged to ``MUJOCO_LOG.TXT`` by MuJoCo
    itself), except deprecations in brax's model files, which a user cannot act on."""
    if "deprecated" not in message:
        warnings.warn(f"MuJoCo: {message.strip()}", stacklevel=2)


def _brax_envs():
    """``brax.envs``, or a ``ValueError`` naming the extra to install."""
    try:
        with _quiet():
            from brax import envs as brax_envs
    except ImportError as error:
        raise ValueError(f"brax environments need the brax extra: {INSTALL_HINT} ({error})") from None
    import mujoco

    mujoco.set_mju_user_warning(_mujoco_warning)
    return brax_envs


def registered() -> tuple[str, ...]:
    """Every brax environment name as ``brax/<name>`` (needs the extra)."""
    return tuple(PREFIX + name for name in sorted(_brax_envs()._envs))


def problem(name: str, backend: str) -> str | None:
    """Why ``name`` / ``backend`` cannot be built (a one-line message), or None if they can."""
    if backend not in BACKENDS:
        return f"unknown brax backend {backend!r}; choose one of {', '.join(BACKENDS)}"
    try:
        names = registered()
    except ValueError as error:
        return f"{name!r}: {error}"
    if name not in names:
        return f"unknown brax environment {name!r}; choose one of {', '.join(names)}"
    return None


class BraxTask:
    """A brax environment with a time limit and auto-reset, stepped like a gymnax environment.

    ``reset(key, params) -> (obs [O], state)`` and ``step(key, state, action [A], params) ->
    (obs, state, reward, terminated, truncated, info)`` for one environment (``params`` is unused:
    brax keeps its system in the environment object); :mod:`pn_jax.envs` vmaps them.
    """

    def __init__(self, env: Any, max_steps: int = EPISODE_STEPS):
        self.env, self.max_steps = env, max_steps

    def reset(self, key: chex.PRNGKey, params: Any = None) -> tuple[jax.Array, BraxState]:
        state = self.env.reset(key)
        return state.obs, BraxState(state, jnp.zeros((), jnp.int32))

    def step(self, key: chex.PRNGKey, state: BraxState, action: jax.Array, params: Any = None):
        stepped = self.env.step(state.brax, action)
        time = state.time + 1
        terminated = stepped.done > 0.5
        truncated = (time >= self.max_steps) & ~terminated
        _, fresh = self.reset(key)
        done = terminated | truncated
        next_state = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, BraxState(stepped, time))
        info = {"final_observation": stepped.obs}
        return next_state.brax.obs, next_state, stepped.reward, terminated, truncated, info


def make_task(name: str, backend: str = DEFAULT_BACKEND) -> tuple[BraxTask, jax.Array, jax.Array]:
    """The :class:`BraxTask` for ``brax/<name>`` and its action bounds ``low, high [A]``.

    The bounds are always ``[-1, 1]``: brax environments take normalised actions and map them onto
    their actuators' control range themselves (humanoid, pusher and inverted_pendulum rescale
    explicitly; the others have a ±1 range), so mapping onto ``ctrl_range`` here would scale twice.

    Raises:
      ValueError: the extra is missing, or an unknown name or backend.
    """
    if message := problem(name, backend):
        raise ValueError(f"env: {message}")
    brax_envs = _brax_envs()
    with _quiet():
        env = brax_envs.get_environment(name[len(PREFIX) :], backend=backend)
    ones = jnp.ones((env.action_size,), jnp.float32)
    return BraxTask(env), -ones, ones


TORSO_BODIES = ("ant", "halfcheetah", "hopper", "humanoid", "humanoidstandup", "walker2d")
"""The brax environments whose body 0 is a torso that can end up on its back (:func:`torso_up`)."""


def has_torso(name: str) -> bool:
    """Whether ``brax/<name>``'s body 0 is a torso, so that :func:`torso_up` means something."""
    return is_brax(name) and name[len(PREFIX) :] in TORSO_BODIES


def torso_up(state: BraxState) -> jax.Array:
    """The world-z component of the torso's up axis (1 upright, < 0 upside down); ``[...]`` batch.

    Reads the torso's orientation quaternion ``(w, x, y, z)`` (body 0 of the physics state):
    the rotated z-axis has z-component ``1 − 2(x² + y²)``.
    """
    rot = state.brax.pipeline_state.x.rot[..., 0, :]
    return 1.0 - 2.0 * (jnp.square(rot[..., 1]) + jnp.square(rot[..., 2]))
