"""Environment wrapper (action scaling, truncation vs termination) and the DDPG learner."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

from pn_jax import DDPGConfig, envs, make_train
from pn_jax.agents.common import polyak_update, td_target
from pn_jax.agents.ddpg import make_ddpg
from pn_jax.networks import Actor, Critic
from pn_jax.replay import Transition, make_replay


def test_action_scaling_maps_unit_box_to_env_bounds():
    env = envs.make("PointRobot-misc")  # bounds ±0.1
    out = envs.to_env_action(env, jnp.array([[-1.0, 1.0], [0.0, 5.0]]))
    np.testing.assert_allclose(out, [[-0.1, 0.1], [0.0, 0.1]], atol=1e-7)
    pendulum = envs.make("Pendulum-v1")  # bounds ±2
    np.testing.assert_allclose(envs.to_env_action(pendulum, jnp.array([[0.5]])), [[1.0]])


def test_discrete_and_unknown_envs_are_refused():
    with pytest.raises(ValueError, match="env: 'CartPole-v1' has a discrete action space"):
        envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="env: unknown environment 'Nope-v0'"):
        envs.make("Nope-v0")


def test_truncation_keeps_the_real_next_observation():
    env = envs.make("Pendulum-v1")
    obs, state = envs.reset(jax.random.key(0), env, 2)
    step = jax.jit(lambda k, s, a: envs.step(k, env, s, a))
    for i in range(env.max_steps):
        s = step(jax.random.key(i + 1), state, jnp.zeros((2, 1)))
        if i < env.max_steps - 1:
            assert not s.truncated.any() and not s.terminated.any()
            np.testing.assert_array_equal(s.obs, s.next_obs)
        state = s.state
    # the 200th step hits the time limit: truncated, not terminated, next_obs is pre-reset
    assert s.truncated.all() and not s.terminated.any()
    assert not np.allclose(s.obs, s.next_obs)
    assert np.all(np.asarray(s.state.time) == 0)


def test_termination_is_reported_apart_from_truncation():
    env = envs.make("MountainCarContinuous-v0")
    obs, state = envs.reset(jax.random.key(0), env, 1)
    state = state.replace(position=jnp.array([0.449]), velocity=jnp.array([0.07]))
    s = envs.step(jax.random.key(1), env, state, jnp.ones((1, 1)))
    assert s.terminated.all() and not s.truncated.any()
    assert float(s.next_obs[0, 0]) >= 0.45  # the terminal observation, not the reset one
    assert float(s.obs[0, 0]) < 0.0


@pytest.mark.parametrize("terminated,expected", [(0.0, 1.0 + 0.9 * 5.0), (1.0, 1.0)])
def test_td_target_bootstraps_through_truncation_not_termination(terminated, expected):
    # a time-limit (truncated) transition is stored with terminated=0 and bootstraps
    target = td_target(jnp.array([1.0]), jnp.array([terminated]), jnp.array([5.0]), 0.9)
    assert float(target[0]) == pytest.approx(expected)


def test_polyak_update():
    out = polyak_update({"w": jnp.ones(3)}, {"w": jnp.zeros(3)}, 0.25)
    np.testing.assert_allclose(out["w"], 0.25)


@pytest.fixture(scope="module")
def ddpg():
    agent = make_ddpg(Actor(1, (16, 16)), Critic((16, 16)), 1e-3, 1e-3, 0.1, 0.9)
    state = agent.init(jax.random.key(0), jnp.zeros((3,)), jnp.zeros((1,)))
    return agent, state


def _batch(key, n=64, terminated=0.0):
    k1, k2, k3 = jax.random.split(key, 3)
    return Transition(
        obs=jax.random.normal(k1, (n, 3)),
        action=jax.random.uniform(k2, (n, 1), minval=-1, maxval=1),
        reward=jnp.ones((n,)),
        next_obs=jax.random.normal(k3, (n, 3)),
        terminated=jnp.full((n,), terminated),
    )


def test_ddpg_critic_learns_terminal_and_bootstrapped_values(ddpg):
    agent, state = ddpg
    update = jax.jit(agent.update)
    # all-terminal transitions with reward 1: Q → 1
    for i in range(300):
        state, info = update(state, _batch(jax.random.key(i), terminated=1.0))
    q = agent_q(state, _batch(jax.random.key(1000), terminated=1.0))
    assert np.mean(q) == pytest.approx(1.0, abs=0.1)
    assert np.isfinite(float(info.critic_loss))


def agent_q(state, batch):
    return np.asarray(Critic((16, 16)).apply(state.critic_params, batch.obs, batch.action))


def test_ddpg_update_moves_targets_slowly_and_actor_up_the_critic(ddpg):
    agent, state = ddpg
    new, _ = jax.jit(agent.update)(state, _batch(jax.random.key(1)))
    for online, target, old in zip(
        jax.tree.leaves(new.critic_params),
        jax.tree.leaves(new.target_critic_params),
        jax.tree.leaves(state.target_critic_params),
        strict=True,
    ):
        np.testing.assert_allclose(target, 0.1 * online + 0.9 * old, rtol=1e-5, atol=1e-7)
    assert any(
        not np.allclose(a, b)
        for a, b in zip(jax.tree.leaves(new.actor_params), jax.tree.leaves(state.actor_params), strict=True)
    )


def test_replay_stores_and_samples_transitions():
    replay = make_replay(buffer_size=8, batch_size=4)
    example = Transition(jnp.zeros(2), jnp.zeros(1), jnp.zeros(()), jnp.zeros(2), jnp.zeros(()))
    state = replay.init(example)
    batch = Transition(
        obs=jnp.arange(6.0).reshape(3, 2),
        action=jnp.array([[0.1], [0.2], [0.3]]),
        reward=jnp.array([1.0, 2.0, 3.0]),
        next_obs=jnp.ones((3, 2)),
        terminated=jnp.array([0.0, 1.0, 0.0]),
    )
    state = replay.add(state, batch)
    sample = replay.sample(state, jax.random.key(0))
    assert sample.obs.shape == (4, 2) and sample.reward.shape == (4,)
    for obs, action, reward in zip(
        np.asarray(sample.obs), np.asarray(sample.action), np.asarray(sample.reward), strict=True
    ):
        i = int(reward) - 1
        np.testing.assert_allclose(obs, np.asarray(batch.obs[i]))
        np.testing.assert_allclose(action, np.asarray(batch.action[i]))


def test_envs_can_be_made_inside_jit():
    """Spaces and bounds stay concrete when an Env is built while tracing (as the diagnostics do)."""
    for name in (n for n in envs.CONTINUOUS_ENVS if not n.startswith("brax/")):
        low = jax.jit(lambda name=name: envs.make(name).action_low)()
        np.testing.assert_array_equal(low, envs.make(name).action_low)


def test_evaluation_reports_the_share_of_episodes_that_end_upside_down(monkeypatch):
    """An env with ``upright`` (brax bodies) gets the share of evaluation episodes whose last state reads
    below 0 (all upright: 0, all upside down: 1); one without gets NaN. (One test: each run compiles.)"""
    make = envs.make
    for sign, share in ((1.0, 0.0), (-1.0, 1.0)):
        upright = lambda state, sign=sign: sign * jnp.ones_like(state.theta)  # noqa: E731
        monkeypatch.setattr(envs, "make", lambda *a, upright=upright, **k: make(*a, **k)._replace(upright=upright))
        _, metrics = jax.jit(make_train(DDPGConfig(**TINY)))(jax.random.key(0))
        np.testing.assert_array_equal(metrics.eval_upside_down, [share, share])
    monkeypatch.setattr(envs, "make", make)
    _, plain = jax.jit(make_train(DDPGConfig(**TINY)))(jax.random.key(0))
    assert np.all(np.isnan(plain.eval_upside_down))
