"""Configuration validation: every bad field gets a ValueError naming it, before compiling."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pn_jax import DDPGConfig, DQNConfig, HParams

BAD = [
    ({"env": ""}, "env: must be a non-empty string"),
    ({"env": "no_such_package:make"}, "env: cannot import 'no_such_package'"),
    ({"env": "CartPole-v1"}, "env: 'CartPole-v1' has discrete actions"),
    ({"exploration": "epsilon"}, "exploration: unknown strategy 'epsilon'; choose one of param, gaussian"),
    ({"total_steps": 0}, "total_steps: must be a positive integer"),
    ({"num_envs": -1}, "num_envs: must be a positive integer"),
    ({"batch_size": 0}, "batch_size: must be a positive integer"),
    ({"buffer_size": 2.5}, "buffer_size: must be a positive integer"),
    ({"adapt_every": 0}, "adapt_every: must be a positive integer"),
    ({"eval_every": -5}, "eval_every: must be a positive integer"),
    ({"eval_episodes": 0}, "eval_episodes: must be a positive integer"),
    ({"learning_starts": -1}, r"learning_starts: must be an integer in \[0, 2³¹−1\]"),
    ({"resample_every": -3}, r"resample_every: must be an integer in \[0, 2³¹−1\]"),
    ({"hidden_sizes": ()}, "hidden_sizes: must be a non-empty tuple of positive integers"),
    ({"hidden_sizes": (64, 0)}, "hidden_sizes: must be a non-empty tuple of positive integers"),
    ({"layer_norm": "yes"}, "layer_norm: must be a bool"),
    ({"noise_pool": 1}, "noise_pool: must be a bool"),
    ({"actor_lr": 0.0}, "actor_lr: must be > 0"),
    ({"critic_lr": -1e-3}, "critic_lr: must be > 0"),
    ({"sigma_init": 0.0}, "sigma_init: must be > 0"),
    ({"sigma_init": -0.1}, "sigma_init: must be > 0"),
    ({"target_distance": 0.0}, "target_distance: must be > 0"),
    ({"tau": 0.0}, r"tau: must be in \(0, 1\]"),
    ({"tau": 1.5}, r"tau: must be in \(0, 1\]"),
    ({"gamma": 1.01}, r"gamma: must be in \[0, 1\]"),
    ({"adapt_alpha": 0.99}, "adapt_alpha: must be >= 1"),
    ({"sigma_spread": 0.5}, "sigma_spread: must be >= 1"),
    ({"updates_per_step": 0.0}, "updates_per_step: must be a positive integer k or a fraction 1/U"),
    ({"updates_per_step": 1.5}, "updates_per_step: must be a positive integer k or a fraction 1/U"),
    ({"updates_per_step": 0.3}, "updates_per_step: must be a positive integer k or a fraction 1/U"),
    ({"updates_per_step": 1 / 16, "eval_every": 2000}, "eval_every: .* adapt_every × update period × num_envs"),
    ({"action_noise_std": -0.2}, "action_noise_std: must be >= 0"),
    ({"ou_theta": 0.0}, "ou_theta: must be > 0"),
    ({"batch_size": 256, "buffer_size": 128}, r"batch_size: \(256\) must not exceed buffer_size \(128\)"),
    ({"learning_starts": 64}, r"learning_starts: \(64\) must be at least batch_size \(128\)"),
    ({"eval_every": 3000}, r"eval_every: \(3000\) must divide total_steps \(20000\).* nearest valid: 2500 or 4000"),
    ({"eval_every": 1000, "adapt_every": 400}, r"eval_every: .* multiple of adapt_every .* nearest valid: 800 or 2000"),
    ({"adapt_every": 300}, r"total_steps: \(20000\) must be a multiple of adapt_every .* = 300\): e.g. 19800 or 20100"),
    (
        {"num_envs": 3, "eval_every": 1500, "total_steps": 15000, "learning_starts": 1000},
        r"learning_starts: .* num_envs \(3\): e.g. 999 or 1002",
    ),
    ({"learning_starts": 20000}, "learning_starts: .* must be below total_steps"),
    ({"sigma_init": float("nan")}, "sigma_init: must be > 0"),
]


@pytest.mark.parametrize("changes,message", BAD, ids=[",".join(c) for c, _ in BAD])
def test_bad_field_raises_value_error_naming_it(changes, message):
    with pytest.raises(ValueError, match=message):
        DDPGConfig(**changes)


def test_defaults_are_valid_and_hparams_are_float_scalars():
    config = DDPGConfig()
    hp = config.hparams()
    assert isinstance(hp, HParams)
    assert all(leaf.shape == () and leaf.dtype == jnp.float32 for leaf in hp)
    assert float(hp.sigma_init) == pytest.approx(config.sigma_init)


def test_config_is_frozen_and_replace_validates():
    config = DDPGConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.tau = 0.1  # type: ignore[misc]
    assert config.replace(tau=0.01).tau == 0.01
    with pytest.raises(ValueError, match="tau"):
        config.replace(tau=-1.0)


ALL_DERIVED = ("adapt_every", "learning_starts", "eval_episodes", "eval_every", "obs_norm")


@pytest.mark.parametrize(
    "cls,changes,adapt_every,learning_starts",
    [
        (DDPGConfig, {}, 50, 1000),  # the defaults where they fit
        (DQNConfig, {"total_steps": 200_000}, 20, 5000),
        (DQNConfig, {"total_steps": 3000}, 25, 1500),  # 750 rounds of 4 steps: 20 does not divide, 25 does
        (DDPGConfig, {"total_steps": 1000}, 50, 500),  # 1000 would leave nothing to learn in: half the run
        (DQNConfig, {"total_steps": 8000}, 20, 5000),  # the default where it fits
        (DDPGConfig, {"total_steps": 2030}, 58, 1000),  # 2030 = 35 × 58
        (DDPGConfig, {"num_envs": 3, "total_steps": 15_000}, 50, 1002),  # a whole number of vector steps
        (DDPGConfig, {"total_steps": 200}, 50, 128),  # at least one batch
    ],
)
def test_schedule_fields_left_out_fit_the_run(cls, changes, adapt_every, learning_starts):
    config = cls(**changes)
    assert (config.adapt_every, config.learning_starts) == (adapt_every, learning_starts)
    assert config.total_steps % config.steps_per_block == 0 and config.learning_starts % config.num_envs == 0


def test_schedule_fields_given_are_kept_or_refused_naming_nearest_values():
    assert DQNConfig(total_steps=3040, adapt_every=20).adapt_every == 20
    with pytest.raises(
        ValueError, match=r"total_steps: \(3000\) must be a multiple of adapt_every .* e.g. 2960 or 3040"
    ):
        DQNConfig(total_steps=3000, adapt_every=20)
    with pytest.raises(ValueError, match=r"learning_starts: \(1000\) must be below total_steps \(1000\)"):
        DDPGConfig(total_steps=1000, learning_starts=1000)


@pytest.mark.parametrize(
    "changes,eval_every",
    [
        ({}, 2000),  # 20k steps: ten evaluations
        ({"total_steps": 3000}, 300),
        ({"total_steps": 50_000, "updates_per_step": 0.25}, 5000),  # blocks of 200 steps
        ({"total_steps": 7_000, "adapt_every": 70}, 700),
        ({"total_steps": 450, "learning_starts": 200}, 50),  # nine blocks of 50: nine evaluations
    ],
)
def test_eval_every_left_out_gives_about_ten_evaluations_the_schedule_allows(changes, eval_every):
    config = DDPGConfig(**changes)
    assert config.eval_every == eval_every
    assert config.total_steps % config.eval_every == 0 and config.eval_every % config.steps_per_block == 0
    assert set(config.derived_fields) == set(ALL_DERIVED) - set(changes)


def test_derived_fields_follow_replace_and_given_ones_stay():
    config = DDPGConfig()
    assert (config.eval_every, config.eval_episodes) == (2000, 10)
    longer = config.replace(total_steps=100_000)
    assert longer.eval_every == 10_000 and longer.derived_fields == ALL_DERIVED
    given = DDPGConfig(eval_every=4000, eval_episodes=3, learning_starts=1000, adapt_every=50, obs_norm=False)
    assert given.derived_fields == ()
    assert given.replace(total_steps=40_000).eval_every == 4000
    assert DDPGConfig(env="brax/halfcheetah", total_steps=100_000).eval_episodes == 5  # 1000-step episodes
    assert DDPGConfig(env="brax/halfcheetah", total_steps=100_000) == DDPGConfig(
        env="brax/halfcheetah", total_steps=100_000, eval_every=10_000, eval_episodes=5
    )


FIELDS = {
    "total_steps": st.integers(-10, 0),
    "batch_size": st.integers(-10, 0),
    "sigma_init": st.floats(-10, 0),
    "target_distance": st.floats(-10, 0),
    "adapt_alpha": st.floats(-10, 0.999),
    "tau": st.one_of(st.floats(-5, 0), st.floats(1.0001, 5)),
    "exploration": st.text(min_size=1, max_size=8).filter(lambda s: s not in {"param", "gaussian", "ou", "none"}),
    "hidden_sizes": st.lists(st.integers(-5, 0), min_size=1, max_size=3).map(tuple),
}


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(sorted(FIELDS)), data=st.data())
def test_random_invalid_values_name_their_field(field, data):
    value = data.draw(FIELDS[field])
    with pytest.raises(ValueError, match=f"^{field}: "):
        DDPGConfig(**{field: value})


@pytest.mark.parametrize(
    "argv,eval_every,eval_episodes",
    [
        (["--total-steps", "100000"], 10_000, 10),
        (["--adapt-every", "160"], 4000, 10),  # 20k steps in blocks of 160: 5 evaluations
        (["--algo", "td3", "--env", "brax/halfcheetah", "--total-steps", "100000"], 10_000, 5),
        (["--total-steps", "100000", "--eval-every", "25000", "--eval-episodes", "3"], 25_000, 3),
        (["--algo", "dqn", "--total-steps", "3000"], 300, 10),
        (["--algo", "dqn", "--total-steps", "50000"], 10_000, 10),  # 625 blocks of 80: 5 evaluations
    ],
)
def test_command_line_derives_the_eval_schedule_the_user_left_out(argv, eval_every, eval_episodes):
    import tyro

    from pn_jax.cli import train

    algo, args = train.split_algo(argv)
    parse = train._parser(train.ALGOS[algo or "ddpg"]().cli_defaults())
    config, _ = tyro.cli(parse, args=args, config=(tyro.conf.OmitArgPrefixes, tyro.conf.FlagConversionOff))
    assert (config.eval_every, config.eval_episodes) == (eval_every, eval_episodes)


def test_a_prime_number_of_blocks_gets_few_evaluations_not_many():
    config = DDPGConfig(total_steps=97 * 50)  # 97 blocks: 1 or 97 evaluations are the only choices
    assert config.eval_every == config.total_steps
    with pytest.raises(ValueError, match="total_steps: must be a positive integer up to"):
        DDPGConfig(total_steps=10**20)  # refused at once: no divisor search over a huge count


@pytest.mark.parametrize(
    "changes,checkpoint_every,eval_every",
    [
        ({"total_steps": 8000}, 2000, 1000),  # derived 800 does not divide 2000: 8 evaluations of 1000
        ({}, 4000, 2000),  # the derived 2000 divides it already
        ({}, 3000, 1000),  # 20 evaluations: the most a derived interval gives
        ({}, 100, 100),  # checkpoints this often need evaluations this often
        ({"total_steps": 8000}, 0, 800),  # no checkpoints
        ({"total_steps": 8000, "eval_every": 800}, 2000, 800),  # given: kept (the runner names it)
    ],
)
def test_a_derived_eval_every_fits_the_checkpoint_interval(changes, checkpoint_every, eval_every):
    from pn_jax.config import fit_checkpoint_every

    config = DDPGConfig(**changes)
    fitted = fit_checkpoint_every(config, checkpoint_every)
    assert fitted.eval_every == eval_every
    assert fitted.total_steps % fitted.eval_every == 0 and fitted.eval_every % fitted.steps_per_block == 0
    if fitted.eval_every == config.eval_every:
        assert fitted is config
    else:  # the value the run uses is reported as given, and stays when other fields change
        assert "eval_every" not in fitted.derived_fields and fitted.replace(tau=0.01).eval_every == eval_every


def test_a_checkpoint_interval_no_evaluation_interval_divides_is_refused_naming_it():
    from pn_jax.config import fit_checkpoint_every

    with pytest.raises(ValueError, match=r"^checkpoint_every: \(130\) must be a multiple .* = 50\): e.g. 100 or 150"):
        fit_checkpoint_every(DDPGConfig(), 130)


def test_command_line_checkpoints_without_evaluation_flags_run(tmp_path, monkeypatch):
    """``--total-steps 8000 --checkpoint-every 2000`` alone reaches training with eval_every 1000."""
    from pn_jax.cli import train

    class Reached(Exception):
        pass

    def reach(config, *args, checkpoint_every, meta, **kwargs):
        assert meta["config"]["eval_every"] == config.eval_every  # stored as the run uses it
        raise Reached(config.eval_every, checkpoint_every)

    monkeypatch.setattr("pn_jax.runner.run", reach)
    with pytest.raises(Reached) as reached:
        train.cli(["--total-steps", "8000", "--checkpoint-every", "2000", "--out", str(tmp_path / "run")])
    assert reached.value.args == (1000, 2000)


@pytest.mark.parametrize(
    "changes,decay",
    [
        ({}, 50_000),  # the default run keeps its schedule
        ({"total_steps": 20_000}, 5_000),  # a quarter of the run, like the default
        ({"total_steps": 1_000_000}, 250_000),
        ({"total_steps": 20_000, "epsilon_decay_steps": 50_000}, 50_000),  # given: kept
    ],
)
def test_dqn_epsilon_decay_left_out_scales_with_the_run(changes, decay):
    config = DQNConfig(**changes)
    assert config.epsilon_decay_steps == decay
    assert ("epsilon_decay_steps" in config.derived_fields) == ("epsilon_decay_steps" not in changes)
    assert float(config.hparams().epsilon_decay_steps) == decay
    if "epsilon_decay_steps" not in changes:
        assert config.replace(total_steps=40_000).epsilon_decay_steps == 10_000
        assert config.cli_defaults().epsilon_decay_steps is None


def test_command_line_derives_the_epsilon_schedule_from_the_steps_given():
    import tyro

    from pn_jax.cli import train

    algo, args = train.split_algo(["--algo", "dqn", "--total-steps", "20000"])
    parse = train._parser(train.ALGOS[algo]().cli_defaults())
    config, _ = tyro.cli(parse, args=args, config=(tyro.conf.OmitArgPrefixes, tyro.conf.FlagConversionOff))
    assert config.epsilon_decay_steps == 5_000


def test_the_catalog_names_what_gymnax_and_the_learners_accept():
    """Configs check names against :mod:`pn_jax.catalog` (no JAX import): its tables must agree with
    gymnax's own registry and action spaces, and the CLI's choices with the strategies."""
    import typing

    import gymnax
    from gymnax.environments import spaces

    from pn_jax import catalog, config, envs, noise

    listed = (*catalog.GYMNAX_CONTINUOUS, *catalog.GYMNAX_DISCRETE)
    assert sorted(listed) == sorted(gymnax.registered_envs)
    for name in gymnax.registered_envs:
        if name == "MNISTBandit-bsuite":  # (downloads MNIST to build)
            continue
        env, params = gymnax.make(name)
        assert catalog.has_continuous_actions(name) == isinstance(env.action_space(params), spaces.Box), name
    assert all(catalog.has_continuous_actions(name) for name in envs.SPARSE_ENVS)
    assert catalog.has_continuous_actions("DeepSea-8") is False and catalog.has_continuous_actions("MyTask") is None
    assert typing.get_args(config.Exploration) == noise.EXPLORATIONS
    assert typing.get_args(config.DQNExploration) == noise.DQN_EXPLORATIONS
    assert typing.get_args(config.BraxBackend) == envs.brax_envs.BACKENDS
