"""pn_jax: parameter-space noise exploration for reinforcement learning in JAX.

The public names below are imported on first use, so ``import pn_jax.cli`` can still choose JAX's
devices before anything starts its backends (importing gymnax does).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pn_jax.config import PRESETS, DDPGConfig, DQNConfig, DQNHParams, HParams, PPOConfig, TD3Config, preset
    from pn_jax.train import Metrics, Trainer, TrainState, make_train, make_trainer

_HOMES = {
    "DDPGConfig": "pn_jax.config",
    "DQNConfig": "pn_jax.config",
    "DQNHParams": "pn_jax.config",
    "HParams": "pn_jax.config",
    "TD3Config": "pn_jax.config",
    "PPOConfig": "pn_jax.config",
    "PRESETS": "pn_jax.config",
    "preset": "pn_jax.config",
    "Metrics": "pn_jax.train",
    "Trainer": "pn_jax.train",
    "TrainState": "pn_jax.train",
    "make_train": "pn_jax.train",
    "make_trainer": "pn_jax.train",
}
__all__ = [
    "PRESETS",
    "DDPGConfig",
    "DQNConfig",
    "DQNHParams",
    "HParams",
    "Metrics",
    "PPOConfig",
    "TD3Config",
    "Trainer",
    "TrainState",
    "make_train",
    "make_trainer",
    "preset",
]
__version__ = "0.1.0"


_SUBMODULES = (
    "agents",
    "catalog",
    "checkpoint",
    "cli",
    "config",
    "diagnostics",
    "envs",
    "experiments",
    "networks",
    "noise",
    "normalization",
    "parallel",
    "progress",
    "replay",
    "results",
    "runner",
    "train",
    "train_ppo",
)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    if name in _SUBMODULES:  # ``import pn_jax; pn_jax.envs.make(...)`` works as with eager imports
        return importlib.import_module(f"pn_jax.{name}")
    raise AttributeError(f"module 'pn_jax' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES, *_SUBMODULES])
