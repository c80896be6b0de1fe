"""Exploration: parameter-space noise and action-space noise as pure functions on pytrees.

Two layers:

* primitives — :func:`perturbable_mask`, :func:`perturb`, :func:`action_distance`,
  :func:`kl_distance`, :func:`adapt_sigma`, :func:`dqn_target_distance`;
* strategies — optax-style factories returning an :class:`Exploration`, a ``NamedTuple`` of pure
  functions (``init``, ``act``, ``reset``, ``adapt``, and an optional ``refresh``) over a
  strategy-specific ``NamedTuple`` state. The rollout only calls that interface, so strategies
  swap without touching the learner.

Every strategy drives ``N`` parallel environments (the population). Parameter noise keeps one
perturbed copy of the actor per environment (leading axis ``[N]``), fixed for an episode (or for
``resample_every`` steps) and then redrawn with an ε no earlier resample used, so each
environment explores with its own temporally consistent "personality".

A hand-written loop needs only the documented order (:class:`Exploration`)::

    strategy = make_exploration("param", actor.apply, action_dim)
    state = strategy.init(key, theta, num_envs)
    for t in range(T):
        action = strategy.act(k1, state, theta, obs)
        obs, done = ...                                   # step the envs, store (obs, action, ...)
        state = strategy.reset(k2, state, theta, done)    # after every step
        if t % 50 == 49:                                  # and with a replay batch, periodically
            state, stats = strategy.adapt(k3, state, theta, replay_obs)

References:
  Plappert et al., 2018. Parameter Space Noise for Exploration. ICLR.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from pn_jax.catalog import DQN_EXPLORATIONS, EXPLORATIONS

Params = Any
ApplyFn = Callable[[Params, jax.Array], jax.Array]


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

    All perturbed leaves share one flat float32 draw of ``N(0, I)`` (every element independent),
    cut into the leaves' shapes: one random-number kernel instead of one per leaf, which XLA
    compiles and runs markedly faster on a CPU. Every leaf keeps its dtype (a bf16 kernel stays
    bf16 whatever the dtype of ``sigma``).

    Args:
      key: PRNG key.
      params: the parameters θ to perturb.
      sigma: scalar noise scale σ (traced or Python float).
      mask: pytree of bools (default :func:`perturbable_mask` of ``params``); it must select
        at least one leaf (``ValueError`` naming the leaves seen otherwise).

    Returns:
      A pytree like ``params``.
    """
    if mask is None:
        mask = perturbable_mask(params)
    _require_perturbable(params, mask)
    leaves, treedef = jax.tree.flatten(params)
    flags = treedef.flatten_up_to(mask)
    total = sum(leaf.size for leaf, flag in zip(leaves, flags, strict=True) if flag)
    eps = jax.random.normal(key, (total,), jnp.float32)
    out, offset = [], 0
    for leaf, flag in zip(leaves, flags, strict=True):
        if flag:
            step = sigma * eps[offset : offset + leaf.size].reshape(leaf.shape)
            out.append(leaf + step.astype(leaf.dtype))
            offset += leaf.size
        else:
            out.append(leaf)
    return jax.tree.unflatten(treedef, out)


def _require_perturbable(params: Params, mask: Params) -> None:
    """``ValueError`` naming the leaves seen when ``mask`` selects none of them."""
    flags = jax.tree.leaves(mask)
    if any(bool(flag) for flag in flags):
        return
    names = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    shown = ", ".join(names[:12]) + (f", … ({len(names)} leaves)" if len(names) > 12 else "")
    raise ValueError(
        "mask: selects no parameter to perturb; parameter noise perturbs the 'kernel' and 'bias' of "
        f"Dense/Conv layers (or the leaves a mask marks True). Leaves seen: {shown or 'none'}"
    )


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
    """A strategy: pure functions over its own state (optax-style).

    A loop drives it in this order, and needs nothing else::

        state = strategy.init(key, θ, N)
        every env step:   a = strategy.act(key, state, θ, obs)            # [N, A]
                          obs, done = <step the N envs with a>
                          state = strategy.reset(key, state, θ, done)     # after *every* step
        every M steps:    state, stats = strategy.adapt(key, state, θ, replay_obs)

    Attributes:
      init: ``(key, actor_params, num_envs) -> state``.
      act: ``(key, state, actor_params, obs [N, O]) -> actions [N, A]`` in ``[-1, 1]``.
      reset: ``(key, state, actor_params, done [N]) -> state``; called after every environment
        step with the episode-end mask, so per-episode (or per-K-step) state is renewed.
      adapt: ``(key, state, actor_params, obs [B, O]) -> (state, ExplorationStats)``; called
        periodically with a replay batch: adapts the noise scale (parameter noise: σ) and renews
        whatever the strategy draws its per-episode noise from.
      refresh: ``(key, state, actor_params) -> state``; the renewal part of ``adapt`` alone (σ
        unchanged). Optional: for loops that skip ``adapt`` for a while (a warm-up without
        updates, a diagnostic rollout). Identity for strategies with nothing to renew.
    """

    init: Callable[..., Any]
    act: Callable[..., jax.Array]
    reset: Callable[..., Any]
    adapt: Callable[..., tuple[Any, ExplorationStats]]
    refresh: Callable[..., Any] = lambda key, state, params: state


class ExplorationStats(NamedTuple):
    """What :attr:`Exploration.adapt` reports: the noise scale and the measured distance."""

    sigma: jax.Array  # [] parameter σ, or the action-noise std
    distance: jax.Array  # [] measured action-space distance (normalised units) of the exploration:
    # param, gaussian: RMS of (explored − clean action) on the replay batch; ou: RMS of its noise
    # since the last adapt (before clipping); none: 0. DQN: param's KL distance, egreedy's ε


class NoisePool(NamedTuple):
    """A pool of ``N(0, 1)`` values that resamples read ``ε`` from (the noise table of evolution strategies).

    ``M`` (a prime ≥ ``(slots + 1)·P``) fresh values; resample ``r`` since the pool was drawn
    reads ``ε_j = values[(o_r + j·m_r) mod M]``, ``j < P``, with ``o_r = r·P mod M``:

    * ``r < K = ⌊M/P⌋``: ``m_r = 1``, the ``K`` disjoint contiguous windows: exactly independent ε;
    * ``r ≥ K`` (more resamples than slots before the pool is redrawn): ``m_r`` is a multiplier
      ≥ 64 that changes with ``r``, so the window is an affine scramble of the pool, not a shifted
      copy of an earlier ε: each of its values sits, in any earlier ε, at a position unrelated to
      its own (no two share a run of neighbouring weights), so ε and the actions it perturbs are
      uncorrelated with every earlier one, though not exactly independent of them.

    ``(o_r, m_r)`` never repeats for ``r < M``; ``adapt``/``refresh`` redraw the pool long before.
    """

    values: jax.Array  # [M] float32 N(0, 1)
    served: jax.Array  # [] int32 resamples read from this pool so far (mod M)


class ParamNoiseState(NamedTuple):
    sigma: jax.Array  # [] shared σ (the population's geometric centre when spread)
    member_scale: jax.Array  # [N] each environment acts with σ·member_scale (all 1 without a spread)
    perturbed_params: Params  # θ̃ = θ + σ·ε, leading axis [N]: what each environment acts with
    pool: NoisePool  # where each resample reads its fresh ε
    steps: jax.Array  # [N] int32 steps since that environment's last resample


class OUState(NamedTuple):
    noise: jax.Array  # [N, A] current OU value of each environment
    square_sum: jax.Array  # [] Σ noise² over the steps since the last adapt (all envs and action dims)
    count: jax.Array  # [] number of values in square_sum


class EmptyState(NamedTuple):
    pass


def _select_envs(which: jax.Array, new: Params, old: Params) -> Params:
    """Per environment, ``new`` where ``which [N]`` is True else ``old`` (pytrees with leading ``[N]``)."""
    return jax.tree.map(lambda n, o: jnp.where(which.reshape((-1,) + (1,) * (o.ndim - 1)), n, o), new, old)


def _clip(action: jax.Array) -> jax.Array:
    return jnp.clip(action, -1.0, 1.0)


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def pool_size(num_perturbed: int, slots: int) -> int:
    """``M``: the smallest prime ≥ ``(slots + 1)·P`` (and > ``P``), so ``r·P mod M`` never repeats for ``r < M``."""
    size = max((slots + 1) * num_perturbed, num_perturbed + 1)
    while not _is_prime(size):
        size += 1
    if size >= 2**30:
        raise ValueError(
            f"pool_slots: a pool of {size:,} values for {num_perturbed:,} perturbed weights is too large "
            "(int32 offsets); use fewer slots or pool_slots=0 (a fresh draw per resample)"
        )
    return size


def _window_indices(index: jax.Array, size: int, m: int) -> jax.Array:
    """Pool indices ``[P]`` of window ``index`` (see :class:`NoisePool`), all arithmetic in int32."""
    disjoint = m // size
    offset = _mulmod(index, size, m)
    largest = min(m, (2**31 - 1) // max(size, 1))  # j·multiplier stays below 2³¹
    spread = max(largest - 64, 1)
    multiplier = jnp.where(index < disjoint, 1, 64 + _mulmod(index - disjoint, 40503 % spread, spread))
    j = jnp.arange(size, dtype=jnp.int32)
    step = jnp.where(index < disjoint, j, jnp.mod(j * multiplier, m))
    return jnp.where(offset + step >= m, offset + step - m, offset + step)


def _check_hparam(name: str, value: Any, ok: Callable[[np.ndarray], np.ndarray], what: str) -> None:
    """``ValueError`` naming ``name`` when a concrete ``value`` fails ``ok`` (traced values pass)."""
    if isinstance(value, jax.core.Tracer):
        return
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr) & ok(arr)):
        raise ValueError(f"{name}: must be {what}, got {value!r}")


def param_noise(
    apply_fn: ApplyFn,
    sigma_init: jax.Array | float,
    target_distance: jax.Array | float,
    adapt_alpha: jax.Array | float = 1.01,
    resample_every: jax.Array | int = 0,
    sigma_spread: jax.Array | float = 1.0,
    mask: Params | None = None,
    pool_slots: int | None = None,
) -> Exploration:
    """Adaptive parameter-space noise (Plappert et al., 2018).

    Each of the ``N`` environments acts with its own ``θ̃ = θ + σ·ε``. ``θ̃`` is redrawn from the
    current θ, with an ε that no earlier resample used, when that environment's episode ends
    (``resample_every == 0``) or every ``resample_every`` steps (``> 0``). ``adapt`` perturbs a
    *fresh* copy of θ and measures the action distance on a replay batch: σ shrinks by
    ``adapt_alpha`` above ``target_distance`` and grows below it. The perturbed copies are never
    seen by the learner.

    With ``sigma_spread > 1`` the population explores at several scales: environment ``i`` of
    ``N`` perturbs with ``σ·spread^(i/(N−1) − ½)``, log-uniformly spaced over
    ``[σ/√spread, σ·√spread]``. Adaptation then steers the geometric centre σ (set
    ``adapt_alpha=1`` to keep the bounds fixed).

    Drawing a Gaussian for every weight is the expensive part (on a CPU it costs more than the
    actor's forward pass), and under ``jax.vmap`` a draw guarded by "did an episode end?" runs at
    every step. So ε comes from a :class:`NoisePool` drawn by ``adapt`` (and ``refresh``): a
    resample reads the pool's next window. The first ``pool_slots + 1`` resamples after each
    ``adapt`` get disjoint windows (exactly independent ε), any later ones affine scrambles of the
    pool, uncorrelated with every earlier ε (see :class:`NoisePool`); no window is handed out
    twice before the pool is redrawn.

    Args:
      apply_fn: the actor, ``apply_fn(params, obs [B, O]) -> [B, A]``.
      sigma_init: initial σ (> 0).
      target_distance: δ (> 0), the desired action-space distance.
      adapt_alpha: α ≥ 1 (1 keeps σ fixed).
      resample_every: 0 for per-episode resampling, else a step count K.
      sigma_spread: ratio ≥ 1 between the largest and smallest member σ (1: one shared σ).
      mask: perturbable leaves (default :func:`perturbable_mask`); it must select some leaf.
      pool_slots: disjoint ε windows per pool (default ``2·N``): how many resamples between two
        ``adapt`` calls get exactly independent ε. Costs ``pool_slots·P`` normals per ``adapt``.
        0: no pool, every resample draws its ε from ``reset``'s key (exact, and under ``vmap`` a
        draw of ``N·P`` normals at every step).
    """
    _check_hparam("sigma_init", sigma_init, lambda x: x > 0, "> 0")
    _check_hparam("target_distance", target_distance, lambda x: x > 0, "> 0")
    return _param_noise(
        apply_fn, sigma_init, target_distance, adapt_alpha, resample_every, sigma_spread, mask, pool_slots
    )


def _param_noise(apply_fn, sigma_init, target_distance, adapt_alpha, resample_every, sigma_spread, mask, pool_slots):
    _check_hparam("adapt_alpha", adapt_alpha, lambda x: x >= 1, ">= 1 (1 keeps σ fixed)")
    _check_hparam("resample_every", resample_every, lambda x: (x >= 0) & (x == np.round(x)), "an integer >= 0")
    _check_hparam("sigma_spread", sigma_spread, lambda x: x >= 1, ">= 1 (1: one shared σ)")
    if pool_slots is not None and (not isinstance(pool_slots, int) or pool_slots < 0):
        raise ValueError(f"pool_slots: must be an integer >= 0 (0: no pool), got {pool_slots!r}")
    fresh_draws = pool_slots == 0

    def layout(params):
        """``(mask, P)``: the perturbable leaves and their total size (static)."""
        leaf_mask = perturbable_mask(params) if mask is None else mask
        _require_perturbable(params, leaf_mask)
        leaves, treedef = jax.tree.flatten(params)
        flags = treedef.flatten_up_to(leaf_mask)
        return leaf_mask, sum(leaf.size for leaf, flag in zip(leaves, flags, strict=True) if flag)

    def draw_pool(key, params, num_envs):
        _, size = layout(params)
        if fresh_draws:  # every resample draws its own ε: no pool
            return NoisePool(values=jnp.zeros((0,), jnp.float32), served=jnp.zeros((), jnp.int32))
        slots = 2 * num_envs if pool_slots is None else pool_slots
        m = pool_size(size, max(slots, num_envs))
        return NoisePool(values=jax.random.normal(key, (m,), jnp.float32), served=jnp.zeros((), jnp.int32))

    def resample(state, params, due, key):
        """Every env with ``due [N]`` set reads the pool's next unused window and perturbs the current θ."""
        leaf_mask, size = layout(params)
        if fresh_draws:
            draws = jax.random.normal(key, (due.shape[0], size), jnp.float32)
            fresh = _apply_flat_noise(params, state.sigma * state.member_scale, draws, leaf_mask)
            return _select_envs(due, fresh, state.perturbed_params), state.pool
        m = state.pool.values.shape[0]
        rank = jnp.cumsum(due, dtype=jnp.int32) - 1  # [N] order of the due envs in this step
        index = jnp.mod(state.pool.served + rank, m)  # [N] window number, in [0, M)
        windows = state.pool.values[jax.vmap(lambda r: _window_indices(r, size, m))(index)]  # [N, P]
        fresh = _apply_flat_noise(params, state.sigma * state.member_scale, windows, leaf_mask)
        served = jnp.mod(state.pool.served + jnp.sum(due, dtype=jnp.int32), m)
        return _select_envs(due, fresh, state.perturbed_params), state.pool._replace(served=served)

    def init(key, params, num_envs):
        sigma = jnp.asarray(sigma_init, jnp.float32)
        position = jnp.linspace(-0.5, 0.5, num_envs) if num_envs > 1 else jnp.zeros((1,))
        member_scale = jnp.asarray(sigma_spread, jnp.float32) ** position
        stacked = jax.tree.map(lambda p: jnp.broadcast_to(p, (num_envs,) + p.shape), params)
        state = ParamNoiseState(
            sigma=sigma,
            member_scale=member_scale,
            perturbed_params=stacked,
            pool=None,
            steps=jnp.zeros((num_envs,), jnp.int32),
        )
        pool_key, first_key = jax.random.split(key)
        state = state._replace(pool=draw_pool(pool_key, params, num_envs))
        perturbed, pool = resample(state, params, jnp.ones((num_envs,), bool), first_key)
        return state._replace(perturbed_params=perturbed, pool=pool)

    def act(key, state, params, obs):
        del key, params
        if obs.shape[0] == 1:  # a plain matmul is faster than a batch of one
            return apply_fn(jax.tree.map(lambda p: p[0], state.perturbed_params), obs)
        return jax.vmap(lambda p, o: apply_fn(p, o[None])[0])(state.perturbed_params, obs)

    def reset(key, state, params, done):
        steps = state.steps + 1
        due = jnp.where(resample_every > 0, steps >= resample_every, done)
        # Most steps end no episode: skip the work (a real branch unless ``due`` is vmapped).
        perturbed_params, pool = jax.lax.cond(
            jnp.any(due),
            lambda: resample(state, params, due, key),
            lambda: (state.perturbed_params, state.pool),
        )
        return state._replace(perturbed_params=perturbed_params, pool=pool, steps=jnp.where(due, 0, steps))

    def refresh(key, state, params):
        return state._replace(pool=draw_pool(key, params, state.steps.shape[0]))

    def adapt(key, state, params, obs):
        probe_key, pool_key = jax.random.split(key)
        probe = perturb(probe_key, params, state.sigma, layout(params)[0])
        distance = action_distance(apply_fn, params, probe, obs)
        sigma = adapt_sigma(state.sigma, distance, target_distance, adapt_alpha)
        adapted = refresh(pool_key, state, params)._replace(sigma=sigma)
        return adapted, ExplorationStats(sigma=state.sigma, distance=distance)

    return Exploration(init, act, reset, adapt, refresh)


def _mulmod(index: jax.Array, factor: int, m: int) -> jax.Array:
    """``index·factor mod m`` in int32 without overflow (``0 ≤ index < m < 2³⁰``), by binary long multiplication."""
    if factor * m < 2**31:
        return jnp.mod(index * factor, m)
    result = jnp.zeros_like(index)
    addend = index
    for bit in range(factor.bit_length()):
        if (factor >> bit) & 1:
            result = jnp.mod(result + addend, m)
        addend = jnp.mod(addend * 2, m)
    return result


def _apply_flat_noise(params: Params, scale: jax.Array, flat: jax.Array, mask: Params) -> Params:
    """``θ[None] + scale[N]·ε[N]`` on the masked leaves, ``ε`` cut from ``flat [N, P]`` in leaf order.

    Unmasked leaves (LayerNorm) are broadcast unchanged; every leaf keeps its dtype.
    """
    leaves, treedef = jax.tree.flatten(params)
    flags = treedef.flatten_up_to(mask)
    num = flat.shape[0]
    out, offset = [], 0
    for leaf, flag in zip(leaves, flags, strict=True):
        if flag:
            eps = flat[:, offset : offset + leaf.size].reshape((num,) + leaf.shape)
            step = scale.reshape((-1,) + (1,) * leaf.ndim) * eps
            out.append(leaf[None] + step.astype(leaf.dtype))
            offset += leaf.size
        else:
            out.append(jnp.broadcast_to(leaf, (num,) + leaf.shape))
    return jax.tree.unflatten(treedef, out)


def gaussian_action_noise(apply_fn: ApplyFn, std: jax.Array | float) -> Exploration:
    """``a = clip(π(s) + η)``, ``η ~ N(0, std²)`` fresh every step (normalised action units).

    ``adapt`` measures the distance it reports: on the replay batch it draws ``η`` as ``act`` does
    and returns the RMS of the perturbation actually applied, ``sqrt(mean((clip(π(s) + η) − π(s))²))``
    (:func:`action_distance` of the noisy against the clean actions, the quantity parameter noise
    adapts σ by), so clipping at the action bounds shows: it is below ``std`` where π(s) is near ±1.
    """
    _check_hparam("action_noise_std", std, lambda x: x >= 0, ">= 0")

    def init(key, params, num_envs):
        del key, params, num_envs
        return EmptyState()

    def act(key, state, params, obs):
        action = apply_fn(params, obs)
        return _clip(action + std * jax.random.normal(key, action.shape, action.dtype))

    def reset(key, state, params, done):
        return state

    def adapt(key, state, params, obs):
        clean = apply_fn(params, obs)
        noisy = _clip(clean + std * jax.random.normal(key, clean.shape, clean.dtype))
        distance = jnp.sqrt(jnp.mean(jnp.square(noisy - clean)))
        return state, ExplorationStats(sigma=jnp.asarray(std, jnp.float32), distance=distance)

    return Exploration(init, act, reset, adapt)


def ou_action_noise(
    apply_fn: ApplyFn, action_dim: int, std: jax.Array | float, theta: jax.Array | float = 0.15, dt: float = 1e-2
) -> Exploration:
    """Ornstein–Uhlenbeck action noise whose standard deviation at every step is ``std``.

    ``x ← x − θ·x·dt + σ_d·√dt·ξ`` with the diffusion ``σ_d = std·√(2θ − θ²·dt)``, the value that
    makes ``N(0, std²)`` the stationary law of this discretisation; each episode starts from a
    draw of that law (not from 0), so ``std`` is the noise's std from the first step on and
    Gaussian and OU noise of equal ``std`` differ only in their temporal correlation,
    ``corr(x_t, x_{t+k}) = (1 − θ·dt)^k`` (θ = 0.15, dt = 0.01: ≈ 0.74 after 200 steps).
    ``adapt`` reports the RMS of the noise acted with since the previous ``adapt`` (the process's
    values, before the action is clipped to [-1, 1]).
    """
    _check_hparam("action_noise_std", std, lambda x: x >= 0, ">= 0")
    _check_hparam("ou_theta", theta, lambda x: (x > 0) & (x * dt < 2), f"in (0, {2 / dt:g})")
    diffusion = std * jnp.sqrt(2.0 * theta - theta**2 * dt) * math.sqrt(dt)

    def init(key, params, num_envs):
        del params
        start = std * jax.random.normal(key, (num_envs, action_dim), jnp.float32)
        zero = jnp.zeros((), jnp.float32)
        return OUState(noise=start, square_sum=zero, count=zero)

    def act(key, state, params, obs):
        return _clip(apply_fn(params, obs) + state.noise)

    def reset(key, state, params, done):
        step_key, start_key = jax.random.split(key)
        x = state.noise
        moved = x - theta * dt * x + diffusion * jax.random.normal(step_key, x.shape, x.dtype)
        start = std * jax.random.normal(start_key, x.shape, x.dtype)
        return OUState(
            noise=jnp.where(done[:, None], start, moved),
            square_sum=state.square_sum + jnp.sum(jnp.square(x)),
            count=state.count + x.size,
        )

    def refresh(key, state, params):
        zero = jnp.zeros((), jnp.float32)
        return state._replace(square_sum=zero, count=zero)

    def adapt(key, state, params, obs):
        rms = jnp.sqrt(state.square_sum / jnp.maximum(state.count, 1.0))
        stats = ExplorationStats(sigma=jnp.asarray(std, jnp.float32), distance=rms)
        return refresh(key, state, params), stats

    return Exploration(init, act, reset, adapt, refresh)


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
    """Parameter noise with Gaussian action noise added on top of the perturbed policy's action.

    ``adapt`` is parameter noise's: σ is adapted by, and the reported distance is, that of the
    parameter perturbation alone (σ steers only that part); the action noise adds about ``std``.
    """
    _check_hparam("action_noise_std", std, lambda x: x >= 0, ">= 0")

    def act(key, state, params, obs):
        param_key, noise_key = jax.random.split(key)
        action = param.act(param_key, state, params, obs)
        return _clip(action + std * jax.random.normal(noise_key, action.shape, action.dtype))

    return param._replace(act=act)


# --------------------------------------------------------------------------------------------
# Discrete actions (DQN)
# --------------------------------------------------------------------------------------------


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
    pool_slots: int | None = None,
) -> Exploration:
    """Parameter noise for DQN (Plappert et al., 2018, sec. 3.2): act greedily on a perturbed Q-network.

    Each environment acts with its own ``θ̃ = θ + σ·ε`` (LayerNorm untouched), redrawn with a
    fresh ε per episode (or every ``resample_every`` steps; see :func:`param_noise` for how ε is
    drawn), plus ε-greedy with a small fixed ``param_epsilon``. σ is adapted so that
    ``KL(softmax Q ‖ softmax Q̃)`` on a replay batch tracks the ε-greedy-matched target
    ``δ = −log(1 − ε + ε/|A|)`` of the annealed ε schedule at the current step.
    """
    _check_hparam("sigma_init", sigma_init, lambda x: x > 0, "> 0")
    for name, value in (
        ("epsilon_start", epsilon_start),
        ("epsilon_end", epsilon_end),
        ("param_epsilon", param_epsilon),
    ):
        _check_hparam(name, value, lambda x: (x >= 0) & (x <= 1), "in [0, 1]")
    base = _param_noise(q_apply, sigma_init, 0.0, adapt_alpha, resample_every, 1.0, None, pool_slots)

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
        probe_key, pool_key = jax.random.split(key)
        probe = perturb(probe_key, params, state.noise.sigma)
        distance = kl_distance(q_apply, params, probe, obs)
        epsilon = linear_epsilon(state.step, epsilon_start, epsilon_end, epsilon_decay_steps)
        target = dqn_target_distance(epsilon, num_actions)
        sigma = adapt_sigma(state.noise.sigma, distance, target, adapt_alpha)
        renewed = refresh(pool_key, state, params)
        return renewed._replace(noise=renewed.noise._replace(sigma=sigma)), ExplorationStats(
            state.noise.sigma, distance
        )

    return Exploration(init, act, reset, adapt, refresh)


def make_dqn_exploration(
    name: str, q_apply: ApplyFn, num_actions: int, *, pool_slots: int | None = None, **hparams
) -> Exploration:
    """Builds the DQN strategy named by ``exploration`` (one of :data:`DQN_EXPLORATIONS`)."""
    if name == "param":
        return dqn_param_noise(q_apply, num_actions, **hparams, pool_slots=pool_slots)
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
    pool_slots: int | None = None,
) -> Exploration:
    """Builds the strategy named by the config field ``exploration`` (one of :data:`EXPLORATIONS`).

    Concrete hyper-parameters are checked like the config checks them (``ValueError`` naming the
    argument); ``pool_slots`` is :func:`param_noise`'s (static).
    """
    if name in ("param", "param+gaussian"):
        strategy = param_noise(
            apply_fn, sigma_init, target_distance, adapt_alpha, resample_every, sigma_spread, pool_slots=pool_slots
        )
        return strategy if name == "param" else param_plus_gaussian(strategy, action_noise_std)
    if name == "gaussian":
        return gaussian_action_noise(apply_fn, action_noise_std)
    if name == "ou":
        return ou_action_noise(apply_fn, action_dim, action_noise_std, ou_theta)
    if name == "none":
        return no_noise(apply_fn)
    raise ValueError(f"exploration: unknown strategy {name!r}; choose one of {', '.join(EXPLORATIONS)}")
