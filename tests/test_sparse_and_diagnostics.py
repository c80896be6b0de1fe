"""Sparse-reward wrapper, goal / coverage tracking in the training loop, exploration diagnostics."""

from __future__ import annotations

import dataclasses

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

from pn_jax import DDPGConfig, envs, make_train
from pn_jax.diagnostics import autocorrelation, exploration_rollout
from pn_jax.results import coverage_fraction, metrics_dict, success_curve, wilson_ci


def test_sparse_pendulum_rewards_only_upright_and_starts_hanging():
    env = envs.make("SparsePendulum-v1")
    obs, state = envs.reset(jax.random.key(0), env, 64)
    np.testing.assert_array_less(obs[:, 0], -0.99)  # cos θ ≈ −1: hanging down
    np.testing.assert_array_less(jnp.abs(obs[:, 2]), 0.05 + 1e-6)
    step = jax.jit(lambda k, s, a: envs.step(k, env, s, a))
    s = step(jax.random.key(1), state, jnp.ones((64, 1)))
    assert set(np.unique(s.reward).tolist()) == {0.0}
    # An upright pole earns exactly 1 per step; one outside the tolerance earns 0.
    upright = state.replace(theta=jnp.linspace(-0.1, 0.1, 64), theta_dot=jnp.zeros(64))
    s = step(jax.random.key(2), upright, jnp.zeros((64, 1)))
    np.testing.assert_array_equal(s.reward, 1.0)
    tilted = state.replace(theta=jnp.full(64, 0.5), theta_dot=jnp.zeros(64))
    np.testing.assert_array_equal(step(jax.random.key(3), tilted, jnp.zeros((64, 1))).reward, 0.0)
    assert env.goal == envs.Goal(reward_above=0.0, solved_return=100.0)


def test_sparse_wrapper_wraps_any_gymnax_env_and_can_end_episodes_at_the_goal():
    base, params = gymnax.make("MountainCarContinuous-v0")
    right_half = envs.SparseReward(base, lambda obs: obs[..., 0] > 0.0, terminate_on_goal=True)
    key = jax.random.key(0)
    obs, state = right_half.reset(key, params)
    state = state.replace(position=jnp.array(0.1))
    obs, state, reward, terminated, truncated, info = right_half.step(key, state, jnp.array([0.0]), params)
    assert float(reward) == 1.0 and bool(terminated) and not bool(truncated)
    assert right_half.action_space(params).shape == base.action_space(params).shape
    assert right_half.num_actions == base.num_actions


@pytest.fixture(scope="module")
def always_goal_env():
    """A registered sparse task whose goal every state satisfies, to test the bookkeeping."""
    name = "AlwaysGoalPendulum-v0"
    patch = pytest.MonkeyPatch()
    patch.setitem(envs.SPARSE_ENVS, name, _always_goal_pendulum)
    patch.setitem(envs.GOALS, name, envs.Goal(reward_above=0.5, solved_return=1.0))
    patch.setattr(envs, "KNOWN_ENVS", envs.KNOWN_ENVS + (name,))
    yield name
    patch.undo()


def _always_goal_pendulum():
    base, params = gymnax.make("Pendulum-v1")
    return envs.SparseReward(base, lambda obs: obs[..., 0] > -2.0), params


def _record(config, metrics):
    """metrics.json record of one unbatched run."""
    one_seed = jax.tree.map(lambda x: x[None], metrics)
    return metrics_dict(config, one_seed, [0], jax_version="x", device="cpu", compile_seconds=1.0, run_seconds=1.0)


def test_goal_hits_first_goal_step_and_coverage_are_counted(always_goal_env):
    config = DDPGConfig(
        **{**TINY, "env": always_goal_env, "num_envs": 2, "adapt_every": 25, "coverage_steps": 200, "coverage_bins": 8}
    )
    _, metrics = jax.jit(make_train(config))(jax.random.key(0))
    assert int(metrics.first_goal_step) == 2  # after the first vector step of 2 envs
    np.testing.assert_array_equal(metrics.goal_hits, config.steps_per_block)  # every step of every block
    assert metrics.coverage.shape == (8, 8)
    assert int(metrics.coverage.sum()) == 200  # exactly the first coverage_steps env steps
    record = _record(config, metrics)
    assert record["goal"]["first_step"] == [2]
    assert record["coverage"]["labels"] == ["obs[0]", "obs[1]"]
    assert np.asarray(record["coverage"]["counts"]).sum() == 200


def test_dense_task_has_no_goal_and_coverage_is_off_by_default():
    config = DDPGConfig(**TINY)
    _, metrics = jax.jit(make_train(config))(jax.random.key(0))
    assert int(metrics.first_goal_step) == -1 and int(metrics.goal_hits.sum()) == 0
    assert metrics.coverage.shape == (0, 0)
    record = _record(config, metrics)
    assert "goal" not in record and "coverage" not in record


def test_histogram_uses_the_env_state_plane():
    env = envs.make("MountainCarContinuous-v0")
    assert env.plane.labels == ("position", "velocity")
    pendulum = envs.make("Pendulum-v1")
    angle_velocity = pendulum.plane.features(jnp.array([[0.0, 1.0, 3.0]]))  # θ = π/2
    np.testing.assert_allclose(angle_velocity, [[np.pi / 2, 3.0]], rtol=1e-6)


def test_autocorrelation_of_white_constant_and_cross_episode_signals():
    key = jax.random.key(0)
    white = jax.random.normal(key, (4000, 4, 1))
    no_done = jnp.zeros((4000, 4), bool)
    rho = autocorrelation(white, no_done, 20)
    assert float(rho[0]) == pytest.approx(1.0)
    assert float(jnp.max(jnp.abs(rho[1:]))) < 0.05
    # +c for one episode, −c for the next: within-episode pairs only, so ρ = 1 at every lag.
    steps = jnp.arange(100)
    signal = jnp.where(steps < 50, 1.0, -1.0)[:, None, None]
    done = (steps == 49)[:, None]
    np.testing.assert_allclose(autocorrelation(signal, done, 30), 1.0, rtol=1e-6)
    assert bool(jnp.all(jnp.isnan(autocorrelation(jnp.zeros((10, 1, 1)), jnp.zeros((10, 1), bool), 3))))


@pytest.mark.parametrize("exploration", ["param", "gaussian", "none"])
def test_exploration_rollout_perturbation_matches_the_strategy(exploration):
    config = DDPGConfig(
        **{
            **TINY,
            "exploration": exploration,
            "num_envs": 6,
            "adapt_every": 25,
            "learning_starts": 150,
            "action_noise_std": 0.1,
        }
    )
    rollout = jax.jit(lambda k: exploration_rollout(k, config, 150))(jax.random.key(1))
    assert rollout.perturbation.shape == (150, 6, 1) and rollout.done.shape == (150, 6)
    rho = autocorrelation(rollout.perturbation, rollout.done, 5)
    if exploration == "none":
        np.testing.assert_array_equal(rollout.perturbation, 0.0)
    elif exploration == "gaussian":
        assert float(jnp.std(rollout.perturbation)) == pytest.approx(0.1, rel=0.2)
        assert abs(float(rho[1])) < 0.2
    else:  # one perturbed actor per episode: the perturbation drifts only with the state
        assert float(rho[5]) > 0.8


def test_rollout_perturbation_decorrelates_beyond_the_resample_interval():
    """Every K-step resample acts with a fresh ε: ρ at lags > K is ≈ 0 (it was 0.86 at lag 20 when a
    banked ε was reused within an adaptation block)."""
    config = DDPGConfig(**{**TINY, "num_envs": 6, "adapt_every": 25, "learning_starts": 150, "resample_every": 5})
    rollout = jax.jit(lambda k: exploration_rollout(k, config, 600))(jax.random.key(2))
    rho = np.asarray(autocorrelation(rollout.perturbation, rollout.done, 25))
    assert rho[1] > 0.5  # consistent within the 5-step window
    assert np.all(np.abs(rho[[6, 10, 20, 25]]) < 0.15), rho


def test_success_curve_wilson_and_coverage_fraction():
    curve = success_curve([100, None, 300, 300], np.array([0, 100, 299, 300, 10_000]))
    np.testing.assert_allclose(curve, [0, 0.25, 0.25, 0.75, 0.75])
    low, high = wilson_ci(np.array([0, 8]), 8)
    np.testing.assert_allclose(low, [0.0, 0.6756], atol=1e-3)  # standard Wilson bounds for 0/8 and 8/8
    np.testing.assert_allclose(high, [0.3244, 1.0], atol=1e-3)
    counts = np.zeros((2, 4, 4), int)
    counts[0, :2] = 1
    np.testing.assert_allclose(coverage_fraction(counts), [0.5, 0.0])


def test_sparse_envs_are_listed_and_validated():
    assert "SparsePendulum-v1" in envs.CONTINUOUS_ENVS
    assert envs.is_continuous("SparsePendulum-v1")
    config = DDPGConfig(env="SparsePendulum-v1")
    assert dataclasses.asdict(config)["env"] == "SparsePendulum-v1"
    with pytest.raises(ValueError, match="coverage_bins"):
        DDPGConfig(coverage_bins=0)
    with pytest.raises(ValueError, match="coverage_steps"):
        DDPGConfig(coverage_steps=-1)
