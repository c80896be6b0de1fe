"""Presets: named configs that resolve to validated configs, take overrides field by field, on the
command line as --preset NAME with any flag after it."""

from __future__ import annotations

import dataclasses

import pytest

from pn_jax import PRESETS, DDPGConfig, TD3Config, preset
from pn_jax.cli import train as train_cli


def test_plappert2018_is_the_baselines_ddpg_schedule():
    config = preset("plappert2018")
    assert type(config) is DDPGConfig
    expected = dict(
        num_envs=1,
        batch_size=64,
        tau=0.01,
        actor_lr=1e-4,
        critic_lr=1e-3,
        critic_l2=1e-2,
        critic_layer_norm=True,
        layer_norm=True,
        obs_norm=True,
        hidden_sizes=(64, 64),
        sigma_init=0.2,
        target_distance=0.2,
        adapt_alpha=1.01,
        adapt_every=50,
        buffer_size=1_000_000,
        exploration="param",
    )
    assert {name: getattr(config, name) for name in expected} == expected
    assert config.updates_per_step == 0.5 and config.update_period == 2  # 0.5 updates per env step
    # σ adapted every 50 updates: one update per round, so 50 rounds per adaptation block
    assert config.updates_per_round == 1 and config.steps_per_block == 100


def test_fujimoto2018_is_td3_as_its_paper_runs_it():
    config = preset("fujimoto2018")
    assert type(config) is TD3Config
    assert (config.hidden_sizes, config.batch_size, config.actor_lr, config.critic_lr) == ((256, 256), 256, 3e-4, 3e-4)
    assert (config.updates_per_step, config.learning_starts, config.exploration) == (1.0, 25_000, "gaussian")
    assert (config.action_noise_std, config.policy_noise, config.noise_clip, config.policy_delay) == (0.1, 0.2, 0.5, 2)


def test_a_preset_takes_overrides_and_another_learner():
    config = preset("plappert2018", env="MountainCarContinuous-v0", batch_size=96, total_steps=100_000)
    assert (config.env, config.batch_size, config.total_steps) == ("MountainCarContinuous-v0", 96, 100_000)
    assert config.tau == 0.01
    assert config.eval_every == 10_000  # derived fields follow the overrides
    td3 = preset("plappert2018", "td3")
    assert type(td3) is TD3Config and td3.batch_size == 64 and td3.policy_delay == 2


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: preset("plappert"), "preset: unknown preset 'plappert'; choose one of plappert2018, fujimoto2018"),
        (
            lambda: preset("fujimoto2018", "ddpg"),
            "preset: fujimoto2018 is a td3 preset; ddpg has no field for its noise_clip, policy_delay, policy_noise",
        ),
        (
            lambda: preset("plappert2018", "dqn"),
            r"preset: plappert2018 is a ddpg preset \(td3 takes it too\); dqn has no field for its action_noise_std",
        ),
        (lambda: preset("plappert2018", batch="x"), "batch: not a field of DDPGConfig"),
        (lambda: preset("plappert2018", batch_size=0), "batch_size: must be a positive integer"),
    ],
)
def test_bad_presets_and_overrides_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_every_preset_documents_what_differs_from_its_source():
    for chosen in PRESETS.values():
        assert chosen.summary and chosen.differs
        fields = {f.name for f in dataclasses.fields(TD3Config)}
        assert set(chosen.fields) <= fields


def _parsed(argv, monkeypatch):
    """The config and run the command line would train (training itself replaced)."""
    got = {}
    monkeypatch.setattr(train_cli, "main", lambda config, run, saved=None: got.update(config=config, run=run))
    train_cli.cli(argv)
    return got["config"]


def test_command_line_preset_with_flags_overriding_it(monkeypatch):
    argv = ["--preset", "plappert2018", "--env", "Pendulum-v1", "--batch-size", "32", "--no-obs-norm"]
    config = _parsed(argv, monkeypatch)
    assert config == preset("plappert2018", env="Pendulum-v1", batch_size=32, obs_norm=False)
    fujimoto = _parsed(["--preset=fujimoto2018", "--total-steps", "50000"], monkeypatch)
    assert fujimoto == preset("fujimoto2018", total_steps=50_000)
    assert fujimoto.eval_every == 5_000  # derived from the flags given, not the preset's 1M steps
    ddpg_of_plappert = _parsed(["--algo", "td3", "--preset", "plappert2018"], monkeypatch)
    assert ddpg_of_plappert == preset("plappert2018", "td3")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--preset", "nope"], "error: preset: unknown preset 'nope'"),
        (["--algo", "ddpg", "--preset", "fujimoto2018"], "error: preset: fujimoto2018 is a td3 preset; ddpg has"),
        (["--preset", "--out", "x"], "error: preset: --preset needs a name: plappert2018 or fujimoto2018"),
        (["--preset", "plappert2018", "--resume", "runs/x"], "error: preset: a resumed run keeps the config"),
    ],
)
def test_command_line_preset_errors_are_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(train_cli, "main", lambda *a, **k: pytest.fail("reached training"))
    with pytest.raises(SystemExit) as exit_info:
        train_cli.cli(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and len(err.splitlines()) == 1


def test_help_lists_the_presets_and_what_differs(capsys):
    with pytest.raises(SystemExit):
        train_cli.cli(["--preset", "plappert2018", "--help"])
    out = capsys.readouterr().out
    assert "with the plappert2018 preset's defaults" in out
    assert "plappert2018 (ddpg)" in out and "fujimoto2018 (td3)" in out and "Differs:" in out
    assert "(default: 0.0001)" in out  # the preset's actor lr is the flag's default


def test_a_derived_boolean_flag_can_be_set_back_to_derived(monkeypatch, capsys):
    """--obs-norm none (or auto) leaves obs_norm to the env family even under a preset that sets it."""
    config = _parsed(["--preset", "plappert2018", "--obs-norm", "none"], monkeypatch)
    assert config.obs_norm is False and "obs_norm" in config.derived_fields  # Pendulum-v1: off
    monkeypatch.setattr(train_cli, "main", lambda *a, **k: pytest.fail("reached training"))
    with pytest.raises(SystemExit):
        train_cli.cli(["--obs-norm", "maybe"])
    assert "obs_norm: --obs-norm takes true/false (also yes/no, on/off, 1/0, or none to derive it)" in (
        capsys.readouterr().err
    )
