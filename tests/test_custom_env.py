"""Your own environment: an object through ``make_train(config, env=...)``, a ``module:callable`` name
(config and ``pn-train --env``), a registered name; the wrappers as for built-in names; one-line
errors for objects that do not fit. The environments live in ``tests/helpers/custom_env.py``."""

from __future__ import annotations

import json

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, TINY, TINY_DQN, run_script
from gymnax.environments import spaces
from helpers import custom_env

import pn_jax
from pn_jax import DDPGConfig, DQNConfig, envs

DRIFT = "tests.helpers.custom_env:make_drift"
SWITCH = "tests.helpers.custom_env:make_switch"
SMALL = {**TINY, "total_steps": 600, "eval_every": 300}


@pytest.fixture(autouse=True)
def _importable_from_the_repository(monkeypatch):
    """``tests.helpers.custom_env`` imports from the repository root, as a user's module from theirs."""
    monkeypatch.syspath_prepend(ROOT)


def _train(config, seeds=2, **kwargs):
    keys = jax.random.split(jax.random.key(0), seeds)
    return jax.jit(jax.vmap(pn_jax.make_train(config, **kwargs)))(keys)


@pytest.fixture(scope="module")
def drift_by_object():
    return _train(DDPGConfig(**{**SMALL, "env": "drift"}, exploration="param"), env=custom_env.Drift())


def test_an_object_trains_with_param_noise_and_the_same_env_by_name_gives_the_same_bits(drift_by_object):
    _, by_object = drift_by_object
    assert np.isfinite(np.asarray(by_object.eval_return)).all()
    assert np.all(np.asarray(by_object.sigma) > 0)
    _, by_name = _train(DDPGConfig(**{**SMALL, "env": DRIFT}, exploration="param"))
    for a, b in zip(jax.tree.leaves(by_object), jax.tree.leaves(by_name), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_params_given_with_the_object_are_the_ones_trained_on(drift_by_object):
    slow = custom_env.Params(max_steps_in_episode=50, speed=0.0)  # the actions move nothing
    config = DDPGConfig(**{**SMALL, "env": "drift"}, exploration="param")  # the fixture's run, on other params
    env = pn_jax.train.build_env(config, custom_env.Drift(), slow)
    assert env.params.speed == 0.0 and env.max_steps == 50 and env.obs_dim == 2 and env.action_dim == 1
    _, moved = drift_by_object
    _, frozen = _train(config, env=custom_env.Drift(), env_params=slow)
    assert not np.array_equal(np.asarray(moved.eval_return), np.asarray(frozen.eval_return))


def test_dqn_trains_on_a_discrete_env_named_by_entry_point_with_param_noise():
    config = DQNConfig(**{**TINY_DQN, "env": SWITCH}, exploration="param")
    env = envs.make(SWITCH, discrete=True)
    assert env.num_actions == 2 and env.max_steps == 40  # the factory's (env, params)
    _, metrics = _train(config)
    assert np.isfinite(np.asarray(metrics.eval_return)).all()


def test_a_registered_name_is_an_env_name_and_built_in_names_are_refused(monkeypatch):
    monkeypatch.setattr(envs, "_REGISTERED", {})
    envs.register("Drift-v9", custom_env.make_drift)
    config = DDPGConfig(**{**SMALL, "env": "Drift-v9"})
    assert pn_jax.train.build_env(config).env.__class__ is custom_env.Drift
    envs.register("Drift-v9", custom_env.make_switch)  # a notebook cell run twice replaces it
    with pytest.raises(ValueError, match="env: 'Pendulum-v1' is a built-in environment"):
        envs.register("Pendulum-v1", custom_env.make_drift)
    with pytest.raises(ValueError, match="without ':'"):
        envs.register("a:b", custom_env.make_drift)


def test_sparse_reward_around_a_gymnax_env_trains_through_the_api_and_counts_goals():
    base, _ = gymnax.make("Pendulum-v1")
    env = envs.SparseReward(base, lambda obs: obs[..., 0] > jnp.cos(0.5))
    config = DDPGConfig(**{**SMALL, "env": "upright-pendulum"}, exploration="param")
    assert pn_jax.train.build_env(config, env).goal == envs.SPARSE_GOAL
    _, metrics = _train(config, env=env)
    rewards = np.asarray(metrics.train_episode_return)
    assert np.isfinite(np.asarray(metrics.eval_return)).all()
    assert (rewards[np.isfinite(rewards)] >= 0).all()  # 0/1 rewards: no Pendulum cost is left
    assert np.asarray(metrics.goal_hits).shape[0] == 2


def test_truncation_keeps_the_pre_reset_observation_for_your_own_env():
    env = envs.make(DRIFT)
    obs, state = envs.reset(jax.random.key(1), env, 3)
    for t in range(env.max_steps):
        step = envs.step(jax.random.key(t), env, state, jnp.ones((3, 1)))
        state = step.state
    assert bool(step.truncated.all()) and not bool(step.terminated.any())
    np.testing.assert_allclose(np.asarray(step.next_obs[:, 1]), 1.0)  # time / 50 at the limit, before the reset
    np.testing.assert_allclose(np.asarray(step.obs[:, 1]), 0.0)  # the fresh episode


class _NoStep:
    def reset(self, key, params):
        return jnp.zeros(2), None

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, (1,))

    def observation_space(self, params):
        return spaces.Box(-1.0, 1.0, (2,))


class _OldStep(custom_env.Drift):
    def step(self, key, state, action, params=None):  # gymnax 0.x: a 5-tuple
        obs, state, reward, done, info = self.step_env(key, state, action, params)
        return obs, state, reward, done, info


class _DictObs(custom_env.Drift):
    def observation_space(self, params=None):
        return spaces.Dict({"x": spaces.Box(-1.0, 1.0, (1,))})


class _TwoArgStep(custom_env.Drift):
    def step(self, state, action):
        return super().step(jax.random.key(0), state, action)


@pytest.mark.parametrize(
    "env,discrete,message",
    [
        (_NoStep(), False, "is a _NoStep, not a gymnax Environment subclass or a brax Env"),
        (custom_env.Switch(), False, "has a Discrete action space; DDPG and TD3 need a 1-d Box"),
        (custom_env.Drift(), True, "has a Box action space; DQN needs a Discrete one"),
        (_DictObs(), False, "has a Dict observation space; a Box is needed"),
        (_OldStep(), False, "step must return gymnax 1.x's"),
        (_TwoArgStep(), False, "step(key, state, action, params) failed: TypeError"),
        (object(), False, "subclass gymnax.environments.environment.Environment"),
    ],
)
def test_an_object_that_does_not_fit_is_one_line_naming_what_is_wrong(env, discrete, message):
    with pytest.raises(ValueError) as err:
        envs.from_object(env, name="mine", discrete=discrete)
    text = str(err.value)
    assert text.startswith("env: ") and message in text and "\n" not in text


@pytest.mark.parametrize(
    "name,message",
    [
        ("no_such_package.mod:make", "env: cannot import 'no_such_package.mod'"),
        ("tests.helpers.custom_env:nothing", "has no attribute 'nothing'"),
        ("tests.helpers.custom_env:NOT_CALLABLE", "is not callable"),
    ],
)
def test_an_entry_point_that_cannot_be_loaded_is_refused_by_the_config(name, message):
    with pytest.raises(ValueError, match=message):
        DDPGConfig(env=name)


def test_an_object_labelled_with_the_name_of_another_env_is_refused():
    with pytest.raises(ValueError, match="env: config.env 'Pendulum-v1' names an environment, but env= gives another"):
        pn_jax.make_train(DDPGConfig(), env=custom_env.Drift())
    with pytest.raises(ValueError, match="names an environment"):
        pn_jax.make_train(DDPGConfig(env=DRIFT), env=custom_env.Drift())


def test_a_multi_line_error_of_your_env_is_one_line():
    class Traced(custom_env.Drift):
        def step_env(self, key, state, action, params):
            if state.x > 0:  # Python control flow on a traced value
                pass
            return super().step_env(key, state, action, params)

    with pytest.raises(ValueError) as err:
        envs.from_object(Traced(), name="traced")
    assert "TracerBoolConversionError" in str(err.value) and "\n" not in str(err.value)


def test_a_factory_that_raises_is_one_line(monkeypatch):
    monkeypatch.setattr(envs, "_REGISTERED", {})
    envs.register("Broken-v0", lambda: 1 / 0)
    with pytest.raises(ValueError, match="env: the factory of 'Broken-v0' failed: ZeroDivisionError"):
        envs.make("Broken-v0")


def test_an_unknown_plain_name_is_refused_when_the_run_is_built():
    config = DDPGConfig(env="Nope-v0")  # it could label an object given to make_train
    with pytest.raises(ValueError, match="env: unknown environment 'Nope-v0'.*pn_jax.envs.register"):
        pn_jax.make_train(config)
    with pytest.raises(ValueError, match="env_params: given without env"):
        pn_jax.make_train(DDPGConfig(), env_params=custom_env.Params())


def test_pn_train_imports_an_entry_point_from_the_working_directory_records_it_and_resumes(tmp_path):
    out = tmp_path / "run"
    result = run_script(
        "train.py", "--env", DRIFT, "--exploration", "param", "--num-seeds", "2", "--total-steps", "300",
        "--eval-every", "150", "--learning-starts", "128", "--batch-size", "32", "--hidden-sizes", "16", "16",
        "--eval-episodes", "2", "--checkpoint-every", "150", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "metrics.json").read_text())
    assert record["config"]["env"] == DRIFT and record["env_class"] == "tests.helpers.custom_env.Drift"
    again = run_script("train.py", "--resume", str(out))  # the saved config imports the module again
    assert again.returncode == 0, again.stderr
    assert "is complete" in again.stdout


def test_pn_train_reports_a_broken_entry_point_in_one_line(tmp_path, capsys):
    from pn_jax.cli import train

    with pytest.raises(SystemExit) as exit_info:
        train.cli(["--env", "tests.helpers.custom_env:nothing", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert "has no attribute 'nothing'" in err
