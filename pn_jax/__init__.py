"""pn_jax: parameter-space noise exploration for reinforcement learning in JAX."""

from pn_jax.config import DDPGConfig, DQNConfig, DQNHParams, HParams
from pn_jax.train import Metrics, TrainState, make_train

__all__ = ["DDPGConfig", "DQNConfig", "DQNHParams", "HParams", "Metrics", "TrainState", "make_train"]
__version__ = "0.1.0"
