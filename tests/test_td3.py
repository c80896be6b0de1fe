"""TD3: the twin-minimum target, target-policy smoothing, the delayed actor, and parameter noise
that perturbs the acting actor only."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

from pn_jax import TD3Config, make_train
from pn_jax.agents.common import td_target
from pn_jax.agents.td3 import make_td3, smoothed_target_action
from pn_jax.networks import Actor, Critic
from pn_jax.replay import Transition

OBS, ACT, BATCH = 3, 2, 64


@pytest.fixture(scope="module")
def td3():
    agent = make_td3(Actor(ACT, (16, 16)), Critic((16, 16)), actor_lr=1e-2, critic_lr=1e-2, tau=0.1)
    state = agent.init(jax.random.key(0), jnp.zeros((OBS,)), jnp.zeros((ACT,)))
    keys = jax.random.split(jax.random.key(1), 4)
    batch = Transition(
        obs=jax.random.normal(keys[0], (BATCH, OBS)),
        action=jax.random.uniform(keys[1], (BATCH, ACT), minval=-1, maxval=1),
        reward=jax.random.normal(keys[2], (BATCH,)),
        next_obs=jax.random.normal(keys[3], (BATCH, OBS)),
        terminated=(jnp.arange(BATCH) % 4 == 0).astype(jnp.float32),
    )
    return agent, state, batch


def test_twin_critics_start_apart(td3):
    _, state, _ = td3
    first, second = (jax.tree.leaves(p)[0] for p in state.critic_params)
    assert not np.allclose(first, second)


def test_critic_target_is_the_minimum_of_the_twin_targets_at_the_smoothed_action(td3):
    agent, state, batch = td3
    # Targets apart from the online networks, so using the wrong ones changes the loss.
    moved = lambda tree, k: jax.tree.map(lambda x: x + 0.05 * jax.random.normal(k, x.shape), tree)  # noqa: E731
    state = state._replace(
        target_actor_params=moved(state.target_actor_params, jax.random.key(7)),
        target_critic_params=tuple(moved(p, jax.random.key(8 + i)) for i, p in enumerate(state.target_critic_params)),
    )
    critic, actor = Critic((16, 16)), Actor(ACT, (16, 16))
    # The update's smoothing noise: the key it splits off its state.
    _, noise_key = jax.random.split(state.key)
    next_action = smoothed_target_action(noise_key, actor.apply(state.target_actor_params, batch.next_obs), 0.2, 0.5)
    q1_next, q2_next = (critic.apply(p, batch.next_obs, next_action) for p in state.target_critic_params)
    assert np.any(q1_next < q2_next) and np.any(q2_next < q1_next)  # the minimum picks from both
    target = td_target(batch.reward, batch.terminated, jnp.minimum(q1_next, q2_next), 0.99)
    q1, q2 = (critic.apply(p, batch.obs, batch.action) for p in state.critic_params)
    expected = jnp.mean(jnp.square(q1 - target)) + jnp.mean(jnp.square(q2 - target))
    _, info = jax.jit(agent.update)(state, batch)
    np.testing.assert_allclose(info.critic_loss, expected, rtol=1e-5)
    for other in (q1_next, q2_next):  # either critic's own target gives another loss
        loss = jnp.mean(jnp.square(q1 - td_target(batch.reward, batch.terminated, other, 0.99)))
        assert not np.isclose(loss + jnp.mean(jnp.square(q2 - target)), info.critic_loss, rtol=1e-6)


def test_smoothing_noise_is_clipped_gaussian_and_actions_stay_in_bounds():
    zeros = jnp.zeros((100_000, 1))
    noise = np.asarray(smoothed_target_action(jax.random.key(3), zeros, 0.2, 0.5))
    assert np.abs(noise).max() <= 0.5 and np.isclose(np.abs(noise).max(), 0.5)
    assert np.mean(np.abs(noise) == 0.5) == pytest.approx(2 * 0.00621, abs=0.002)  # P(|N(0, 0.2²)| > 0.5)
    assert np.std(noise) == pytest.approx(0.2, rel=0.03) and abs(np.mean(noise)) < 0.005
    near_bound = np.asarray(smoothed_target_action(jax.random.key(4), jnp.full((1000, 1), 0.9), 0.2, 0.5))
    assert near_bound.max() == 1.0 and near_bound.min() >= 0.4 - 1e-6


def test_actor_and_targets_move_only_every_second_update(td3):
    agent, state, batch = td3
    update = jax.jit(agent.update)
    once, _ = update(state, batch)
    twice, _ = update(once, batch)

    def same(a, b) -> bool:
        return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))

    assert not same(once.critic_params, state.critic_params)  # critics learn at every update
    assert not same(twice.critic_params, once.critic_params)
    for name in ("actor_params", "actor_opt_state", "target_actor_params", "target_critic_params"):
        assert same(getattr(once, name), getattr(state, name)), name  # first update: held back
        assert not same(getattr(twice, name), getattr(once, name)), name  # second: moved
    assert int(twice.critic_updates) == 2


def test_td3_param_noise_perturbs_the_acting_actor_only():
    config = TD3Config(**TINY, exploration="param")
    state, metrics = jax.jit(jax.vmap(make_train(config)))(jax.random.split(jax.random.key(0), 2))
    assert np.all(np.isfinite(np.asarray(metrics.eval_return)))
    agent = jax.tree.map(lambda x: x[0], state.agent)
    perturbed = jax.tree.map(lambda x: x[0, 0], state.exploration.perturbed_params)
    actor = Actor(1, config.hidden_sizes, config.layer_norm)
    # The replay holds the perturbed actor's action (the last step did not resample).
    replay = jax.tree.map(lambda x: x[0], state.replay)
    last = int(replay.current_index) - 1
    obs, action = replay.experience.obs[0, last], replay.experience.action[0, last]
    np.testing.assert_allclose(action, actor.apply(perturbed, obs), rtol=1e-5, atol=1e-6)
    assert not np.allclose(action, actor.apply(agent.actor_params, obs), atol=1e-4)  # not the clean actor's
    # The exploration state holds actor-shaped copies only; no learner tree equals the perturbed one.
    actor_shapes = {x.shape for x in jax.tree.leaves(agent.actor_params)}
    critic_only = {x.shape for x in jax.tree.leaves(agent.critic_params)} - actor_shapes
    explored = {x.shape[2:] for x in jax.tree.leaves(state.exploration.perturbed_params)}
    assert critic_only and not (critic_only & explored)
    perturbed_kernel = jax.tree.leaves(perturbed)[1]
    for tree in (agent.actor_params, agent.target_actor_params, agent.actor_opt_state):
        for leaf in jax.tree.leaves(tree):
            assert not (leaf.shape == perturbed_kernel.shape and np.allclose(leaf, perturbed_kernel))


def test_td3_config_validates_its_fields():
    with pytest.raises(ValueError, match="policy_delay"):
        TD3Config(policy_delay=0)
    with pytest.raises(ValueError, match="noise_clip"):
        TD3Config(noise_clip=-0.1)
    with pytest.raises(ValueError, match="policy_noise"):
        TD3Config(policy_noise=-1.0)
    assert TD3Config.algo == "td3" and TD3Config().policy_delay == 2


def test_actor_loss_uses_the_freshly_updated_first_critic(td3):
    agent, state, batch = td3
    new, info = jax.jit(agent.update)(state, batch)
    actor, critic = Actor(ACT, (16, 16)), Critic((16, 16))
    q1_new = critic.apply(new.critic_params[0], batch.obs, actor.apply(state.actor_params, batch.obs))
    np.testing.assert_allclose(info.actor_loss, -jnp.mean(q1_new), rtol=1e-5)
    q1_old = critic.apply(state.critic_params[0], batch.obs, actor.apply(state.actor_params, batch.obs))
    assert not np.isclose(info.actor_loss, -jnp.mean(q1_old), rtol=1e-6)
