"""PPO: GAE, the perturbed policy's log-probs and gradients, per-env ε, the trainer, the config."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pn_jax.agents import ppo
from pn_jax.config import PPOConfig, PPOHParams
from pn_jax.noise import _apply_flat_noise, perturbable_mask
from pn_jax.train_ppo import make_ppo_parts, make_ppo_train

# 4 rollouts of 4 envs × 50 steps, 2 evaluations; Pendulum's episodes (200 steps) end in the 4th rollout.
TINY_PPO = dict(
    env="Pendulum-v1",
    total_steps=800,
    num_envs=4,
    num_steps=50,
    update_epochs=2,
    num_minibatches=2,
    hidden_sizes=(16, 16),
    obs_norm=False,
    eval_every=400,
    eval_episodes=2,
)


def hparams_of(config: PPOConfig, **changes) -> PPOHParams:
    return config.hparams()._replace(**{name: jnp.float32(value) for name, value in changes.items()})


# --------------------------------------------------------------------------------------------
# Pure pieces
# --------------------------------------------------------------------------------------------


def test_gae_by_hand_with_a_truncation_and_a_termination_in_one_rollout():
    gamma, lam = 0.9, 0.8
    reward = np.array([[1.0, 1.0], [2.0, 1.0], [3.0, 1.0], [4.0, 1.0]], np.float32)  # [T=4, N=2]
    value = np.array([[0.5, 0.1], [0.6, 0.2], [0.7, 0.3], [0.8, 0.4]], np.float32)
    # env 0 is truncated at t=1 (time limit): it bootstraps from its final observation's value 9.
    # env 1 terminates at t=2: the 1e6 beside it must not be used.
    next_value = np.array([[0.6, 0.2], [9.0, 0.3], [0.8, 1e6], [1.5, 0.5]], np.float32)
    terminated = np.array([[0, 0], [0, 0], [0, 1], [0, 0]], bool)
    done = np.array([[0, 0], [1, 0], [0, 1], [0, 0]], bool)
    adv, target = ppo.gae(*map(jnp.asarray, (reward, value, next_value, terminated, done)), gamma, lam)

    d = lambda t, i: reward[t, i] + gamma * (1 - terminated[t, i]) * next_value[t, i] - value[t, i]  # noqa: E731
    expected = np.zeros((4, 2))
    expected[3, 0] = d(3, 0)  # the rollout's last step bootstraps from V(s'_3) = 1.5
    expected[2, 0] = d(2, 0) + gamma * lam * expected[3, 0]
    expected[1, 0] = 2.0 + gamma * 9.0 - 0.6  # truncated: r + γ·V(final obs), and the sum stops here
    expected[0, 0] = d(0, 0) + gamma * lam * expected[1, 0]
    expected[3, 1] = d(3, 1)
    expected[2, 1] = 1.0 - 0.3  # terminated: r − V(s), nothing after it
    expected[1, 1] = d(1, 1) + gamma * lam * expected[2, 1]
    expected[0, 1] = d(0, 1) + gamma * lam * expected[1, 1]
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(target, expected + value, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def perturbed():
    """A LayerNorm policy, 6 samples: one perturbation each (acting) and one per pair of rows (learning)."""
    policy = ppo.PolicyMean(2, (8, 8), layer_norm=True)
    params = jax.jit(policy.init)(jax.random.key(0), jnp.zeros((1, 3)))
    mask = perturbable_mask(params)
    rows = jax.random.normal(jax.random.key(1), (6, ppo.num_perturbable(params, mask)))
    obs = jax.random.normal(jax.random.key(2), (6, 3))
    sigma = 0.3
    paired = jnp.repeat(rows[:3], 2, axis=0)  # sample b reads ε_{b // 2}

    def materialised(theta, eps):
        """The 6 perturbed policies as noise.py builds them (θ + σε, ε a constant), applied one by one."""
        moved = _apply_flat_noise(theta, jnp.full((6,), sigma), jax.lax.stop_gradient(eps), mask)
        return moved, jax.vmap(lambda p, o: policy.apply(p, o[None])[0])(moved, obs)

    def apply(theta, eps):
        return ppo.perturbed_apply(policy, theta, ppo.noise_tree(theta, eps, sigma, mask), obs)

    @jax.jit
    def compute(theta, rows):
        results = dict(noise=ppo.noise_tree(theta, rows, sigma, mask), clean=policy.apply(theta, obs))
        for name, eps in (("each", rows), ("pairs", rows[:3])):  # R = 1 and R = 2 rows per perturbation
            results[name] = dict(
                out=apply(theta, eps),
                grads=jax.grad(lambda t, e: jnp.sum(jnp.square(apply(t, e))), argnums=(0, 1))(theta, eps),
            )
        for name, eps in (("each", rows), ("pairs", paired)):
            moved, reference = materialised(theta, eps)
            results[name].update(
                moved=moved,
                reference=reference,
                reference_grad=jax.grad(lambda t: jnp.sum(jnp.square(materialised(t, eps)[1])))(theta),  # noqa: B023
            )
        return results

    return params, compute(params, rows)


def test_noise_tree_cuts_eps_in_leaf_order_and_leaves_layernorm_alone(perturbed):
    params, r = perturbed
    noise, moved = r["noise"]["params"], r["each"]["moved"]["params"]
    assert set(noise["MLP_0"]) == {"Dense_0", "Dense_1"}  # no LayerNorm entry
    # θ + noise is what noise.py's flat cut gives (the same ε in the same leaf order)
    for layer in (noise["MLP_0"]["Dense_1"], noise["Dense_0"]):
        assert layer["kernel"].shape[0] == 6 and layer["bias"].shape[0] == 6
    kernel = params["params"]["MLP_0"]["Dense_1"]["kernel"] + noise["MLP_0"]["Dense_1"]["kernel"]
    np.testing.assert_allclose(kernel, moved["MLP_0"]["Dense_1"]["kernel"], rtol=1e-6)
    bias = params["params"]["Dense_0"]["bias"] + noise["Dense_0"]["bias"]
    np.testing.assert_allclose(bias, moved["Dense_0"]["bias"], rtol=1e-6)
    np.testing.assert_array_equal(
        moved["MLP_0"]["LayerNorm_0"]["scale"][3], params["params"]["MLP_0"]["LayerNorm_0"]["scale"]
    )


@pytest.mark.parametrize("rows_per_perturbation", ["each", "pairs"])
def test_perturbed_apply_is_theta_plus_sigma_eps_and_its_gradient_reaches_theta_never_eps(
    perturbed, rows_per_perturbation
):
    _, results = perturbed
    r = results[rows_per_perturbation]
    np.testing.assert_allclose(r["out"], r["reference"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(r["out"], results["clean"], atol=1e-3)  # the noise does act
    grad_theta, grad_eps = r["grads"]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), grad_theta, r["reference_grad"])
    assert float(jnp.max(jnp.abs(grad_eps))) == 0.0
    assert float(jnp.max(jnp.abs(grad_theta["params"]["MLP_0"]["Dense_0"]["kernel"]))) > 0


def test_perturbed_apply_refuses_rows_that_do_not_split_evenly(perturbed):
    params, _ = perturbed
    policy = ppo.PolicyMean(2, (8, 8), layer_norm=True)
    noise = ppo.noise_tree(params, jnp.zeros((4, ppo.num_perturbable(params))), 0.1)
    with pytest.raises(ValueError, match="obs: 6 rows for 4 perturbations"):
        ppo.perturbed_apply(policy, params, noise, jnp.zeros((6, 3)))


def test_log_prob_entropy_and_kl_match_closed_forms():
    out, log_std = np.array([[0.2, -0.4], [1.0, 0.0]]), np.log([0.5, 2.0])
    action, other = np.array([[0.0, 1.0], [1.5, -1.0]]), np.array([[0.3, 0.0], [1.0, 0.0]])
    logits, chosen = np.array([[0.0, 1.0, 2.0]]), np.array([2])

    @jax.jit
    def compute(out, log_std, action, other, logits, chosen):
        return (
            ppo.log_prob(out, log_std, action, False),
            ppo.entropy(out, log_std, False),
            ppo.kl(out, other, log_std, False),
            ppo.log_prob(logits, None, chosen, True),
            ppo.kl(logits, logits[:, ::-1], None, True),
            ppo.entropy(logits, None, True),
        )

    gauss_lp, gauss_h, gauss_kl, cat_lp, cat_kl, cat_h = compute(out, log_std, action, other, logits, chosen)
    std = np.exp(log_std)
    z = (action - out) / std
    np.testing.assert_allclose(gauss_lp, np.sum(-0.5 * z**2 - log_std - 0.5 * np.log(2 * np.pi), axis=1), rtol=1e-6)
    np.testing.assert_allclose(gauss_h, np.sum(log_std + 0.5 * np.log(2 * np.pi * np.e)), rtol=1e-6)
    np.testing.assert_allclose(gauss_kl, [0.5 * (0.1 / 0.5) ** 2 + 0.5 * (0.4 / 2.0) ** 2, 0.0], atol=1e-7)
    p = np.exp(logits) / np.exp(logits).sum()
    q = p[:, ::-1]
    np.testing.assert_allclose(cat_lp, np.log(p[:, 2]), rtol=1e-6)
    np.testing.assert_allclose(cat_kl, np.sum(p * np.log(p / q)), rtol=1e-5)
    np.testing.assert_allclose(cat_h, -np.sum(p * np.log(p)), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# One block under parameter noise: the rollout's ε and the update's ratio
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pendulum_block():
    """Pendulum under parameter noise: a rollout, its update and the adaptation."""
    config = PPOConfig(**{**TINY_PPO, "exploration": "param"})
    parts = make_ppo_parts(config)

    def block(key):
        state = parts.init(key)
        after_rollout, rollout = parts.rollout(state)
        after_learn, infos = parts.learn(after_rollout, rollout)
        return state, after_rollout, rollout, after_learn, infos, parts.adapt(after_learn, rollout)

    return config, parts, *jax.jit(block)(jax.random.key(0))


def test_stored_log_probs_are_the_perturbed_policys_and_the_first_ratio_is_one(pendulum_block):
    config, parts, _, after_rollout, rollout, _, infos, _ = pendulum_block
    assert config.minibatch_by_env
    agent = parts.agent(config.hparams())
    params, noise = after_rollout.agent.params, after_rollout.noise
    env_major = lambda x: jnp.swapaxes(x, 0, 1).reshape((-1,) + x.shape[2:])  # noqa: E731 [T, N, ...] -> [N·T, ...]
    obs, action = env_major(rollout.obs), env_major(rollout.action)

    @jax.jit
    def log_probs(params, noise, obs, action):
        out = agent.policy_out(params, obs, parts.noise(noise, params.policy, jnp.arange(4)))  # env i: rows i·T …
        clean = agent.policy_out(params, obs)
        return ppo.log_prob(out, params.log_std, action, False), ppo.log_prob(clean, params.log_std, action, False)

    recomputed, clean = log_probs(params, noise, obs, action)
    stored = env_major(rollout.log_prob)
    np.testing.assert_allclose(recomputed, stored, atol=1e-5)
    assert float(jnp.max(jnp.abs(clean - stored))) > 1e-2
    deviation = np.asarray(infos.ratio_deviation)  # [epochs, minibatches]
    assert deviation[0, 0] <= 1e-5, deviation  # θ unchanged, same ε: ratio 1 up to float rounding
    assert deviation[0, 1] > 1e-4 and deviation[1, 0] > 1e-4  # after an update the ratio moves


def test_the_update_moves_theta_and_leaves_eps_and_sigma_to_adapt(pendulum_block):
    config, _, state, after_rollout, rollout, after_learn, _, (adapted, distance) = pendulum_block
    before = after_rollout.agent.params.policy["params"]["MLP_0"]["Dense_0"]["kernel"]
    assert not np.allclose(after_learn.agent.params.policy["params"]["MLP_0"]["Dense_0"]["kernel"], before)
    np.testing.assert_array_equal(after_learn.noise.epsilon, state.noise.epsilon)
    sigma = float(after_learn.noise.sigma)
    alpha = config.adapt_alpha
    expected = sigma / alpha if float(distance) > config.target_distance else sigma * alpha
    assert float(adapted.noise.sigma) == pytest.approx(expected, rel=1e-6)
    assert float(distance) == pytest.approx(float(jnp.mean(rollout.kl)), rel=1e-6) and float(distance) > 0
    # no episode ended in the first 50 steps: every env keeps its ε
    assert not np.any(np.asarray(rollout.done)) and not np.any(np.asarray(after_rollout.noise.due))
    np.testing.assert_array_equal(adapted.noise.epsilon, state.noise.epsilon)
    np.testing.assert_array_equal(adapted.noise.steps, [50] * 4)


@pytest.mark.parametrize("minibatch_by_env", [True, False])
def test_each_env_has_its_own_eps_renewed_after_its_episode_ends(minibatch_by_env):
    """CartPole's episodes end at different steps: an env's ε holds through its rollout and is renewed
    when the rollout ends if that env's episode ended in it (and only then); four envs, four ε.
    The categorical policy's update is finite and its first ratio 1 with either minibatch layout."""
    changes = dict(
        env="CartPole-v1", exploration="param", minibatch_by_env=minibatch_by_env, num_steps=20, total_steps=800
    )
    config = PPOConfig(**{**TINY_PPO, **changes})
    parts = make_ppo_parts(config)

    def block(start):
        state, rollout = parts.rollout(start)
        return state, rollout, parts.learn(state, rollout)[1], parts.adapt(state, rollout)[0]

    # The start is an input, not recomputed inside the program: XLA may fuse a recomputation of the
    # draw into each consumer, with its own float rounding, and "unchanged" here means bit for bit.
    start = jax.jit(parts.init)(jax.random.key(3))
    state, rollout, infos, renewed = jax.jit(block)(start)  # envs 1 and 2 run on
    eps, done = np.asarray(start.noise.epsilon), np.asarray(rollout.done)
    assert eps.shape == (4, ppo.num_perturbable(start.agent.params.policy)) and len({r.tobytes() for r in eps}) == 4
    ended = done.any(axis=0)
    assert ended.any() and not ended.all(), done.sum(axis=0)  # the test needs both kinds of env
    np.testing.assert_array_equal(np.asarray(state.noise.due), ended)
    np.testing.assert_array_equal(np.asarray(state.noise.epsilon), eps)  # nothing changes mid-rollout
    new = np.asarray(renewed.noise.epsilon)
    assert [not np.array_equal(new[i], eps[i]) for i in range(4)] == list(ended)
    np.testing.assert_array_equal(np.asarray(renewed.noise.steps), np.where(ended, 0, 20))
    assert not np.any(np.asarray(renewed.noise.due))
    assert rollout.action.dtype == jnp.int32 and np.all(np.isfinite(np.asarray(infos.value_loss)))
    assert np.asarray(infos.ratio_deviation)[0, 0] <= 1e-5


def test_eps_renewed_every_k_steps_and_never_at_episode_ends():
    """resample_every = 2 rollouts: every env keeps its ε through the first rollout boundary and
    gets a fresh one at the second, whatever its episodes did (CartPole's end early)."""
    changes = dict(env="CartPole-v1", exploration="param", resample_every=40, num_steps=20, total_steps=800)
    config = PPOConfig(**{**TINY_PPO, **changes})
    parts = make_ppo_parts(config)

    def two_blocks(state):
        states = []
        for _ in range(2):
            state, rollout = parts.rollout(state)
            state = parts.adapt(state, rollout)[0]
            states.append((state, jnp.any(rollout.done)))
        return states

    start = jax.jit(parts.init)(jax.random.key(3))  # an input, so that "kept" means bit for bit
    (first, ended), (second, _) = jax.jit(two_blocks)(start)
    assert bool(ended)  # an episode did end in the first rollout
    np.testing.assert_array_equal(first.noise.epsilon, start.noise.epsilon)
    np.testing.assert_array_equal(first.noise.steps, [20] * 4)
    new, old = np.asarray(second.noise.epsilon), np.asarray(start.noise.epsilon)
    assert not any(np.array_equal(new[i], old[i]) for i in range(4))
    np.testing.assert_array_equal(second.noise.steps, [0] * 4)


# --------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pendulum_param():
    config = PPOConfig(**{**TINY_PPO, "exploration": "param"})
    train = make_ppo_train(config)
    return config, train, jax.jit(train)


def test_metrics_finite_and_shaped_like_the_off_policy_trainers(pendulum_param):
    config, _, run = pendulum_param
    state, m = run(jax.random.key(0), config.hparams())
    assert list(np.asarray(m.eval_step)) == [400, 800] and list(np.asarray(m.log_step)) == [200, 400, 600, 800]
    for name in ("eval_return", "sigma", "action_distance", "critic_loss", "actor_loss"):
        assert np.all(np.isfinite(np.asarray(getattr(m, name)))), name
    assert all(int(x) == -1 for x in m.nonfinite) and m.coverage.shape == (0, 0)
    np.testing.assert_allclose(m.sigma[0], config.sigma_init, rtol=1e-6)  # σ in force during the first rollout
    assert np.all(np.asarray(m.action_distance) > 0)
    assert state.noise.epsilon.shape == (4, ppo.num_perturbable(state.agent.params.policy))


def test_same_key_same_result_and_keys_differ(pendulum_param):
    config, _, run = pendulum_param
    hp = config.hparams()
    _, first = run(jax.random.key(0), hp)
    _, again = run(jax.random.key(0), hp)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)), first, again)
    _, other = run(jax.random.key(1), hp)
    assert not np.allclose(first.critic_loss, other.critic_loss)


def test_vmapped_seeds_and_hparams_grid_equal_lone_runs(pendulum_param):
    config, train, run = pendulum_param
    keys = jax.random.split(jax.random.key(7), 2)
    grid = jax.tree.map(lambda x: jnp.stack([x, x]), config.hparams())._replace(sigma_init=jnp.array([0.1, 0.3]))
    state, metrics = jax.jit(jax.vmap(train))(keys, grid)
    np.testing.assert_allclose(metrics.sigma[:, 0], [0.1, 0.3], rtol=1e-6)
    lone_state, lone = run(keys[1], hparams_of(config, sigma_init=0.3))
    for name in ("eval_return", "sigma", "action_distance", "train_episode_return", "critic_loss", "actor_loss"):
        np.testing.assert_allclose(getattr(lone, name), getattr(metrics, name)[1], rtol=2e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(lone_state.agent.params.log_std, state.agent.params.log_std[1], rtol=1e-4)


def test_evaluation_never_sees_eps(pendulum_param):
    """Without learning (lr 0), the evaluations of a run acting with a huge σ equal those of a run with a
    tiny one: both evaluate the same unperturbed mean policy with the same keys."""
    config, _, run = pendulum_param
    _, wild = run(jax.random.key(4), hparams_of(config, lr=0.0, sigma_init=5.0, adapt_alpha=1.0))
    _, tame = run(jax.random.key(4), hparams_of(config, lr=0.0, sigma_init=1e-4, adapt_alpha=1.0))
    np.testing.assert_array_equal(wild.eval_return, tame.eval_return)
    assert np.all(np.isfinite(np.asarray(wild.eval_return)))
    assert float(wild.action_distance[0]) > 100 * float(tame.action_distance[0])  # yet they acted very differently
    assert not np.allclose(wild.train_episode_return[-1], tame.train_episode_return[-1], rtol=1e-3)


def test_cartpole_learns():
    """PPO's own sampling (categorical): CartPole's deterministic return rises clearly within a few updates."""
    config = PPOConfig(
        env="CartPole-v1",
        exploration="gaussian",
        total_steps=8192,
        num_envs=8,
        num_steps=64,
        update_epochs=4,
        num_minibatches=4,
        hidden_sizes=(32, 32),
        lr=2.5e-3,
        anneal_lr=True,
        gamma=0.99,
        eval_every=2048,
        eval_episodes=4,
    )
    _, m = jax.jit(make_ppo_train(config))(jax.random.key(0))
    returns = np.asarray(m.eval_return)
    assert all(int(x) == -1 for x in m.nonfinite)
    np.testing.assert_array_equal(m.sigma, 0.0)  # no σ, and no std, for a categorical policy
    np.testing.assert_array_equal(m.action_distance, 0.0)
    train_returns = np.asarray(m.train_episode_return)
    # the first policy: about 20 steps sampled, about 10 deterministic (always the same action)
    assert train_returns[-1] > 3 * train_returns[0] and returns[-1] > 100, (train_returns, returns)


# --------------------------------------------------------------------------------------------
# The config
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("env", ""),
        ("exploration", "none"),
        ("exploration", "ou"),
        ("total_steps", 0),
        ("total_steps", 150_001),
        ("num_envs", -1),
        ("num_steps", 2.5),
        ("update_epochs", 0),
        ("num_minibatches", 3),
        ("hidden_sizes", ()),
        ("layer_norm", "yes"),
        ("lr", 0.0),
        ("gamma", 1.5),
        ("gae_lambda", -0.1),
        ("clip_eps", 0),
        ("ent_coef", -0.01),
        ("vf_coef", float("nan")),
        ("max_grad_norm", 0.0),
        ("init_log_std", 10.0),
        ("learn_log_std", 1),
        ("sigma_init", 0.0),
        ("target_distance", -1.0),
        ("adapt_alpha", 0.5),
        ("resample_every", -1),
        ("minibatch_by_env", "yes"),
        ("eval_every", 12_345),
        ("eval_episodes", 0),
    ],
)
def test_bad_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        PPOConfig(**{field: value})


def test_parameter_noise_needs_whole_rollouts_per_eps_and_whole_envs_per_minibatch():
    with pytest.raises(ValueError, match=r"^resample_every: \(150\) must be a multiple of num_steps \(100\)"):
        PPOConfig(exploration="param", resample_every=150)
    with pytest.raises(ValueError, match=r"^num_minibatches: \(8\) must divide num_envs \(100\) with minibatch_by_env"):
        PPOConfig(exploration="param", num_minibatches=8)
    assert PPOConfig(exploration="param", num_minibatches=8, minibatch_by_env=False).minibatch_by_env is False
    assert PPOConfig(exploration="param").minibatch_by_env and not PPOConfig().minibatch_by_env  # derived
    assert PPOConfig(exploration="param", resample_every=200).resample_every == 200


def test_config_schedule_hparams_and_replace():
    config = PPOConfig()
    assert config.algo == "ppo" and config.rollout_steps == 10_000 and config.minibatch_size == 1000
    assert config.total_steps % config.eval_every == 0 and config.eval_every % config.rollout_steps == 0
    assert config.num_updates == 15 * 10 * 10
    hp = config.hparams()
    assert hp._fields == (
        "lr",
        "gamma",
        "gae_lambda",
        "clip_eps",
        "ent_coef",
        "vf_coef",
        "sigma_init",
        "target_distance",
        "adapt_alpha",
    )
    assert all(x.dtype == jnp.float32 and x.shape == () for x in hp)
    smaller = config.replace(total_steps=20_000, num_envs=10)
    assert smaller.eval_every in (1000, 2000) and 20_000 % smaller.eval_every == 0  # re-derived


def test_config_module_imports_no_jax():
    code = "import sys, pn_jax.config as c; c.PPOConfig(); print(sorted({'jax', 'flax', 'gymnax'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_the_library_entry_points_take_a_ppo_config():
    """``pn_jax.make_trainer`` / ``build_env`` / ``--algo ppo`` dispatch a PPOConfig to the PPO trainer."""
    import pn_jax
    from pn_jax.config import CONFIGS
    from pn_jax.train import build_env, make_trainer

    config = pn_jax.PPOConfig(env="CartPole-v1", num_envs=4, num_steps=8, num_minibatches=2, total_steps=64)
    trainer = make_trainer(config)
    assert (trainer.num_chunks, trainer.chunk_steps) == (64 // config.eval_every, config.eval_every)
    assert build_env(config).num_actions == 2 and build_env(PPOConfig()).num_actions == 0
    assert CONFIGS["ppo"] is PPOConfig


# --------------------------------------------------------------------------------------------
# The on-policy experiment (pn-onpolicy)
# --------------------------------------------------------------------------------------------


def test_onpolicy_strategies_share_everything_but_their_exploration():
    from pn_jax.experiments import onpolicy

    config = onpolicy.Config(env=("MountainCarContinuous-v0", "DeepSea-20"), total_steps=20_000)
    runs = {s: onpolicy.task_config("MountainCarContinuous-v0", s, config) for s in onpolicy.strategies("x", config)}
    assert runs["param"].exploration == "param" and runs["param"].minibatch_by_env
    assert (runs["wide"].init_log_std, runs["wide"].learn_log_std) == (0.5, False)
    assert runs["gaussian"] == PPOConfig(
        env="MountainCarContinuous-v0", total_steps=20_000, eval_episodes=5, minibatch_by_env=True
    )
    for name in ("total_steps", "eval_every", "eval_episodes", "num_envs", "lr", "hidden_sizes", "minibatch_by_env"):
        assert len({getattr(run, name) for run in runs.values()}) == 1, name
    assert onpolicy.strategies("DeepSea-20", config) == ("gaussian", "param")  # no std to widen
    assert onpolicy.prepare(dataclasses.replace(config, quick=True, num_seeds=8)).num_seeds == 2
    for field, value in (("num_seeds", 0), ("total_steps", -1), ("env", ()), ("strategy", ())):
        with pytest.raises(ValueError, match=rf"^{field}: "):
            onpolicy.prepare(dataclasses.replace(config, **{field: value}))
    assert runs["param"].eval_every == 10_000  # derived from the new budget (not the task's 30k)
    with pytest.raises(ValueError, match=r"^total_steps: \(20001\) must be a multiple"):
        onpolicy.prepare(dataclasses.replace(config, total_steps=20_001))


def test_onpolicy_report_pairs_each_strategy_with_param(pendulum_param):
    """The summary of two strategies' records (here the tiny run under two σ₀): the table's rows,
    σ and KL from the curves, and a paired comparison against param on the common seeds."""
    from pn_jax.experiments import onpolicy
    from pn_jax.results import metrics_dict

    config, train, _ = pendulum_param
    keys = jax.random.split(jax.random.key(0), 2)
    grid = jax.tree.map(lambda x: jnp.stack([x, x]), config.hparams())
    records = {}
    for name, sigma in (("param", 0.3), ("gaussian", 1e-4)):
        _, metrics = jax.jit(jax.vmap(train))(keys, grid._replace(sigma_init=jnp.full(2, sigma)))
        records[name] = metrics_dict(
            config, metrics, [0, 1], jax_version="x", device="cpu", compile_seconds=0.0, run_seconds=1.0
        )
    out = onpolicy.report("Pendulum-v1", records, "pn-onpolicy --env Pendulum-v1")
    assert [row["strategy"] for row in out.rows] == ["param", "gaussian"]
    last_sigma = [values[-1] for values in records["param"]["sigma"]["value"]]
    assert out.rows[0]["final_sigma"] == pytest.approx(float(np.median(last_sigma)))
    assert out.rows[0]["final_kl"] > 0 and out.rows[1]["final_kl"] is None  # a KL for param only
    assert [c["comparison"] for c in out.comparisons] == ["param vs gaussian"]
    assert "`pn-onpolicy --env Pendulum-v1`" in out.markdown and "| param |" in out.markdown
    assert "range" in out.markdown and "95% CI" not in out.markdown  # 2 seeds: a range, never a CI
