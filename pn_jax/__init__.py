"""pn_jax: parameter-space noise exploration for reinforcement learning in JAX."""

from pn_jax.config import DDPGConfig, DQNConfig, DQNHParams, HParams, TD3Config
from pn_jax.train import Metrics, Trainer, TrainState, make_train, make_trainer

__all__ = [
    "DDPGConfig",
    "DQNConfig",
    "DQNHParams",
    "HParams",
    "Metrics",
    "Trainer",
    "TD3Config",
    "TrainState",
    "make_train",
    "make_trainer",
]
__version__ = "0.1.0"
