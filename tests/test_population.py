"""Populations: N perturbed actors, a σ spread across them, and updates per vector step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TINY

from pn_jax import DDPGConfig, make_train
from pn_jax.networks import Actor
from pn_jax.noise import param_noise, perturbable_mask


def _adam_count(opt_state) -> int:
    """Adam's step count in an optimiser state (plain Adam, or chained after other transforms)."""
    is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)
    (adam,) = [s for s in jax.tree.leaves(opt_state, is_leaf=is_adam) if is_adam(s)]
    return int(adam.count)


@pytest.mark.parametrize(
    "changes,period,per_round,updates",
    [
        ({}, 1, 1, 300 - 128),  # one update per step after warm-up
        ({"updates_per_step": 2.0}, 1, 2, 2 * (300 - 128)),
        # 800 steps = 50 rounds of 4 vector steps × 4 envs; warm-up is 128 steps = 8 rounds
        ({"num_envs": 4, "updates_per_step": 0.25, "adapt_every": 25, "total_steps": 800, "eval_every": 400}, 4, 1, 42),
        # 512 steps = 2 rounds of 16 vector steps × 16 envs; the first round is warm-up
        (
            {"num_envs": 16, "updates_per_step": 1 / 16, "adapt_every": 1, "total_steps": 512, "eval_every": 256},
            16,
            1,
            1,
        ),
    ],
)
def test_update_schedule_properties(changes, period, per_round, updates):
    config = DDPGConfig(**{**TINY, **changes})
    assert (config.update_period, config.updates_per_round, config.num_updates) == (period, per_round, updates)


@pytest.fixture(scope="module")
def population():
    """4 envs, one update every 4 vector steps, σ spread ×4 across the population."""
    config = DDPGConfig(
        **{**TINY, "total_steps": 800, "eval_every": 400, "num_envs": 4, "updates_per_step": 0.25, "adapt_every": 25}
    )
    config = config.replace(sigma_spread=4.0)
    state, metrics = jax.jit(make_train(config))(jax.random.key(0))
    return config, state, metrics


def test_population_counts_updates_and_transitions(population):
    config, state, metrics = population
    assert _adam_count(state.agent.critic_opt_state) == config.num_updates == (800 // 16) - (128 // 16)
    assert _adam_count(state.agent.actor_opt_state) == config.num_updates
    assert int(state.replay.current_index) == 800  # every env step stored once
    assert list(np.asarray(metrics.log_step)) == [400, 800]
    assert np.all(np.isfinite(np.asarray(metrics.eval_return)))


def test_population_members_act_with_different_perturbations(population):
    _, state, _ = population
    kernels = np.asarray(state.exploration.perturbed_params["params"]["MLP_0"]["Dense_0"]["kernel"])
    assert kernels.shape[0] == 4
    assert len({float(k.sum()) for k in kernels}) == 4
    np.testing.assert_allclose(np.asarray(state.exploration.member_scale), 4.0 ** np.linspace(-0.5, 0.5, 4), rtol=1e-6)


def test_updates_per_step_k_does_k_updates_per_vector_step():
    config = DDPGConfig(**{**TINY, "updates_per_step": 3.0})
    state, metrics = jax.jit(make_train(config))(jax.random.key(1))
    assert _adam_count(state.agent.critic_opt_state) == 3 * (300 - 128) == config.num_updates
    assert np.all(np.isfinite(np.asarray(metrics.critic_loss)))


@pytest.mark.parametrize("spread,num_envs", [(1.0, 8), (9.0, 8), (9.0, 1)])
def test_sigma_spread_scales_each_members_perturbation(spread, num_envs):
    actor = Actor(2, (64, 64))
    params = actor.init(jax.random.key(0), jnp.zeros((3,)))
    strategy = param_noise(actor.apply, sigma_init=0.1, target_distance=0.2, sigma_spread=spread)
    state = strategy.init(jax.random.key(1), params, num_envs)
    mask = perturbable_mask(params)
    stds = []
    for i in range(num_envs):
        deltas = jax.tree.map(lambda p, q, m, i=i: (q[i] - p) if m else None, params, state.perturbed_params, mask)
        flat = np.concatenate([np.ravel(d) for d in jax.tree.leaves(deltas)])
        stds.append(flat.std())
    expected = 0.1 * spread ** (np.linspace(-0.5, 0.5, num_envs) if num_envs > 1 else np.zeros(1))
    np.testing.assert_allclose(stds, expected, rtol=0.05)
    # σ adaptation moves the shared centre; the spread of member scales stays fixed.
    adapted, stats = strategy.adapt(jax.random.key(2), state, params, jnp.ones((16, 3)))
    assert float(stats.sigma) == pytest.approx(0.1)
    np.testing.assert_array_equal(adapted.member_scale, state.member_scale)
