"""DQN: KL-adapted parameter noise, ε-greedy, the learner, discrete configs and DeepSea chains."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_DQN

from pn_jax import DQNConfig, envs, make_train, noise
from pn_jax.agents.dqn import make_dqn
from pn_jax.networks import QNetwork
from pn_jax.replay import Transition


@pytest.mark.parametrize(("epsilon", "num_actions"), [(0.01, 2), (0.1, 4), (1.0, 3), (0.0, 5)])
def test_dqn_target_distance_formula(epsilon, num_actions):
    expected = -np.log(1 - epsilon + epsilon / num_actions)
    assert float(noise.dqn_target_distance(epsilon, num_actions)) == pytest.approx(expected, abs=1e-7)


def test_dqn_target_distance_is_the_kl_of_epsilon_greedy_to_greedy():
    """δ is KL(greedy ‖ ε-greedy) for a one-hot greedy policy: −log(1 − ε + ε/|A|)."""
    epsilon, num_actions = 0.1, 4
    greedy = np.eye(num_actions)[0]
    egreedy = (1 - epsilon) * greedy + epsilon / num_actions
    kl = float(np.sum(greedy[greedy > 0] * np.log(greedy[greedy > 0] / egreedy[greedy > 0])))
    assert float(noise.dqn_target_distance(epsilon, num_actions)) == pytest.approx(kl, rel=1e-6)


def test_kl_distance_is_zero_for_identical_nets_and_matches_a_direct_computation():
    net = QNetwork(3, (8,))
    params = net.init(jax.random.key(0), jnp.zeros((1, 4)))
    obs = jax.random.normal(jax.random.key(1), (16, 4))
    assert float(noise.kl_distance(net.apply, params, params, obs)) == pytest.approx(0.0, abs=1e-7)
    other = noise.perturb(jax.random.key(2), params, 0.5)
    p = jax.nn.softmax(net.apply(params, obs))
    q = jax.nn.softmax(net.apply(other, obs))
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    expected = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1))
    assert float(noise.kl_distance(net.apply, params, other, obs)) == pytest.approx(expected, rel=1e-5)


def test_linear_epsilon_schedule():
    steps = jnp.array([0, 50, 100, 1000])
    np.testing.assert_allclose(noise.linear_epsilon(steps, 1.0, 0.1, 100), [1.0, 0.55, 0.1, 0.1], rtol=1e-6)


def test_egreedy_picks_greedy_at_epsilon_zero_and_uniform_at_one():
    q = lambda params, obs: obs  # noqa: E731  (Q-values are the observations themselves)
    obs = jnp.tile(jnp.array([[0.0, 3.0, 1.0]]), (4000, 1))
    greedy = noise.epsilon_greedy(q, 0.0, 0.0, 1)
    state = greedy.init(None, None, 4000)
    np.testing.assert_array_equal(greedy.act(jax.random.key(0), state, None, obs), 1)
    uniform = noise.epsilon_greedy(q, 1.0, 1.0, 1)
    counts = np.bincount(np.asarray(uniform.act(jax.random.key(0), state, None, obs)), minlength=3) / 4000
    np.testing.assert_allclose(counts, 1 / 3, atol=0.03)


def test_dqn_param_noise_perturbs_a_copy_keeps_layernorm_and_adapts_to_the_kl_target():
    net = QNetwork(2, (16, 16), layer_norm=True)
    params = net.init(jax.random.key(0), jnp.zeros((1, 4)))
    before = jax.tree.map(jnp.copy, params)
    strategy = noise.dqn_param_noise(net.apply, 2, sigma_init=0.1, epsilon_start=0.1, epsilon_end=0.1)
    state = strategy.init(jax.random.key(1), params, 3)
    perturbed = state.noise.perturbed_params
    ln = perturbed["params"]["MLP_0"]["LayerNorm_0"]
    np.testing.assert_array_equal(
        ln["scale"], np.broadcast_to(params["params"]["MLP_0"]["LayerNorm_0"]["scale"], ln["scale"].shape)
    )
    assert not np.allclose(perturbed["params"]["Dense_0"]["kernel"][0], params["params"]["Dense_0"]["kernel"])
    obs = jax.random.normal(jax.random.key(2), (64, 4))
    new_state, stats = strategy.adapt(jax.random.key(3), state, params, obs)
    target = float(noise.dqn_target_distance(0.1, 2))
    expected = 0.1 / 1.01 if float(stats.distance) > target else 0.1 * 1.01
    assert float(new_state.noise.sigma) == pytest.approx(expected, rel=1e-6)
    actions = strategy.act(jax.random.key(4), state, params, obs[:3])
    assert actions.shape == (3,) and actions.dtype == jnp.int32
    # The learner's parameters are untouched by init, act and adapt.
    jax.tree.map(np.testing.assert_array_equal, params, before)


def test_dqn_update_never_sees_the_perturbed_network_and_moves_the_target_by_polyak():
    net = QNetwork(2, (8,))
    learner = make_dqn(net, lr=1e-2, tau=0.5, gamma=0.9)
    state = learner.init(jax.random.key(0), jnp.zeros((4,)))
    batch = Transition(
        obs=jax.random.normal(jax.random.key(1), (8, 4)),
        action=jnp.array([0, 1] * 4, jnp.int32),
        reward=jnp.ones(8),
        next_obs=jax.random.normal(jax.random.key(2), (8, 4)),
        terminated=jnp.zeros(8),
    )
    new_state, info = learner.update(state, batch)
    assert np.isfinite(float(info.critic_loss)) and float(info.actor_loss) == 0.0
    expected_target = jax.tree.map(lambda o, t: 0.5 * o + 0.5 * t, new_state.params, state.target_params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), new_state.target_params, expected_target)


@pytest.fixture(scope="module")
def tiny_runs():
    runs = {}
    for exploration in ("param", "egreedy"):
        config = DQNConfig(**{**TINY_DQN, "exploration": exploration})
        runs[exploration] = jax.jit(jax.vmap(make_train(config)))(jax.random.split(jax.random.key(0), 2))
    return runs


def test_dqn_training_runs_and_reports(tiny_runs):
    for exploration, (state, metrics) in tiny_runs.items():
        assert metrics.eval_return.shape == (2, 2)
        assert np.all(np.isfinite(np.asarray(metrics.eval_return)))
        assert all(np.all(np.asarray(s) == -1) for s in metrics.nonfinite), exploration
        assert state.replay.experience.action.dtype == jnp.int32
    sigma = np.asarray(tiny_runs["param"][1].sigma)
    assert sigma[0, 0] == pytest.approx(0.1) and not np.allclose(sigma[0, -1], 0.1)  # adapted after warm-up
    epsilon = np.asarray(tiny_runs["egreedy"][1].sigma)[0]
    assert epsilon[0] > epsilon[-1] >= 0.05 - 1e-6  # the ε schedule is logged in place of σ


def test_target_network_and_learner_params_are_not_the_acting_copies(tiny_runs):
    state, _ = tiny_runs["param"]
    acting = state.exploration.noise.perturbed_params["params"]["Dense_0"]["kernel"]  # [S, N, ...]
    online = state.agent.params["params"]["Dense_0"]["kernel"]
    target = state.agent.target_params["params"]["Dense_0"]["kernel"]
    assert not np.allclose(acting[:, 0], online) and not np.allclose(online, target)


def test_same_key_same_result_and_vmapped_seed_equals_lone_run(tiny_runs):
    config = DQNConfig(**{**TINY_DQN, "exploration": "param"})
    _, alone = jax.jit(make_train(config))(jax.random.split(jax.random.key(0), 2)[1])
    _, batched = tiny_runs["param"]
    np.testing.assert_allclose(alone.eval_return, batched.eval_return[1], rtol=1e-5)
    np.testing.assert_allclose(alone.sigma, batched.sigma[1], rtol=1e-5)


def test_deep_sea_chain_rewards_only_the_all_right_path():
    env = envs.make("DeepSea-6", discrete=True)
    assert env.num_actions == 2 and env.max_steps == 6 and env.goal.solved_return == 0.5
    obs, state = envs.reset(jax.random.key(0), env, 2)
    total = jnp.zeros(2)
    for t in range(6):
        s = envs.step(jax.random.key(t), env, state, jnp.array([1, 0], jnp.int32))
        state, total = s.state, total + s.reward
    assert float(total[0]) == pytest.approx(0.99) and float(total[1]) == 0.0
    assert bool(s.terminated[0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            dict(env="Pendulum-v1"),
            "env: 'Pendulum-v1' has continuous actions, for DDPG or TD3 (--algo ddpg / td3); DQN needs one of",
        ),
        (dict(env="MountainCarContinuous-v0"), "env: 'MountainCarContinuous-v0' has continuous actions"),
        (dict(exploration="gaussian"), "exploration: unknown DQN strategy 'gaussian'; choose one of param, egreedy"),
        (dict(epsilon_start=1.5), "epsilon_start: must be in [0, 1]"),
        (dict(param_epsilon=-0.1), "param_epsilon: must be in [0, 1]"),
        (dict(epsilon_decay_steps=0), "epsilon_decay_steps: must be a positive integer"),
        (dict(lr=0.0), "lr: must be > 0"),
        (dict(double_dqn="yes"), "double_dqn: must be a bool"),
        (dict(batch_size=2000), "batch_size: (2000) must not exceed buffer_size"),
    ],
)
def test_discrete_config_validation(changes, message):
    with pytest.raises(ValueError) as err:
        DQNConfig(**{**TINY_DQN, **changes})
    assert str(err.value).startswith(message)


def test_continuous_env_names_a_discrete_one_for_ddpg_and_back():
    with pytest.raises(ValueError, match=r"has a discrete action space, for DQN \(--algo dqn\); DDPG and TD3 need"):
        envs.make("CartPole-v1")
    with pytest.raises(
        ValueError, match=r"has a continuous action space, for DDPG or TD3 \(--algo ddpg / td3\); DQN needs"
    ):
        envs.make("Pendulum-v1", discrete=True)


def test_train_command_runs_dqn(tmp_path):
    """pn-train's DQN path, in this process (the scripts/ shims are one line each: test_cli.py runs one)."""
    import json

    from pn_jax.cli import train

    flags = [f"--{k.replace('_', '-')}" for k in ("total_steps", "eval_every", "learning_starts", "batch_size")]
    values = ["400", "200", "128", "32"]
    args = [item for pair in zip(flags, values, strict=True) for item in pair]
    train.cli([
        "--algo", "dqn", "--env", "DeepSea-4", *args, "--num-seeds", "2", "--epsilon-decay-steps", "200",
        "--hidden-sizes", "16", "--updates-per-step", "1", "--adapt-every", "50", "--progress", "False",
        "--out", str(tmp_path),
    ])  # fmt: skip
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["config"]["double_dqn"] is True and record["config"]["env"] == "DeepSea-4"
    assert len(record["goal"]["first_step"]) == 2


def test_train_script_rejects_unknown_algo(capsys):
    from pn_jax.cli import train

    with pytest.raises(SystemExit) as exit_info:
        train.cli(["--algo", "sarsa"])
    assert exit_info.value.code == 2
    assert "algo: unknown algorithm 'sarsa'; choose one of ddpg, td3, dqn" in capsys.readouterr().err


def test_chain_command_writes_a_table_and_figure(tmp_path, capsys):
    from pn_jax.cli import chain

    chain.cli(["--sizes", "4", "--num-seeds", "2", "--episodes", "40", "--progress", "False", "--out", str(tmp_path)])
    assert "Traceback" not in capsys.readouterr().err
    table = (tmp_path / "summary.md").read_text()
    assert "| 4 | param |" in table and "| 4 | egreedy |" in table
    assert "| solved (final greedy eval earns +1) | diverged (final eval NaN or ±inf) |" in table
    assert (tmp_path / "summary.csv").read_text().startswith("size,exploration,seeds,solved,diverged,")
    assert (tmp_path / "chain.png").stat().st_size > 0
    assert (tmp_path / "4" / "param" / "metrics.json").exists()

    with pytest.raises(SystemExit) as exit_info:
        chain.cli(["--sizes", "1", "--progress", "False"])
    assert exit_info.value.code == 2 and "sizes: give chain lengths of at least 2" in capsys.readouterr().err


def test_annealed_learning_rate_reaches_zero():
    net = QNetwork(2, (8,))
    learner = make_dqn(net, lr=1e-2, anneal_updates=2)
    state = learner.init(jax.random.key(0), jnp.zeros((4,)))
    batch = Transition(
        obs=jax.random.normal(jax.random.key(1), (8, 4)),
        action=jnp.zeros(8, jnp.int32),
        reward=jnp.ones(8),
        next_obs=jax.random.normal(jax.random.key(2), (8, 4)),
        terminated=jnp.ones(8),
    )
    for _ in range(2):
        moved, _ = learner.update(state, batch)
        assert not np.allclose(moved.params["params"]["Dense_0"]["kernel"], state.params["params"]["Dense_0"]["kernel"])
        state = moved
    final, _ = learner.update(state, batch)  # the schedule is at 0 after 2 updates
    jax.tree.map(np.testing.assert_array_equal, final.params, state.params)
    with pytest.raises(ValueError, match="anneal_lr: must be a bool"):
        DQNConfig(**{**TINY_DQN, "anneal_lr": 1})
