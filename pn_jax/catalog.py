"""What a config can name, importable without JAX: environments, explorations, physics pipelines.

Configs validate their names against these tables on construction, and a command line builds its
parser from the configs, so ``pn-train --help`` answers without starting JAX, gymnax or brax.
:mod:`pn_jax.envs` and :mod:`pn_jax.noise` re-export what they own from here
(``tests/test_config.py`` checks the tables against gymnax's own registry).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

EXPLORATIONS: tuple[str, ...] = ("param", "gaussian", "ou", "param+gaussian", "none")
"""The strategies of the continuous-action learners (DDPG, TD3)."""

DQN_EXPLORATIONS: tuple[str, ...] = ("param", "egreedy")
"""The strategies of DQN."""

PPO_EXPLORATIONS: tuple[str, ...] = ("gaussian", "param")
"""PPO's strategies: its own sampling alone, or its own sampling from a parameter-perturbed policy."""

BRAX_PREFIX = "brax/"
"""Environment names ``brax/<name>`` select brax's registered environment ``<name>``."""

BRAX_BACKENDS: tuple[str, ...] = ("positional", "generalized", "spring", "mjx")
"""brax's physics pipelines."""

BRAX_DEFAULT_BACKEND = "positional"

GYMNAX_CONTINUOUS: tuple[str, ...] = (
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "PointRobot-misc",
    "Reacher-misc",
    "Swimmer-misc",
)
"""gymnax 1.0's environments with a ``Box`` action space."""

GYMNAX_DISCRETE: tuple[str, ...] = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "Asterix-MinAtar",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "Seaquest-MinAtar",
    "SpaceInvaders-MinAtar",
    "Catch-bsuite",
    "DeepSea-bsuite",
    "MemoryChain-bsuite",
    "UmbrellaChain-bsuite",
    "DiscountingChain-bsuite",
    "MNISTBandit-bsuite",
    "SimpleBandit-bsuite",
    "FourRooms-misc",
    "MetaMaze-misc",
    "BernoulliBandit-misc",
    "GaussianBandit-misc",
    "Pong-misc",
    "FrozenLake-misc",
)
"""gymnax 1.0's environments with a ``Discrete`` action space."""

SPARSE_NAMES: tuple[str, ...] = ("SparsePendulum-v1",)
"""The sparse-reward variants :mod:`pn_jax.envs.sparse` builds (continuous actions)."""

CONTINUOUS_ENVS: tuple[str, ...] = (
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    *SPARSE_NAMES,
    "Reacher-misc",
    "Swimmer-misc",
    "PointRobot-misc",
    "brax/<name>",
)
"""Environments with a ``Box`` action space that DDPG-style learners can drive (brax: with the extra)."""

DISCRETE_ENVS: tuple[str, ...] = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "DeepSea-<N>",
    "DeepSeaRandom-<N>[-<K>]",
    "Breakout-MinAtar",
    "Freeway-MinAtar",
    "Asterix-MinAtar",
    "SpaceInvaders-MinAtar",
)
"""gymnax environments with a ``Discrete`` action space for DQN. ``DeepSea-<N>`` is a chain of length N
whose "right" is action 1 in every cell; ``DeepSeaRandom-<N>-<K>`` the same chain with a random
action map drawn from :func:`pn_jax.envs.action_map_key` ``(K)`` (K = 0 when left out)."""


def is_brax(name: Any) -> bool:
    """Whether ``name`` asks for a brax environment (``brax/<name>``), installed or not."""
    return isinstance(name, str) and name.startswith(BRAX_PREFIX)


def deep_sea(name: str) -> tuple[int, int | None]:
    """``(N, None)`` for ``DeepSea-<N>``, ``(N, K)`` for ``DeepSeaRandom-<N>[-<K>]`` (N ≥ 2, K < 2³²);
    ``(0, None)`` for any other name."""
    match = re.fullmatch(r"DeepSea-(\d+)|DeepSeaRandom-(\d+)(?:-(\d+))?", name, re.ASCII)
    size = int(match[1] or match[2]) if match else 0
    map_seed = int(match[3] or 0) if match and match[2] else None
    if size < 2 or (map_seed or 0) >= 2**32:
        return 0, None
    return size, map_seed


def has_continuous_actions(name: str) -> bool | None:
    """True or False for a built-in gymnax, sparse, DeepSea or brax name; None for any other name
    (registered, ``module:callable``, or a label)."""
    if is_brax(name) or name in GYMNAX_CONTINUOUS or name in SPARSE_NAMES:
        return True
    if name in GYMNAX_DISCRETE or deep_sea(name)[0] > 0:
        return False
    return None


_ENTRY_POINT = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", re.ASCII)


def is_entry_point(name: str) -> bool:
    """Whether ``name`` has the form ``package.module:callable`` (a factory that :func:`pn_jax.envs.make` imports)."""
    return isinstance(name, str) and _ENTRY_POINT.fullmatch(name) is not None


def entry_point(name: str) -> Callable[[], Any]:
    """The callable that ``package.module:callable`` names, imported now.

    Raises:
      ValueError: one line naming what cannot be imported or found.
    """
    module_name, _, attribute = name.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as error:  # any failure inside the user's module is reported the same way
        raise ValueError(f"env: cannot import {module_name!r} for {name!r}: {first_line(error)}") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"env: module {module_name!r} has no attribute {attribute!r} (from {name!r})")
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"env: {name!r} is not callable; it must return the env or (env, env_params)")
    return target


def first_line(error: Exception) -> str:
    """``Type: first line of the message`` (a traced-value error runs to several lines)."""
    lines = str(error).strip().splitlines()
    more = " (call pn_jax.envs.from_object on it in Python for the whole message)" if len(lines) > 1 else ""
    return f"{type(error).__name__}: {lines[0] if lines else ''}{more}"
