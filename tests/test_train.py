"""The jitted training run: determinism, seed vmapping, what the replay stores, learning."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY

from pn_jax import DDPGConfig, envs, make_train
from pn_jax.networks import Actor
from pn_jax.results import check_finite
from pn_jax.train import run_episodes


@pytest.fixture(scope="module")
def tiny():
    config = DDPGConfig(**TINY)
    train = make_train(config)
    keys = jax.random.split(jax.random.key(0), 3)
    batched = jax.jit(jax.vmap(train))
    state, metrics = batched(keys)
    return config, train, batched, keys, state, metrics


def test_metrics_shapes(tiny):
    config, _, _, _, _, m = tiny
    assert m.eval_step.shape == (3, 2) and list(np.asarray(m.eval_step[0])) == [150, 300]
    assert m.sigma.shape == (3, 6) and list(np.asarray(m.log_step[0])) == list(range(50, 301, 50))
    assert np.all(np.isfinite(np.asarray(m.eval_return)))
    assert all(np.all(np.asarray(s) == -1) for s in m.nonfinite)


def test_same_key_same_result(tiny):
    _, _, batched, keys, _, metrics = tiny
    _, again = batched(keys)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), metrics, again)


def test_a_seeds_numbers_depend_on_the_batch_size_only_not_on_its_batch_mates(tiny):
    """Same program (batch of 3): seed k gives the same bits at any position, beside any other seeds,
    so one seed of a batch is re-run exactly by any run of the same per-device batch size holding it."""
    _, _, batched, keys, state, metrics = tiny
    others = jax.random.split(jax.random.key(99), 2)
    moved_state, moved = batched(jnp.stack([keys[1], others[0], others[1]]))  # seed 1 first, new batch-mates
    for name, value in metrics._asdict().items():
        np.testing.assert_array_equal(np.asarray(getattr(moved, name))[0], np.asarray(value)[1], err_msg=name)
    np.testing.assert_array_equal(
        jax.tree.leaves(moved_state.agent.actor_params)[0][0], jax.tree.leaves(state.agent.actor_params)[0][1]
    )


def test_seeds_differ(tiny):
    _, _, _, _, state, metrics = tiny
    kernels = np.asarray(state.agent.actor_params["params"]["MLP_0"]["Dense_0"]["kernel"])
    assert not np.allclose(kernels[0], kernels[1])
    assert len(set(np.round(np.asarray(metrics.eval_return[:, 0]), 3))) == 3


def test_vmapped_seed_k_equals_lone_run_with_key_k(tiny):
    _, train, _, keys, state, metrics = tiny
    lone_state, lone = jax.jit(train)(keys[1])
    for name in ("eval_return", "sigma", "action_distance", "train_episode_return", "critic_loss"):
        np.testing.assert_allclose(getattr(lone, name), getattr(metrics, name)[1], rtol=2e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(
        jax.tree.leaves(lone_state.agent.actor_params)[0], jax.tree.leaves(state.agent.actor_params)[0][1], rtol=1e-4
    )


def test_replay_stores_the_perturbed_policys_action(tiny):
    config, _, _, _, state, _ = tiny
    seed = 0
    actor = Actor(1, config.hidden_sizes, config.layer_norm)
    replay = jax.tree.map(lambda x: x[seed], state.replay)
    last = int(replay.current_index) - 1  # flashbax: [1, T, ...]; newest item at current_index - 1
    obs = replay.experience.obs[0, last]
    action = replay.experience.action[0, last]
    explore = jax.tree.map(lambda x: x[seed], state.exploration)
    assert int(explore.steps[0]) > 0  # the last step did not resample, so θ̃ is the one that acted
    perturbed = jax.tree.map(lambda x: x[0], explore.perturbed_params)
    np.testing.assert_allclose(action, actor.apply(perturbed, obs), rtol=1e-5, atol=1e-6)
    clean = actor.apply(jax.tree.map(lambda x: x[seed], state.agent.actor_params), obs)
    assert not np.allclose(action, clean, atol=1e-4)


def test_learner_params_are_never_the_perturbed_ones(tiny):
    _, _, _, _, state, _ = tiny
    theta = jax.tree.leaves(state.agent.actor_params)
    theta_tilde = jax.tree.leaves(jax.tree.map(lambda x: x[:, 0], state.exploration.perturbed_params))
    assert any(not np.allclose(a, b) for a, b in zip(theta, theta_tilde, strict=True))


def test_sigma_is_adapted_only_after_learning_starts(tiny):
    config, _, _, _, _, m = tiny
    sigma = np.asarray(m.sigma[0])
    # learning_starts=128: the first two blocks (steps 0-99) and the third (100-149) are not fully updated
    assert sigma[0] == sigma[1] == sigma[2] == sigma[3] == pytest.approx(config.sigma_init)
    assert sigma[4] != pytest.approx(config.sigma_init)
    assert np.all(np.abs(np.log(sigma[4:] / sigma[3:-1])) == pytest.approx(np.log(config.adapt_alpha), rel=1e-4))


def test_hparams_grid_in_one_program(tiny):
    config, train, _, _, _, _ = tiny
    base = config.hparams()
    grid = base._replace(sigma_init=jnp.array([0.05, 0.5]))
    grid = jax.tree.map(lambda x: jnp.broadcast_to(x, (2,)), grid)
    keys = jnp.stack([jax.random.key(0), jax.random.key(0)])
    _, metrics = jax.jit(jax.vmap(train))(keys, grid)
    sigma0 = np.asarray(metrics.sigma[:, 0])
    np.testing.assert_allclose(sigma0, [0.05, 0.5], rtol=1e-6)


def test_progress_callback_sees_every_eval_point():
    calls = []
    config = DDPGConfig(**TINY)
    train = make_train(config, progress_fn=lambda step, ret: calls.append((int(step), float(ret))))
    jax.block_until_ready(jax.jit(train)(jax.random.key(5)))
    assert sorted(step for step, _ in calls) == [150, 300]


def test_check_finite_names_the_step(tiny):
    _, _, _, _, _, metrics = tiny
    check_finite(metrics, [0, 1, 2])
    bad = metrics.nonfinite._replace(loss=jnp.array([-1, 250, -1]), exploration=jnp.array([300, -1, 200]))
    with pytest.raises(
        FloatingPointError, match=r"σ or the exploration state became non-finite at env step 200 \(seed 2\)"
    ):
        check_finite(metrics._replace(nonfinite=bad), [0, 1, 2])
    bad = bad._replace(loss=jnp.array([-1, 150, -1]))
    with pytest.raises(FloatingPointError, match=r"the learner's loss became non-finite at env step 150 \(seed 1\)"):
        check_finite(metrics._replace(nonfinite=bad), [0, 1, 2])


def test_short_run_learns_pendulum():
    """A learning smoke test: 2 seeds, 6k steps, from about -1400 to well above -900."""
    config = DDPGConfig(total_steps=6000, eval_every=3000, eval_episodes=4)
    _, metrics = jax.jit(jax.vmap(make_train(config)))(jax.random.split(jax.random.key(1), 2))
    returns = np.asarray(metrics.eval_return)
    assert np.all(returns[:, -1] > -900), returns
    assert np.all(returns[:, -1] > returns[:, 0] + 300), returns


def test_run_episodes_plays_each_episode_to_its_end_and_probes_its_last_state():
    """Pendulum episodes last 200 steps: the probe (the state's step count) reads 199 before the
    last action, and the returns are those of the actor's deterministic episodes."""
    env = envs.make("Pendulum-v1")
    actor = Actor(env.action_dim, (8,), True)
    params = actor.init(jax.random.key(1), jnp.zeros((1, env.obs_dim)))
    policy = lambda obs: actor.apply(params, obs)  # noqa: E731
    episodes = jax.jit(lambda key: run_episodes(key, env, policy, 3, probe=lambda state: state.time))(jax.random.key(0))
    np.testing.assert_array_equal(episodes.final_probe, [199, 199, 199])
    assert episodes.returns.shape == (3,) and np.all(np.asarray(episodes.returns) < 0)
    assert len(set(np.asarray(episodes.returns).tolist())) == 3  # three different start states
    unprobed = jax.jit(lambda key: run_episodes(key, env, policy, 3))(jax.random.key(0))
    np.testing.assert_array_equal(unprobed.returns, episodes.returns)
    np.testing.assert_array_equal(unprobed.final_probe, 0.0)
