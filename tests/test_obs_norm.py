"""Observation normalisation: running statistics against numpy, the same normalisation in acting,
learning, σ adaptation and evaluation, the config default per env family, and exact resumes."""

from __future__ import annotations

import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY, TINY_DQN
from test_checkpoint import assert_identical

from pn_jax import DDPGConfig, DQNConfig, envs, make_train, normalization, runner
from pn_jax.networks import MLP

# The first coordinate sits at 1e3 with std 1e-2: float32 spaces values there 6e-5 apart (0.6 % of the
# std), so its variance can be right to about that much. E[x²] − E[x]² in float32 would lose it entirely.
VAR_RTOL = 5e-3


def _stream(seed: int = 0, steps: int = 300, width: int = 4) -> np.ndarray:
    """Observations with offsets and scales far apart (float32 cancellation would show)."""
    rng = np.random.default_rng(seed)
    offset = np.array([1e3, -2.0, 0.0, 50.0])[:width]
    scale = np.array([1e-2, 3.0, 1.0, 20.0])[:width]
    return (offset + scale * rng.standard_normal((steps, width))).astype(np.float32)


def test_running_statistics_match_numpy_over_a_stream_of_vector_steps():
    data = _stream()
    stats = normalization.init((4,))
    update = jax.jit(normalization.update)
    for batch in np.split(data, 50):  # 50 vector steps of 6 envs
        stats = update(stats, batch)
    assert int(stats.count) == 300
    naive = np.mean(np.square(data), 0) - np.square(np.mean(data, 0))  # float32 sums of squares
    assert abs(naive[0] / data.astype(np.float64).var(0)[0] - 1) > 0.5
    np.testing.assert_allclose(stats.mean, data.astype(np.float64).mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(stats.var, data.astype(np.float64).var(0), rtol=VAR_RTOL)


def test_merging_chunks_in_any_grouping_gives_the_statistics_of_all_of_them():
    data = _stream(1, steps=120)
    chunks = [data[:7], data[7:8], data[8:64], data[64:]]  # uneven sizes, one single observation
    parts = [normalization.update(normalization.init((4,)), c) for c in chunks]
    left = normalization.merge(normalization.merge(parts[0], parts[1]), normalization.merge(parts[2], parts[3]))
    sequential = normalization.init((4,))
    for c in chunks:
        sequential = normalization.update(sequential, c)
    for stats in (left, sequential):
        assert int(stats.count) == 120
        np.testing.assert_allclose(stats.mean, data.astype(np.float64).mean(0), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(stats.var, data.astype(np.float64).var(0), rtol=VAR_RTOL)
    # an empty side changes nothing
    empty = normalization.init((4,))
    np.testing.assert_array_equal(normalization.merge(parts[2], empty).var, parts[2].var)
    np.testing.assert_array_equal(normalization.merge(empty, parts[2]).mean, parts[2].mean)


def test_float32_statistics_stay_accurate_over_a_million_observations():
    """Weights in [0, 1] instead of sums of squares: a 1e6-observation stream at offset 1e3, std 1e-2."""
    key = jax.random.key(3)

    def step(stats, k):
        return normalization.update(stats, 1e3 + 1e-2 * jax.random.normal(k, (100, 1))), None

    stats, _ = jax.jit(lambda s: jax.lax.scan(step, s, jax.random.split(key, 10_000)))(normalization.init((1,)))
    assert int(stats.count) == 1_000_000
    assert abs(float(stats.mean[0]) - 1e3) < 1e-3
    assert float(stats.var[0]) == pytest.approx(1e-4, rel=0.02)


def test_normalize_centres_scales_floors_the_std_and_clips():
    stats = normalization.RunningStats(jnp.array(10, jnp.int32), jnp.array([1.0, 0.0]), jnp.array([4.0, 1e-6]))
    out = normalization.normalize(stats, jnp.array([[3.0, 0.05], [101.0, -1.0]]))
    # (3 − 1)/2 = 1; 0.05 / max(1e-3, 0.1) = 0.5; (101 − 1)/2 = 50 → 5; −1/0.1 = −10 → −5
    np.testing.assert_allclose(out, [[1.0, 0.5], [5.0, -5.0]], rtol=1e-6)


class _Scaled:
    """A gymnax environment whose observations are multiplied by ``factor`` (raw inputs then reach
    hundreds; normalised ones stay within ±5)."""

    def __init__(self, env, factor: float):
        self.env, self.factor = env, factor

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return obs * self.factor, state

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "final_observation": info["final_observation"] * self.factor}
        return obs * self.factor, state, reward, terminated, truncated, info


def _largest_network_inputs(config, monkeypatch) -> tuple[list[float], int]:
    """Trains ``config`` on its env with observations × 1000: the largest |input| of every MLP call
    (acting, learning, adaptation, evaluation are all MLP calls), and the statistics' final count."""
    make = envs.make
    monkeypatch.setattr(envs, "make", lambda *a, **k: (env := make(*a, **k))._replace(env=_Scaled(env.env, 1000.0)))
    seen: list[float] = []

    def spy(next_fun, args, kwargs, context):
        module = context.module
        if isinstance(module, MLP) and context.method_name == "__call__" and not module.is_initializing():
            jax.debug.callback(lambda x: seen.append(float(x)), jnp.max(jnp.abs(args[0])))
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(spy):
        state, metrics = jax.jit(make_train(config))(jax.random.key(0))
    jax.block_until_ready(metrics)
    return seen, int(state.obs_stats.count)


@pytest.mark.parametrize(
    "config",
    [
        DDPGConfig(**{**TINY, "num_envs": 2, "total_steps": 400, "eval_every": 200}, obs_norm=True),
        DQNConfig(**TINY_DQN, obs_norm=True),
    ],
    ids=["ddpg-2-envs", "dqn"],
)
def test_every_network_sees_normalised_observations_and_every_one_acted_on_is_counted(config, monkeypatch):
    """Acting (the perturbed actor), learning (actor, critic, targets), σ adaptation and evaluation:
    if any used the raw × 1000 observations, an input beyond ±5 (plus the critic's actions) shows.
    The statistics count every observation acted on (each env's), and stay unused when off."""
    seen, count = _largest_network_inputs(config, monkeypatch)
    assert len(seen) > 100  # every kind of call ran, many times
    assert max(seen) <= normalization.CLIP + 1e-6
    assert count == config.total_steps
    raw, count = _largest_network_inputs(config.replace(obs_norm=False), monkeypatch)
    assert max(raw) > 100  # the check would see raw observations
    assert count == 0  # unused and unchanged when off


def test_obs_norm_default_is_on_for_brax_and_off_for_gymnax():
    assert DDPGConfig(**TINY).obs_norm is False
    assert DQNConfig(**TINY_DQN).obs_norm is False
    assert "obs_norm" in DDPGConfig(**TINY).derived_fields
    assert DDPGConfig(**TINY, obs_norm=True).obs_norm is True
    with pytest.raises(ValueError, match="obs_norm: must be a bool"):
        DDPGConfig(**TINY, obs_norm="yes")


def test_resume_with_obs_norm_is_bit_exact(tmp_path):
    """The statistics are restored with the rest of the state: the resumed run equals the uninterrupted
    one (checkpointing itself changes no number: test_checkpoint compares it with a run without)."""
    config = DDPGConfig(**{**TINY, "total_steps": 600}, obs_norm=True)
    keys = jax.random.split(jax.random.key(5), 2)
    directory = str(tmp_path / "checkpoints")
    whole = runner.run(config, keys, checkpoint_dir=directory, checkpoint_every=300)
    shutil.rmtree(f"{directory}/600")
    resumed = runner.run(config, keys, checkpoint_dir=directory, checkpoint_every=300, resume=True)
    assert resumed.steps == whole.steps == 600
    assert_identical(resumed.metrics, whole.metrics)
