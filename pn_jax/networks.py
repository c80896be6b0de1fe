"""flax.linen networks. Params are plain pytrees, so :mod:`pn_jax.noise` can perturb them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def _final_init(scale: float = 3e-3) -> nn.initializers.Initializer:
    """``U(-scale, scale)`` init for output layers (Lillicrap et al., 2016)."""

    def init(key: jax.Array, shape: Sequence[int], dtype: jnp.dtype = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


class MLP(nn.Module):
    """Dense → [LayerNorm] → ReLU per hidden layer.

    LayerNorm sits after each hidden Dense and before the nonlinearity, so a parameter
    perturbation of a given σ changes every layer's pre-activations on the same scale.
    """

    hidden_sizes: Sequence[int]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = nn.Dense(size)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.relu(x)
        return x


class Actor(nn.Module):
    """Deterministic policy ``π(s)``: ``obs [..., O] -> action [..., A]`` in ``[-1, 1]`` (tanh).

    The environment wrapper maps ``[-1, 1]`` onto each environment's own bounds, so action
    distances are measured in the same units for every task.
    """

    action_dim: int
    hidden_sizes: Sequence[int] = (64, 64)
    layer_norm: bool = True

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = MLP(self.hidden_sizes, self.layer_norm)(obs)
        x = nn.Dense(self.action_dim, kernel_init=_final_init(), bias_init=_final_init())(x)
        return jnp.tanh(x)


class Critic(nn.Module):
    """State-action value ``Q(s, a)``: ``obs [..., O], action [..., A] -> [...]``.

    ``layer_norm``: LayerNorm after each hidden Dense, as in the actor (OpenAI baselines' DDPG,
    the setup of Plappert et al. 2018, normalises both). Off by default.
    ``action_layer``: the action joins the input of hidden layer ``k``: 0 with the observation
    (default), 1 after the first hidden layer has seen the observation alone (baselines' DDPG, and
    Lillicrap et al. 2016), up to ``len(hidden_sizes)`` (the output layer's input).
    """

    hidden_sizes: Sequence[int] = (64, 64)
    layer_norm: bool = False
    action_layer: int = 0

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        k = self.action_layer
        if k == 0:
            x = MLP(self.hidden_sizes, self.layer_norm)(jnp.concatenate([obs, action], axis=-1))
        else:
            x = MLP(self.hidden_sizes[:k], self.layer_norm)(obs)
            x = MLP(self.hidden_sizes[k:], self.layer_norm)(jnp.concatenate([x, action], axis=-1))
        return nn.Dense(1, kernel_init=_final_init(), bias_init=_final_init())(x)[..., 0]


def hidden_kernel_mask(params: Any) -> Any:
    """Marks the kernels of hidden Dense layers: those inside an :class:`MLP` of these modules.

    Biases, LayerNorm ``scale``/``bias`` and the output layer (the module's own ``Dense_0``) are
    False: the weights OpenAI baselines' DDPG regularises (``'kernel' in name and 'output' not
    in name``). Works on any pytree of flax params (e.g. the twin critics' tuple).

    Args:
      params: a flax params pytree, or a container of them.

    Returns:
      A pytree of Python bools with the structure of ``params``.
    """

    def is_hidden_kernel(path: tuple, _: Any) -> bool:
        names = [getattr(entry, "key", None) for entry in path]
        return names[-1:] == ["kernel"] and any(isinstance(n, str) and n.startswith("MLP_") for n in names)

    return jax.tree_util.tree_map_with_path(is_hidden_kernel, params)


class QNetwork(nn.Module):
    """Action values ``Q(s, ·)``: ``obs [..., O] -> [..., |A|]``, LayerNorm per hidden layer if asked.

    Parameter noise perturbs this network itself (its Dense kernels and biases, never LayerNorm),
    and the agent acts greedily on the perturbed values.
    """

    num_actions: int
    hidden_sizes: Sequence[int] = (64, 64)
    layer_norm: bool = True

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return nn.Dense(self.num_actions)(MLP(self.hidden_sizes, self.layer_norm)(obs))
