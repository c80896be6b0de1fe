"""Exploration: parameter-space noise and action-space noise as pure functions on pytrees.

Two layers:

* primitives — :func:`perturbable_mask`, :func:`perturb`, :func:`action_distance`,
  :func:`kl_distance`, :func:`adapt_sigma`, :func:`dqn_target_distance`;
* strategies — optax-style factories returning an :class:`Exploration`, a ``NamedTuple`` of four
  pure functions (``init``, ``act``, ``reset``, ``adapt``) over a strategy-specific ``NamedTuple``
  state. The rollout only calls that interface, so strategies swap without touching the learner.

Every strategy drives ``N`` parallel environments (the population). Parameter noise keeps one
perturbed copy of the actor per environment (leading axis ``[N]``), fixed for an episode (or for
``resample_every`` steps), so each environment explores with its own temporally consistent
"personality".

References:
  Plappert et al., 2018. Parameter Space Noise for Exploration. ICLR.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

Params = Any
ApplyFn = Callable[[Params, jax.Array], jax.Array]

EXPLORATIONS: tuple[str, ...] = ("param", "gaussian", "ou", "param+gaussian", "none")

_PARAM_HPARAMS = ("sigma_init", "target_distance", "adapt_alpha", "resample_every", "sigma_spread")
STRATEGY_HPARAMS: dict[str, tuple[str, ...]] = {
    "param": _PARAM_HPARAMS,
    "gaussian": ("action_noise_std",),
    "ou": ("action_noise_std", "ou_theta"),
    "param+gaussian": _PARAM_HPARAMS + ("action_noise_std",),
    "none": (),
}
"""The keyword arguments of :func:`make_exploration` each strategy reads (the rest it ignores)."""

# --------------------------------------------------------------------------------------------
# Primitives
# --------------------------------------------------------------------------------------------


def perturbable_mask(params: Params) -> Params:
    """Marks the leaves that parameter noise may perturb.

    A leaf is perturbable when it is the ``kernel`` of a layer, or the ``bias`` of a layer that
    also has a ``kernel`` (Dense, Conv). LayerNorm ``scale``/``bias`` (no kernel beside them) and
    anything else are left alone, so one σ means the same thing in every normalised layer.

    Args:
      params: a flax params pytree (nested dicts).

    Returns:
      A pytree of Python bools with the structure of ``params``.
    """

    def mark(node: Any) -> Any:
        if isinstance(node, dict):
            has_kernel = "kernel" in node
            return {
                name: (name == "kernel" or (name == "bias" and has_kernel))
                if not isinstance(child, dict)
                else mark(child)
                for name, child in node.items()
            }
        return False

    if hasattr(params, "items"):
        return mark(dict(params))
    return jax.tree.map(lambda _: False, params)


def perturb(key: chex.PRNGKey, params: Params, sigma: jax.Array | float, mask: Params | None = None) -> Params:
    """Returns ``θ + σ·ε``, ``ε ~ N(0, I)``, on the masked leaves; other leaves are returned as is.

    All perturbed leaves share one flat draw of ``N(0, I)`` (every element independent), cut
    into the leaves' shapes: one random-number kernel instead of one per leaf, which XLA
    compiles and runs markedly faster on a CPU.

    Args:
      key: PRNG key.
      params: the parameters θ to perturb.
      sigma: scalar noise scale σ (traced or Python float).
      mask: pytree of bools (default :func:`perturbable_mask` of ``params``).

    Returns:
      A pytree like ``params``.
    """
    if mask is None:
        mask = perturbable_mask(params)
    leaves, treedef = jax.tree.flatten(params)
    flags = treedef.flatten_up_to(mask)
    total = sum(leaf.size for leaf, flag in zip(leaves, flags, strict=True) if flag)
    if total == 0:
        return params
    eps = jax.random.normal(key, (total,), jnp.result_type(*[leaf.dtype for leaf in leaves]))
    out, offset = [], 0
    for leaf, flag in zip(leaves, flags, strict=True):
        if flag:
            out.append(leaf + sigma * eps[offset : offset + leaf.size].reshape(leaf.shape).astype(leaf.dtype))
            offset += leaf.size
        else:
            out.append(leaf)
    return jax.tree.unflatten(treedef, out)


def action_distance(apply_fn: ApplyFn, params: Params, perturbed_params: Params, obs: jax.Array) -> jax.Array:
    """``sqrt(mean((π(s) − π̃(s))²))`` over the batch and action dimensions.

    Args:
      apply_fn: ``apply_fn(params, obs [B, O]) -> actions [B, A]`` in normalised ``[-1, 1]`` units.
      params, perturbed_params: θ and θ̃.
      obs: ``[B, O]`` observations (a replay batch).

    Returns:
      A scalar.
    """
    diff = apply_fn(params, obs) - apply_fn(perturbed_params, obs)
    return jnp.sqrt(jnp.mean(jnp.square(diff)))


def kl_distance(apply_fn: ApplyFn, params: Params, perturbed_params: Params, obs: jax.Array) -> jax.Array:
    """Mean over the batch of ``KL(softmax Q(s) ‖ softmax Q̃(s))``.

    Args:
      apply_fn: ``apply_fn(params, obs [B, O]) -> q_values [B, |A|]``.
      params, perturbed_params: θ and θ̃.
      obs: ``[B, O]`` observations.

    Returns:
      A non-negative scalar.
    """
    log_p = jax.nn.log_softmax(apply_fn(params, obs), axis=-1)
    log_q = jax.nn.log_softmax(apply_fn(perturbed_params, obs), axis=-1)
    return jnp.mean(jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1))


def adapt_sigma(sigma: jax.Array, distance: jax.Array, target: jax.Array, alpha: jax.Array | float = 1.01) -> jax.Array:
    """Adaptive scaling: ``σ/α`` if ``distance > target`` else ``σ·α``."""
    return jnp.where(distance > target, sigma / alpha, sigma * alpha)


def dqn_target_distance(epsilon: jax.Array | float, num_actions: int) -> jax.Array:
    """The KL target that matches ε-greedy: ``δ = −log(1 − ε + ε/|A|)``."""
    return -jnp.log(1.0 - epsilon + epsilon / num_actions)


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------


class Exploration(NamedTuple):
    """A strategy: four pure functions over its own state (optax-style).

    Attributes:
      init: ``(key, actor_params, num_envs) -> state``.
      act: ``(key, state, actor_params, obs [N, O]) -> actions [N, A]`` in ``[-1, 1]``.
      reset: ``(key, state, actor_params, done [N]) -> state``; called after every environment
        step with the episode-end mask, so per-episode (or per-K-step) state is renewed.
      adapt: ``(key, state, actor_params, obs [B, O]) -> (state, ExplorationStats)``; called every
        ``adapt_every`` learner updates with a replay batch.
      refresh: ``(key, state, actor_params) -> state``; called at the end of every block of
        ``adapt_every`` steps, warm-up included, for periodic bookkeeping (default: none).
    """

    init: Callable[..., Any]
    act: Callable[..., jax.Array]
    reset: Callable[..., Any]
    adapt: Callable[..., tuple[Any, ExplorationStats]]
    refresh: Callable[..., Any] = lambda key, state, params: state


class ExplorationStats(NamedTuple):
    """What :attr:`Exploration.adapt` reports: the noise scale and the measured distance."""

    sigma: jax.Array  # [] parameter σ, or the action-noise std
    distance: jax.Array  # [] action-space distance (normalised units) of the exploration


class ParamNoiseState(NamedTuple):
    sigma: jax.Array  # [] shared σ (the population's geometric centre when spread)
    member_scale: jax.Array  # [N] each environment acts with σ·member_scale (all 1 without a spread)
    perturbed_params: Params  # θ̃ = θ + σ·ε, leading axis [N]: what each environment acts with
    noise_bank: Params  # ε ~ N(0, I), leading axis [N]: the next perturbation of each environment
    bank_fresh: jax.Array  # [N] bool: that environment's banked ε has not been used yet
    steps: jax.Array  # [N] int32 steps since that environment's last resample


class OUState(NamedTuple):
    noise: jax.Array  # [N, A]


class EmptyState(NamedTuple):
    pass


def _select_envs(which: jax.Array, new: Params, old: Params) -> Params:
    """Per environment, ``new`` where ``which [N]`` is True else ``old`` (pytrees with leading ``[N]``)."""
    return jax.tree.map(lambda n, o: jnp.where(which.reshape((-1,) + (1,) * (o.ndim - 1)), n, o), new, old)


def _clip(action: jax.Array) -> jax.Array:
    return jnp.clip(action, -1.0, 1.0)


def param_noise(
    apply_fn: ApplyFn,
    sigma_init: jax.Array | float,
    target_distance: jax.Array | float,
    adapt_alpha: jax.Array | float = 1.01,
    resample_every: jax.Array | int = 0,
    sigma_spread: jax.Array | float = 1.0,
    mask: Params | None = None,
) -> Exploration:
    """Adaptive parameter-space noise (Plappert et al., 2018).

    Each of the ``N`` environments acts with its own ``θ̃ = θ + σ·ε``. ``θ̃`` is redrawn from the
    current θ when that environment's episode ends (``resample_every == 0``) or every
    ``resample_every`` steps (``> 0``). ``adapt`` perturbs a *fresh* copy of θ and measures the
    action distance on a replay batch: σ shrinks by ``adapt_alpha`` above ``target_distance`` and
    grows below it. The perturbed copies are never seen by the learner.

    With ``sigma_spread > 1`` the population explores at several scales: environment ``i`` of
    ``N`` perturbs with ``σ·spread^(i/(N−1) − ½)``, log-uniformly spaced over
    ``[σ/√spread, σ·√spread]``. Adaptation then steers the geometric centre σ (set
    ``adapt_alpha=1`` to keep the bounds fixed).

    Drawing a Gaussian for every weight is the expensive part (on a CPU it costs more than the
    actor's forward pass), so the fresh ε for each environment is drawn ahead of time into a
    bank that ``refresh`` refills once per adaptation block; a resample only reads the bank. An
    environment that finishes two episodes within one block (episodes shorter than
    ``adapt_every`` steps) reuses its banked ε, applied to the newer θ.

    Args:
      apply_fn: the actor, ``apply_fn(params, obs [B, O]) -> [B, A]``.
      sigma_init: initial σ.
      target_distance: δ, the desired action-space distance.
      adapt_alpha: α ≥ 1 (1 keeps σ fixed).
      resample_every: 0 for per-episode resampling, else a step count K.
      sigma_spread: ratio ≥ 1 between the largest and smallest member σ (1: one shared σ).
      mask: perturbable leaves (default :func:`perturbable_mask`).
    """

    def _mask(params):
        return perturbable_mask(params) if mask is None else mask

    def _bank(key, params, n):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return jax.vmap(lambda k: perturb(k, zeros, 1.0, _mask(params)))(jax.random.split(key, n))

    def _apply_noise(params, sigma, noise_bank):
        """θ[None] + σ[N]·ε[N] for every leaf."""
        return jax.tree.map(lambda p, e: p[None] + sigma.reshape((-1,) + (1,) * p.ndim) * e, params, noise_bank)

    def init(key, params, num_envs):
        first_key, bank_key = jax.random.split(key)
        sigma = jnp.asarray(sigma_init, jnp.float32)
        position = jnp.linspace(-0.5, 0.5, num_envs) if num_envs > 1 else jnp.zeros((1,))
        member_scale = jnp.asarray(sigma_spread, jnp.float32) ** position
        return ParamNoiseState(
            sigma=sigma,
            member_scale=member_scale,
            perturbed_params=_apply_noise(params, sigma * member_scale, _bank(first_key, params, num_envs)),
            noise_bank=_bank(bank_key, params, num_envs),
            bank_fresh=jnp.ones((num_envs,), bool),
            steps=jnp.zeros((num_envs,), jnp.int32),
        )

    def act(key, state, params, obs):
        del key, params
        if obs.shape[0] == 1:  # a plain matmul is faster than a batch of one
            return apply_fn(jax.tree.map(lambda p: p[0], state.perturbed_params), obs)
        return jax.vmap(lambda p, o: apply_fn(p, o[None])[0])(state.perturbed_params, obs)

    def reset(key, state, params, done):
        del key
        steps = state.steps + 1
        due = jnp.where(resample_every > 0, steps >= resample_every, done)

        def resample(perturbed_params):
            fresh = _apply_noise(params, state.sigma * state.member_scale, state.noise_bank)
            return _select_envs(due, fresh, perturbed_params)

        # Most steps end no episode: skip the work (a real branch unless ``due`` is vmapped).
        perturbed_params = jax.lax.cond(jnp.any(due), resample, lambda p: p, state.perturbed_params)
        return state._replace(
            perturbed_params=perturbed_params,
            bank_fresh=state.bank_fresh & ~due,
            steps=jnp.where(due, 0, steps),
        )

    def refresh(key, state, params):
        new_bank = _bank(key, params, state.bank_fresh.shape[0])
        return state._replace(
            noise_bank=_select_envs(state.bank_fresh, state.noise_bank, new_bank),
            bank_fresh=jnp.ones_like(state.bank_fresh),
        )

    def adapt(key, state, params, obs):
        probe = perturb(key, params, state.sigma, _mask(params))
        distance = action_distance(apply_fn, params, probe, obs)
        sigma = adapt_sigma(state.sigma, distance, target_distance, adapt_alpha)
        return state._replace(sigma=sigma), ExplorationStats(sigma=state.sigma, distance=distance)

    return Exploration(init, act, reset, adapt, refresh)


def gaussian_action_noise(apply_fn: ApplyFn, std: jax.Array | float) -> Exploration:
    """``a = clip(π(s) + η)``, ``η ~ N(0, std²)`` fresh every step (normalised action units)."""

    def init(key, params, num_envs):
        del key, params, num_envs
        return EmptyState()

    def act(key, state, params, obs):
        action = apply_fn(params, obs)
        return _clip(action + std * jax.random.normal(key, action.shape, action.dtype))

    def reset(key, state, params, done):
        return state

    def adapt(key, state, params, obs):
        std_ = jnp.asarray(std, jnp.float32)
        return state, ExplorationStats(sigma=std_, distance=std_)

    return Exploration(init, act, reset, adapt)


def ou_action_noise(
    apply_fn: ApplyFn, action_dim: int, std: jax.Array | float, theta: jax.Array | float = 0.15, dt: float = 1e-2
) -> Exploration:
    """Ornstein–Uhlenbeck action noise, ``x ← x − θ·x·dt + std·sqrt(dt)·ξ``, reset per episode."""

    def init(key, params, num_envs):
        del key, params
        return OUState(noise=jnp.zeros((num_envs, action_dim), jnp.float32))

    def act(key, state, params, obs):
        return _clip(apply_fn(params, obs) + state.noise)

    def reset(key, state, params, done):
        x = state.noise
        x = x - theta * x * dt + std * jnp.sqrt(dt) * jax.random.normal(key, x.shape, x.dtype)
        return OUState(noise=jnp.where(done[:, None], 0.0, x))

    def adapt(key, state, params, obs):
        rms = jnp.sqrt(jnp.mean(jnp.square(state.noise)))
        return state, ExplorationStats(sigma=jnp.asarray(std, jnp.float32), distance=rms)

    return Exploration(init, act, reset, adapt)


def no_noise(apply_fn: ApplyFn) -> Exploration:
    """Greedy: act with the unperturbed policy (the bare loop)."""

    def init(key, params, num_envs):
        return EmptyState()

    def act(key, state, params, obs):
        return apply_fn(params, obs)

    def reset(key, state, params, done):
        return state

    def adapt(key, state, params, obs):
        zero = jnp.zeros((), jnp.float32)
        return state, ExplorationStats(sigma=zero, distance=zero)

    return Exploration(init, act, reset, adapt)


def param_plus_gaussian(param: Exploration, std: jax.Array | float) -> Exploration:
    """Parameter noise with Gaussian action noise added on top of the perturbed policy's action."""

    def act(key, state, params, obs):
        param_key, noise_key = jax.random.split(key)
        action = param.act(param_key, state, params, obs)
        return _clip(action + std * jax.random.normal(noise_key, action.shape, action.dtype))

    return param._replace(act=act)


# --------------------------------------------------------------------------------------------
# Discrete actions (DQN)
# --------------------------------------------------------------------------------------------

DQN_EXPLORATIONS: tuple[str, ...] = ("param", "egreedy")

DQN_STRATEGY_HPARAMS: dict[str, tuple[str, ...]] = {
    "param": (
        "sigma_init",
        "adapt_alpha",
        "resample_every",
        "epsilon_start",
        "epsilon_end",
        "epsilon_decay_steps",
        "param_epsilon",
    ),  # fmt: skip
    "egreedy": ("epsilon_start", "epsilon_end", "epsilon_decay_steps"),
}
"""The keyword arguments of :func:`make_dqn_exploration` each strategy reads."""


def linear_epsilon(step: jax.Array, start: jax.Array | float, end: jax.Array | float, decay_steps) -> jax.Array:
    """ε decaying linearly from ``start`` to ``end`` over ``decay_steps`` env steps, then constant."""
    fraction = jnp.clip(step / jnp.maximum(decay_steps, 1.0), 0.0, 1.0)
    return start + fraction * (end - start)


def _epsilon_greedy_actions(key: chex.PRNGKey, q_values: jax.Array, epsilon: jax.Array) -> jax.Array:
    """``argmax Q`` per row of ``q_values [N, |A|]``, replaced by a uniform action with probability ε."""
    explore_key, action_key = jax.random.split(key)
    random_actions = jax.random.randint(action_key, q_values.shape[:1], 0, q_values.shape[-1])
    explore = jax.random.uniform(explore_key, q_values.shape[:1]) < epsilon
    return jnp.where(explore, random_actions, jnp.argmax(q_values, axis=-1)).astype(jnp.int32)


class EpsilonState(NamedTuple):
    step: jax.Array  # [] int32 env steps taken (all N envs), drives the ε schedule


class DQNParamNoiseState(NamedTuple):
    noise: ParamNoiseState
    step: jax.Array  # [] int32 env steps taken, drives δ through the ε schedule


def epsilon_greedy(q_apply: ApplyFn, epsilon_start=1.0, epsilon_end=0.05, epsilon_decay_steps=10_000) -> Exploration:
    """ε-greedy on ``Q(s, ·)`` with ε annealed linearly over env steps (the DQN baseline)."""

    def init(key, params, num_envs):
        return EpsilonState(step=jnp.zeros((), jnp.int32))

    def act(key, state, params, obs):
        epsilon = linear_epsilon(state.step, epsilon_start, epsilon_end, epsilon_decay_steps)
        return _epsilon_greedy_actions(key, q_apply(params, obs), epsilon)

    def reset(key, state, params, done):
        return EpsilonState(step=state.step + done.shape[0])

    def adapt(key, state, params, obs):
        epsilon = linear_epsilon(state.step, epsilon_start, epsilon_end, epsilon_decay_steps)
        return state, ExplorationStats(sigma=epsilon, distance=epsilon)

    return Exploration(init, act, reset, adapt)


def dqn_param_noise(
    q_apply: ApplyFn,
    num_actions: int,
    sigma_init=0.1,
    adapt_alpha=1.01,
    resample_every=0,
    epsilon_start=1.0,
    epsilon_end=0.05,
    epsilon_decay_steps=10_000,
    param_epsilon=0.01,
) -> Exploration:
    """Parameter noise for DQN (Plappert et al., 2018, sec. 3.2): act greedily on a perturbed Q-network.

    Each environment acts with its own ``θ̃ = θ + σ·ε`` (LayerNorm untouched), redrawn per episode
    (or every ``resample_every`` steps), plus ε-greedy with a small fixed ``param_epsilon``. σ is
    adapted so that ``KL(softmax Q ‖ softmax Q̃)`` on a replay batch tracks the ε-greedy-matched
    target ``δ = −log(1 − ε + ε/|A|)`` of the annealed ε schedule at the current step.
    """
    base = param_noise(q_apply, sigma_init, 0.0, adapt_alpha, resample_every)

    def init(key, params, num_envs):
        return DQNParamNoiseState(noise=base.init(key, params, num_envs), step=jnp.zeros((), jnp.int32))

    def act(key, state, params, obs):
        perturbed_q = base.act(None, state.noise, params, obs)
        return _epsilon_greedy_actions(key, perturbed_q, param_epsilon)

    def reset(key, state, params, done):
        return DQNParamNoiseState(base.reset(key, state.noise, params, done), state.step + done.shape[0])

    def refresh(key, state, params):
        return state._replace(noise=base.refresh(key, state.noise, params))

    def adapt(key, state, params, obs):
        probe = perturb(key, params, state.noise.sigma)
        distance = kl_distance(q_apply, params, probe, obs)
        epsilon = linear_epsilon(state.step, epsilon_start, epsilon_end, epsilon_decay_steps)
        target = dqn_target_distance(epsilon, num_actions)
        sigma = adapt_sigma(state.noise.sigma, distance, target, adapt_alpha)
        return state._replace(noise=state.noise._replace(sigma=sigma)), ExplorationStats(state.noise.sigma, distance)

    return Exploration(init, act, reset, adapt, refresh)


def make_dqn_exploration(name: str, q_apply: ApplyFn, num_actions: int, **hparams) -> Exploration:
    """Builds the DQN strategy named by ``exploration`` (one of :data:`DQN_EXPLORATIONS`)."""
    if name == "param":
        return dqn_param_noise(q_apply, num_actions, **hparams)
    if name == "egreedy":
        return epsilon_greedy(q_apply, **hparams)
    raise ValueError(f"exploration: unknown DQN strategy {name!r}; choose one of {', '.join(DQN_EXPLORATIONS)}")


def make_exploration(
    name: str,
    apply_fn: ApplyFn,
    action_dim: int,
    *,
    sigma_init: jax.Array | float = 0.2,
    target_distance: jax.Array | float = 0.2,
    adapt_alpha: jax.Array | float = 1.01,
    resample_every: jax.Array | int = 0,
    sigma_spread: jax.Array | float = 1.0,
    action_noise_std: jax.Array | float = 0.2,
    ou_theta: jax.Array | float = 0.15,
) -> Exploration:
    """Builds the strategy named by the config field ``exploration`` (one of :data:`EXPLORATIONS`)."""
    if name in ("param", "param+gaussian"):
        strategy = param_noise(apply_fn, sigma_init, target_distance, adapt_alpha, resample_every, sigma_spread)
        return strategy if name == "param" else param_plus_gaussian(strategy, action_noise_std)
    if name == "gaussian":
        return gaussian_action_noise(apply_fn, action_noise_std)
    if name == "ou":
        return ou_action_noise(apply_fn, action_dim, action_noise_std, ou_theta)
    if name == "none":
        return no_noise(apply_fn)
    raise ValueError(f"exploration: unknown strategy {name!r}; choose one of {', '.join(EXPLORATIONS)}")
