"""PPO (Schulman et al., 2017) as pure pieces: networks, distributions, GAE, the loss and the update.

The policy is a *mean network* (an MLP with LayerNorm after each hidden layer, like
:class:`pn_jax.networks.Actor`, so one parameter-noise σ means the same in every layer) that gives
the mean of a diagonal Gaussian with a state-independent log-std (continuous actions, normalised
``[-1, 1]`` units) or the logits of a categorical (discrete actions); a separate value network.

Parameter noise enters through :func:`perturbed_apply`: the mean network evaluated at ``θ + σ·ε_g``
with one ``ε_g`` per environment, applied to that environment's rows (one observation when acting,
its rollout's steps when learning). ``ε`` enters as a constant (``stop_gradient``), so the gradient
reaches θ through ``θ + σε`` and never ε; LayerNorm parameters and the log-std are never perturbed
(:func:`pn_jax.noise.perturbable_mask`).

References:
  Schulman et al., 2017. Proximal Policy Optimization Algorithms. arXiv:1707.06347.
  Schulman et al., 2016. High-Dimensional Continuous Control Using Generalized Advantage Estimation. ICLR.
  Plappert et al., 2018. Parameter Space Noise for Exploration. ICLR (sec. 3.3, on-policy methods).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from pn_jax.networks import MLP
from pn_jax.noise import perturbable_mask

Params = Any


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


class PolicyMean(nn.Module):
    """``obs [B, O] -> [B, out_dim]``: the Gaussian's mean (continuous) or the logits (discrete).

    Dense → [LayerNorm] → ReLU per hidden layer (:class:`pn_jax.networks.MLP`), then a linear
    output initialised near 0 (orthogonal, scale 0.01, as PureJaxRL's PPO), so the first policy
    acts close to its log-std's noise around 0.
    """

    out_dim: int
    hidden_sizes: Sequence[int] = (64, 64)
    layer_norm: bool = True

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = MLP(self.hidden_sizes, self.layer_norm)(obs)
        return nn.Dense(self.out_dim, kernel_init=nn.initializers.orthogonal(0.01))(x)


class ValueNetwork(nn.Module):
    """``obs [B, O] -> [B]``: the state value, an MLP without LayerNorm."""

    hidden_sizes: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = MLP(self.hidden_sizes, layer_norm=False)(obs)
        return nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(x)[..., 0]


class PPOParams(NamedTuple):
    policy: Params  # the mean network θ (flax params): what parameter noise perturbs
    log_std: jax.Array  # [A] state-independent log-std (continuous; [0] for a discrete policy)
    value: Params  # the value network (flax params)


# --------------------------------------------------------------------------------------------
# Parameter noise on a batch: one ε per sample
# --------------------------------------------------------------------------------------------


def noise_tree(params: Params, rows: jax.Array, scale: jax.Array | float, mask: Params | None = None) -> Params:
    """``scale·ε_g`` for each perturbation ``g``, ``ε_g = rows[g]``, cut into the masked leaves of ``params``.

    ``ε`` is read in leaf order, as :func:`pn_jax.noise.perturb` and the parameter-noise
    strategies cut a flat draw (``P``: the masked leaves' total size). Unmasked leaves (LayerNorm)
    are left out: the result holds only the ``kernel``/``bias`` of Dense layers, the variables
    :func:`perturbed_apply` reads.

    Args:
      params: flax params ``{"params": {...}}`` (θ, no batch axis).
      rows: ``[G, P]`` float32, one ε per perturbation.
      scale: σ, a scalar.
      mask: perturbable leaves (default :func:`pn_jax.noise.perturbable_mask`).

    Returns:
      A nested dict like ``params`` with the masked leaves only, each ``[G, *leaf.shape]``.
    """
    mask = perturbable_mask(params) if mask is None else mask
    leaves, treedef = jax.tree.flatten(params)
    pieces, offset = [], 0
    for leaf, flag in zip(leaves, treedef.flatten_up_to(mask), strict=True):
        if flag:
            piece = rows[:, offset : offset + leaf.size].reshape(rows.shape[:1] + leaf.shape)
            pieces.append((scale * piece).astype(leaf.dtype))
            offset += leaf.size
        else:
            pieces.append(None)
    if offset != rows.shape[1]:
        raise ValueError(f"rows: {rows.shape[1]} values per row for {offset} perturbable weights")

    def prune(node: Any) -> Any:
        if not hasattr(node, "items"):
            return node
        kept = {name: prune(child) for name, child in node.items()}
        return {name: child for name, child in kept.items() if child is not None and not _empty(child)}

    return prune(jax.tree.unflatten(treedef, pieces))


def _empty(node: Any) -> bool:
    return isinstance(node, dict) and not node


def num_perturbable(params: Params, mask: Params | None = None) -> int:
    """``P``: the number of weights parameter noise perturbs (static)."""
    mask = perturbable_mask(params) if mask is None else mask
    return sum(leaf.size for leaf, flag in zip(jax.tree.leaves(params), jax.tree.leaves(mask), strict=True) if flag)


def _add_dense_noise(next_fun, args, kwargs, context):
    """flax interceptor: a Dense layer with a ``noise`` variable adds ``x·E + e`` per sample."""
    out = next_fun(*args, **kwargs)
    module = context.module
    if isinstance(module, nn.Dense) and context.method_name == "__call__" and module.has_variable("noise", "kernel"):
        x = args[0]
        kernel = jax.lax.stop_gradient(module.get_variable("noise", "kernel"))  # [B, I, O]
        bias = jax.lax.stop_gradient(module.get_variable("noise", "bias"))  # [B, O]
        out = out + jnp.einsum("bi,bio->bo", x, kernel.astype(x.dtype)) + bias
    return out


def _moved(theta: Any, noise: Any) -> tuple[Any, Any]:
    """``(θ + noise, vmap axes)``: perturbed leaves ``[G, ...]`` (axis 0), the others θ's own (None)."""
    if hasattr(theta, "items"):
        pairs = {name: _moved(child, None if noise is None else noise.get(name)) for name, child in theta.items()}
        return {name: pair[0] for name, pair in pairs.items()}, {name: pair[1] for name, pair in pairs.items()}
    if noise is None:
        return theta, None
    return theta + jax.lax.stop_gradient(noise), 0


def perturbed_apply(module: nn.Module, params: Params, noise: Params | None, obs: jax.Array) -> jax.Array:
    """``module`` at ``θ + noise_g`` for ``G`` perturbations, each applied to its own rows of ``obs``.

    ``obs [G·R, O] -> [G·R, ...]``: rows ``g·R … g·R + R − 1`` use perturbation ``g`` (``R`` =
    ``len(obs) / G``). Two programs, equal up to float rounding to
    ``vmap(module.apply)(θ + noise, obs.reshape(G, R, O))``:

    * ``R = 1`` (one sample per perturbation, e.g. acting with ``N`` envs): each Dense layer
      computes ``x·W + b + (x·E_g + e_g)``, one pass over the noise and no copies of θ;
    * ``R > 1`` (e.g. all ``T`` steps of an env in a minibatch): ``G`` perturbed copies of θ, each
      applied to its ``R`` rows as one matrix product, so the cost is that of the unperturbed
      network plus ``G·P`` additions.

    The noise is a constant (``stop_gradient``): gradients flow to θ only, summed over the copies.

    Args:
      module: a flax module built of ``nn.Dense`` (and unperturbed layers such as LayerNorm).
      params: θ, flax params ``{"params": {...}}``.
      noise: :func:`noise_tree` output (``[G, ...]`` leaves); None applies θ itself.
      obs: ``[G·R, O]``.
    """
    if noise is None:
        return module.apply(params, obs)
    groups = jax.tree.leaves(noise)[0].shape[0]
    if obs.shape[0] % groups:
        raise ValueError(f"obs: {obs.shape[0]} rows for {groups} perturbations (must be a multiple)")
    if obs.shape[0] == groups:
        with nn.intercept_methods(_add_dense_noise):
            return module.apply({**params, "noise": noise["params"]}, obs)
    moved, axes = _moved(params, noise)
    out = jax.vmap(module.apply, in_axes=(axes, 0))(moved, obs.reshape(groups, -1, *obs.shape[1:]))
    return out.reshape(obs.shape[0], *out.shape[2:])


# --------------------------------------------------------------------------------------------
# Distributions (continuous: diagonal Gaussian on normalised actions; discrete: categorical)
# --------------------------------------------------------------------------------------------

_LOG_2PI = math.log(2.0 * math.pi)


def log_prob(out: jax.Array, log_std: jax.Array, action: jax.Array, discrete: bool) -> jax.Array:
    """``log π(a|s)``: ``out [B, A]`` means (or ``[B, |A|]`` logits), ``action [B, A]`` (or ``[B]`` ints) -> ``[B]``."""
    if discrete:
        return jnp.take_along_axis(jax.nn.log_softmax(out), action[:, None].astype(jnp.int32), axis=-1)[:, 0]
    z = (action - out) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * jnp.square(z) - log_std - 0.5 * _LOG_2PI, axis=-1)


def entropy(out: jax.Array, log_std: jax.Array, discrete: bool) -> jax.Array:
    """``H[π(·|s)]`` per sample: ``[B]``."""
    if discrete:
        logp = jax.nn.log_softmax(out)
        return -jnp.sum(jnp.exp(logp) * logp, axis=-1)
    return jnp.broadcast_to(jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI)), out.shape[:1])


def sample(key: chex.PRNGKey, out: jax.Array, log_std: jax.Array, discrete: bool) -> jax.Array:
    """One action per row of ``out``: ``[B, A]`` floats (unclipped) or ``[B]`` int32."""
    if discrete:
        return jax.random.categorical(key, out).astype(jnp.int32)
    return out + jnp.exp(log_std) * jax.random.normal(key, out.shape, out.dtype)


def mode(out: jax.Array, discrete: bool) -> jax.Array:
    """The deterministic action: the mean (continuous) or ``argmax`` of the logits (discrete)."""
    return jnp.argmax(out, axis=-1).astype(jnp.int32) if discrete else out


def kl(out_p: jax.Array, out_q: jax.Array, log_std: jax.Array, discrete: bool) -> jax.Array:
    """``KL(π_p ‖ π_q)`` per sample ``[B]``, both with the same log-std (continuous).

    Continuous: ``Σ_a (μ_p − μ_q)² / (2·std²)``; discrete: ``Σ p·(log p − log q)``.
    """
    if discrete:
        log_p, log_q = jax.nn.log_softmax(out_p), jax.nn.log_softmax(out_q)
        return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)
    return jnp.sum(0.5 * jnp.square((out_p - out_q) * jnp.exp(-log_std)), axis=-1)


# --------------------------------------------------------------------------------------------
# Generalized advantage estimation
# --------------------------------------------------------------------------------------------


def gae(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Generalized advantage estimates over a rollout of ``T`` steps of ``N`` environments.

    ``δ_t = r_t + γ·(1 − terminated_t)·V(s'_t) − V(s_t)`` with ``s'_t`` the true successor (the
    pre-reset final observation where the episode ended), so a truncated episode (time limit)
    bootstraps from its final observation's value and a terminated one does not;
    ``A_t = δ_t + γλ·(1 − done_t)·A_{t+1}`` (an episode end, of either kind, stops the sum) and
    ``A_T = 0`` after the last step (``δ_{T−1}`` bootstraps from ``V(s'_{T−1})``).

    Args:
      reward: ``[T, N]``.
      value: ``[T, N]`` ``V(s_t)``.
      next_value: ``[T, N]`` ``V(s'_t)``.
      terminated: ``[T, N]`` bool: ``s'_t`` is terminal.
      done: ``[T, N]`` bool: the episode ended at step ``t`` (terminated or truncated).
      gamma, gae_lambda: discount γ and λ.

    Returns:
      ``(advantages [T, N], value targets [T, N] = advantages + value)``.
    """
    chex.assert_equal_shape((reward, value, next_value, terminated, done))
    not_terminal = 1.0 - terminated.astype(reward.dtype)
    delta = reward + gamma * not_terminal * next_value - value
    carry_on = gamma * gae_lambda * (1.0 - done.astype(reward.dtype))

    def backward(advantage, step):
        delta_t, carry_t = step
        advantage = delta_t + carry_t * advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(delta[0]), (delta, carry_on), reverse=True)
    return advantages, advantages + value


# --------------------------------------------------------------------------------------------
# The learner
# --------------------------------------------------------------------------------------------


class PPOState(NamedTuple):
    params: PPOParams
    opt_state: Any


class Batch(NamedTuple):
    """A minibatch of ``B`` transitions (every field ``[B, ...]``)."""

    obs: jax.Array  # [B, O] as the networks saw it when acting (normalised when obs_norm)
    action: jax.Array  # [B, A] float (unclipped sample) or [B] int32
    log_prob: jax.Array  # [B] log π(a|s) of the policy that acted (perturbed under parameter noise)
    value: jax.Array  # [B] V(s) when acting
    advantage: jax.Array  # [B]
    target: jax.Array  # [B] value target


class PPOInfo(NamedTuple):
    """Per-update diagnostics (scalars)."""

    value_loss: jax.Array  # ½·mean (V − target)² (clipped variant when clip_value)
    policy_loss: jax.Array  # −mean min(ρ·Â, clip(ρ)·Â)
    entropy: jax.Array  # mean entropy of the acting distribution
    approx_kl: jax.Array  # mean (ρ − 1) − log ρ  (≥ 0; an estimate of KL(old ‖ new))
    clip_fraction: jax.Array  # share of samples with |ρ − 1| > clip_eps
    ratio_deviation: jax.Array  # max |ρ − 1| over the minibatch (≈ 0, float rounding, before an update's first step)


class PPO(NamedTuple):
    """``init(key, obs [O]) -> PPOState``; ``update(state, batch, noise) -> (state, info)``;
    ``policy_out(params, obs [B, O], noise) -> [B, out]``; ``value(params, obs [B, O]) -> [B]``."""

    init: Callable[..., PPOState]
    update: Callable[..., tuple[PPOState, PPOInfo]]
    policy_out: Callable[..., jax.Array]
    value: Callable[..., jax.Array]
    discrete: bool


def ppo_optimizer(lr: jax.Array | float, max_grad_norm: float, anneal_updates: int = 0) -> optax.GradientTransformation:
    """``clip_by_global_norm(max_grad_norm)`` then Adam (ε = 1e-5, as PureJaxRL) at ``lr``, decayed
    linearly to 0 over ``anneal_updates`` gradient steps when that is > 0."""
    schedule = optax.linear_schedule(lr, 0.0, anneal_updates) if anneal_updates else lr
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(schedule, eps=1e-5))


def make_ppo(
    policy: PolicyMean,
    value: ValueNetwork,
    discrete: bool,
    *,
    lr: jax.Array | float = 1e-3,
    clip_eps: jax.Array | float = 0.2,
    ent_coef: jax.Array | float = 0.0,
    vf_coef: jax.Array | float = 0.5,
    max_grad_norm: float = 10.0,
    anneal_updates: int = 0,
    init_log_std: float = 0.0,
    learn_log_std: bool = True,
    clip_value: bool = True,
) -> PPO:
    """Builds the PPO learner.

    One Adam optimiser over policy, log-std and value parameters on
    ``L = L_clip + vf_coef·L_V − ent_coef·H``, gradients clipped to a global norm. Advantages are
    normalised per minibatch. With ``clip_value`` the value loss is PPO2's clipped one,
    ``½·max((V − R)², (V_old + clip(V − V_old, ±clip_eps) − R)²)``. With ``learn_log_std=False`` the
    log-std stays at ``init_log_std`` (no gradient reaches it).

    ``update(state, batch, noise)`` takes the parameter noise of the policies that acted
    (:func:`noise_tree`, ``[G, ...]`` leaves; rows ``g·R … g·R + R − 1`` of the batch acted with
    ``ε_g``, see :func:`perturbed_apply`), or None: the ratio is ``π_{θ+σε_g}(a|s) / π_old(a|s)``
    with the same ``ε_g`` that acted, recomputed at the current θ, and the gradient is taken with
    respect to θ.

    Args:
      policy, value: the networks.
      discrete: categorical policy (``policy.out_dim`` actions) instead of a Gaussian.
      lr, clip_eps, ent_coef, vf_coef: hyper-parameters (traced arrays or floats).
      max_grad_norm, anneal_updates, init_log_std, learn_log_std, clip_value: static.
    """
    optimiser = ppo_optimizer(lr, max_grad_norm, anneal_updates)
    action_dim = 0 if discrete else policy.out_dim

    def init(key: chex.PRNGKey, obs: jax.Array) -> PPOState:
        policy_key, value_key = jax.random.split(key)
        params = PPOParams(
            policy=policy.init(policy_key, obs[None]),
            log_std=jnp.full((action_dim,), init_log_std, jnp.float32),
            value=value.init(value_key, obs[None]),
        )
        return PPOState(params, optimiser.init(params))

    def policy_out(params: PPOParams, obs: jax.Array, noise: Params | None = None) -> jax.Array:
        return perturbed_apply(policy, params.policy, noise, obs)

    def value_fn(params: PPOParams, obs: jax.Array) -> jax.Array:
        return value.apply(params.value, obs)

    def loss_fn(params: PPOParams, batch: Batch, noise: Params | None):
        log_std = params.log_std if learn_log_std else jax.lax.stop_gradient(params.log_std)
        out = policy_out(params, batch.obs, noise)
        new_log_prob = log_prob(out, log_std, batch.action, discrete)
        log_ratio = new_log_prob - batch.log_prob
        ratio = jnp.exp(log_ratio)
        adv = (batch.advantage - jnp.mean(batch.advantage)) / (jnp.std(batch.advantage) + 1e-8)
        clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
        policy_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))

        v = value_fn(params, batch.obs)
        value_loss = jnp.square(v - batch.target)
        if clip_value:
            v_clipped = batch.value + jnp.clip(v - batch.value, -clip_eps, clip_eps)
            value_loss = jnp.maximum(value_loss, jnp.square(v_clipped - batch.target))
        value_loss = 0.5 * jnp.mean(value_loss)

        ent = jnp.mean(entropy(out, log_std, discrete))
        total = policy_loss + vf_coef * value_loss - ent_coef * ent
        info = PPOInfo(
            value_loss=value_loss,
            policy_loss=policy_loss,
            entropy=ent,
            approx_kl=jnp.mean((ratio - 1.0) - log_ratio),
            clip_fraction=jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)),
            ratio_deviation=jnp.max(jnp.abs(ratio - 1.0)),
        )
        return total, info

    def update(state: PPOState, batch: Batch, noise: Params | None = None) -> tuple[PPOState, PPOInfo]:
        chex.assert_rank(batch.log_prob, 1)
        chex.assert_equal_shape((batch.log_prob, batch.value, batch.advantage, batch.target))
        grads, info = jax.grad(loss_fn, has_aux=True)(state.params, batch, noise)
        updates, opt_state = optimiser.update(grads, state.opt_state, state.params)
        return PPOState(optax.apply_updates(state.params, updates), opt_state), info

    return PPO(init=init, update=update, policy_out=policy_out, value=value_fn, discrete=discrete)
