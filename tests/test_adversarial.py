"""Random invalid configs and CLI flags: each must give a clean error naming the field.

Hypothesis draws one invalid value for one field (the rest stay valid), so a miss in validation
shows up as a config that constructs, or a CLI run that exits 0; a crash inside jax or a missing
check shows up as a non-ValueError, a traceback, or a message that does not name the field.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import typing

import pytest
from conftest import TINY, TINY_DQN, flags_of
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from pn_jax import DDPGConfig, DQNConfig, TD3Config
from pn_jax.envs.brax_envs import BACKENDS

CONFIGS = (DDPGConfig, TD3Config, DQNConfig)
JUNK = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
NOT_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])

# Per field: values it must refuse. Ranges follow the field docs in pn_jax/config.py.
POSITIVE_INTS = (
    "total_steps num_envs batch_size buffer_size adapt_every eval_every eval_episodes coverage_bins "
    "epsilon_decay_steps policy_delay"
)
NON_NEGATIVE_INTS = "learning_starts resample_every coverage_steps"
REAL_RANGES = {  # name: strategy of out-of-range reals
    "actor_lr": st.floats(max_value=0),
    "critic_lr": st.floats(max_value=0),
    "critic_l2": st.floats(max_value=0, exclude_max=True),
    "lr": st.floats(max_value=0),
    "sigma_init": st.floats(max_value=0),
    "target_distance": st.floats(max_value=0),
    "tau": st.floats(max_value=0) | st.floats(min_value=1, exclude_min=True),
    "gamma": st.floats(max_value=0, exclude_max=True) | st.floats(min_value=1, exclude_min=True),
    "adapt_alpha": st.floats(max_value=1, exclude_max=True),
    "sigma_spread": st.floats(max_value=1, exclude_max=True),
    "action_noise_std": st.floats(max_value=0, exclude_max=True),
    "ou_theta": st.floats(max_value=0),
    "policy_noise": st.floats(max_value=0, exclude_max=True),
    "noise_clip": st.floats(max_value=0, exclude_max=True),
    "epsilon_start": st.floats(max_value=0, exclude_max=True) | st.floats(min_value=1, exclude_min=True),
    "epsilon_end": st.floats(max_value=0, exclude_max=True) | st.floats(min_value=1, exclude_min=True),
    "param_epsilon": st.floats(max_value=0, exclude_max=True) | st.floats(min_value=1, exclude_min=True),
    "updates_per_step": st.floats(max_value=0)
    | st.floats(min_value=1.01, max_value=1e5).filter(lambda x: abs(x - round(x)) > 1e-3)
    | st.sampled_from([0.3, 0.7, 0.4]),
}


# None: derived from the other fields
DERIVED_WHEN_NONE = ("adapt_every", "learning_starts", "eval_every", "eval_episodes", "epsilon_decay_steps")


def invalid_values(cls: type, name: str) -> st.SearchStrategy:
    """Values that field ``name`` of ``cls`` must refuse."""
    hint = typing.get_type_hints(cls)[name]
    bad = JUNK | NOT_FINITE
    if name in POSITIVE_INTS.split():
        values = bad | st.integers(max_value=0) | st.integers(min_value=2**31) | st.floats() | st.booleans()
        return values.filter(lambda v: v is not None) if name in DERIVED_WHEN_NONE else values
    if name in NON_NEGATIVE_INTS.split():
        values = bad | st.integers(max_value=-1) | st.integers(min_value=2**31) | st.floats() | st.booleans()
        return values.filter(lambda v: v is not None) if name in DERIVED_WHEN_NONE else values
    if name in REAL_RANGES:
        return bad | REAL_RANGES[name] | st.booleans()
    if hint is bool:
        return bad | st.integers() | st.floats()
    if name == "obs_norm":  # bool | None, None derives it from the env
        return (bad | st.integers() | st.floats()).filter(lambda v: v is not None)
    if name == "critic_action_layer":  # an int in [0, len(hidden_sizes)]; the tiny configs have 2 layers
        return bad | st.integers(max_value=-1) | st.integers(min_value=3) | st.floats() | st.booleans()
    if name == "hidden_sizes":  # (a list of positive ints is fine: it becomes a tuple)
        bad_width = st.integers(max_value=0) | st.floats() | st.text(max_size=2) | st.none()
        return st.none() | st.text(max_size=8) | st.integers() | st.just(()) | st.tuples(st.just(8), bad_width)
    if name == "brax_backend":
        return st.text(max_size=8).filter(lambda v: v not in BACKENDS) | st.integers() | st.none()
    if name == "env":  # any other string may label your own env object (make_train refuses an unknown name)
        wrong_kind = "Pendulum-v1" if cls is DQNConfig else "CartPole-v1"
        entry_points = ["no_such_module:make", "pn_jax.envs:no_such_factory", "pn_jax.envs:KNOWN_ENVS"]
        return st.integers() | st.none() | st.just("") | st.sampled_from([wrong_kind, *entry_points])
    if name == "exploration":
        return (
            st.text(max_size=12) | st.integers() | st.none() | st.sampled_from(["DeepSea-0", "DeepSea-1", "DeepSea-x"])
        )
    raise AssertionError(f"no invalid values for {cls.__name__}.{name}")


def tiny_kwargs(cls: type) -> dict:
    return dict(TINY_DQN if cls is DQNConfig else TINY)


@st.composite
def one_bad_field(draw) -> tuple[type, str, object]:
    cls = draw(st.sampled_from(CONFIGS))
    name = draw(st.sampled_from([f.name for f in dataclasses.fields(cls)]))
    value = draw(invalid_values(cls, name))
    if name == "exploration" and _accepts(cls, name, value):
        value = f"{value}-not-a-name"
    return cls, name, value


def _accepts(cls: type, name: str, value: object) -> bool:
    try:
        cls(**{**tiny_kwargs(cls), name: value})
        return True
    except ValueError:
        return False


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_bad_field())
def test_invalid_config_field_raises_value_error_naming_it(case):
    cls, name, value = case
    event(f"{cls.__name__}")
    with pytest.raises(ValueError) as err:
        cls(**{**tiny_kwargs(cls), name: value})
    assert name in str(err.value), (name, value, str(err.value))


# ---- the CLI, in-process (parsing and validation fail before anything compiles) ----


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


TINY_FLAGS = [*flags_of(TINY), "--num-seeds", "2", "--progress", "False"]
TINY_ALGO_FLAGS = {
    DDPGConfig: TINY_FLAGS,
    TD3Config: ["--algo", "td3", *TINY_FLAGS],
    DQNConfig: ["--algo", "dqn", *flags_of(TINY_DQN), "--num-seeds", "2", "--progress", "False"],
}
RUN_FLAGS = {
    "num_seeds": st.integers(max_value=0).map(str) | st.sampled_from(["abc", "1.5", ""]),
    "devices": st.sampled_from(["0", "-1", "999", "two", "1.0", ""]),
    "checkpoint_every": st.sampled_from(["100", "-150", "7", "abc", "1e3"]),
    "resume": st.text(alphabet="abcxyz/_", min_size=1, max_size=10).map(lambda s: f"/nonexistent/{s}"),
    "progress": st.sampled_from(["maybe", "2", ""]),
    "overwrite": st.sampled_from(["yes!", "3", ""]),
}


@st.composite
def one_bad_flag(draw) -> tuple[list[str], list[str]]:
    """``(argv, names that may identify the bad flag in the message)``."""
    kind = draw(st.sampled_from(["field", "field", "run", "unknown", "algo"]))
    if kind == "field":
        cls = draw(st.sampled_from(CONFIGS))
        name = draw(st.sampled_from([f.name for f in dataclasses.fields(cls) if f.name != "hidden_sizes"]))
        value = draw(invalid_values(cls, name).map(str).filter(lambda v: not v.startswith("--")))  # not a flag
        if _accepts(cls, name, _cast(cls, name, value)):
            value = "not-a-value"
        return [*TINY_ALGO_FLAGS[cls], _flag(name), value], [name, _flag(name)]
    if kind == "run":
        name = draw(st.sampled_from(sorted(RUN_FLAGS)))
        return [*TINY_FLAGS, _flag(name), draw(RUN_FLAGS[name])], [name, _flag(name)]
    if kind == "algo":
        known = ("ddpg", "td3", "dqn")
        algo = draw(st.text(alphabet="abcdqnpgt3", min_size=1, max_size=6).filter(lambda a: a not in known))
        return ["--algo", algo, *TINY_FLAGS], ["algo"]
    name = draw(st.text(alphabet="abcdefghij-", min_size=2, max_size=10).filter(lambda n: n.strip("-")))
    return [*TINY_FLAGS, f"--zz-{name}", "1"], [f"--zz-{name}"]


def _cast(cls: type, name: str, text: str) -> object:
    """What tyro would make of ``text`` for field ``name`` (the text itself if it cannot)."""
    hint = typing.get_type_hints(cls)[name]
    try:
        if hint is bool:  # the commands' spellings (pn_jax.cli.common.bool_args)
            from pn_jax.cli.common import FALSE_WORDS, TRUE_WORDS

            return {**dict.fromkeys(TRUE_WORDS, True), **dict.fromkeys(FALSE_WORDS, False)}[text.lower()]
        return hint(text)
    except (KeyError, TypeError, ValueError):
        return text


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=one_bad_flag())
@example(case=([*TINY_FLAGS, "--layer-norm", "-A"], ["--layer-norm"]))  # a value that looks like a flag
def test_invalid_cli_flag_exits_with_a_message_naming_it(case, capsys, tmp_path_factory):
    from pn_jax.cli import train

    argv, names = case
    out = tmp_path_factory.mktemp("out")
    with pytest.raises(SystemExit) as exit_info:
        train.cli([*argv, "--out", str(out)] if "--out" not in argv else argv)
    captured = capsys.readouterr()
    text = captured.err + captured.out
    event(f"exit code {exit_info.value.code}")
    assert exit_info.value.code not in (0, None), (argv, text)
    assert "Traceback" not in text, (argv, text)
    assert any(n in text for n in names), (argv, names, text[-800:])


def test_out_holding_a_run_is_refused_without_overwrite(tmp_path, capsys):
    from pn_jax.cli import train

    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        train.cli([*TINY_FLAGS, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "out:" in err and "--overwrite" in err and "--resume" not in err  # nothing to resume from
    (tmp_path / "checkpoints" / "150").mkdir(parents=True)
    (tmp_path / "checkpoints" / "150" / "meta.json").write_text("{}")
    with pytest.raises(SystemExit):
        train.cli([*TINY_FLAGS, "--out", str(tmp_path)])
    assert f"--resume {tmp_path}" in capsys.readouterr().err  # a checkpoint: resuming is offered
    assert (tmp_path / "metrics.json").read_text() == "{}"


def _sweep_args(script: str, out: str):
    """Tiny arguments for a sweep script's ``main`` (refused before anything compiles)."""
    from pn_jax.cli import ablate, chain, reproduce

    if script == "ablate":
        return ablate.Ablation(**{**TINY, "exploration": ("param",), "num_seeds": 1, "progress": False, "out": out})
    if script == "reproduce":
        return reproduce.Reproduce(
            env=("SparsePendulum-v1",), exploration=("none",), total_steps=2000, num_seeds=1, progress=False, out=out
        )
    return chain.Chain(sizes=(4,), exploration=("egreedy",), episodes=20, num_seeds=1, progress=False, out=out)


@pytest.mark.parametrize("script", ["ablate", "reproduce", "chain"])
def test_sweep_out_holding_results_is_refused_without_overwrite(script, tmp_path, capsys):
    """A sweep's --out with a run folder below it is refused before anything compiles."""
    import importlib

    (tmp_path / "param" / "setting").mkdir(parents=True)
    (tmp_path / "param" / "setting" / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(f"pn_jax.cli.{script}").main(_sweep_args(script, str(tmp_path)))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"out: {tmp_path} already holds results (param/setting/metrics.json)" in err
    assert "--overwrite" in err and "--resume" not in err
    assert (tmp_path / "param" / "setting" / "metrics.json").read_text() == "{}"


def test_overwrite_clears_a_runs_own_outputs_only(tmp_path):
    """--overwrite on a single run deletes its metrics files and checkpoints (a stale checkpoint
    must never be resumed) and nothing else; on a sweep it deletes nothing."""
    from pn_jax.cli.common import claim_output_folder
    from pn_jax.results import runs_in

    for name in ("metrics.json", "returns.png", "checkpoints/300/meta.json", "notes.txt", "sub/metrics.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert runs_in(str(tmp_path)) == ["metrics.json", "returns.png", "checkpoints", "sub/metrics.json"]
    assert runs_in(str(tmp_path / "nowhere")) == []
    claim_output_folder(str(tmp_path), overwrite=True, sweep=True)
    assert len(runs_in(str(tmp_path))) == 4
    claim_output_folder(str(tmp_path), overwrite=True)
    assert runs_in(str(tmp_path)) == ["sub/metrics.json"] and (tmp_path / "notes.txt").exists()
    claim_output_folder(str(tmp_path), overwrite=False)  # nothing at its top any more: accepted


# ---- --resume on checkpoints whose metadata was damaged or tampered with ----

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A complete tiny run with checkpoints. Resuming a complete run does nothing: the tests resume
    copies without metrics.json, as if writing the outputs had failed, so the checkpoint is read."""
    from pn_jax.cli import train

    out = tmp_path_factory.mktemp("finished") / "run"
    train.cli([*TINY_FLAGS, "--checkpoint-every", "150", "--out", str(out)])
    return out


@st.composite
def tampered_meta(draw, meta: dict) -> str:
    """meta.json text with one part replaced: the whole file, a top-level entry, an entry of the run
    description, or one config field (by a value that field refuses)."""
    where = draw(st.sampled_from(["file", "top", "run", "config", "delete"]))
    meta = json.loads(json.dumps(meta))
    if where == "file":
        return draw(st.text(max_size=40) | JSON.map(json.dumps))
    if where == "top":
        meta[draw(st.sampled_from(sorted(meta)))] = draw(JSON)
    elif where == "run":
        meta["run"][draw(st.sampled_from(sorted(meta["run"])))] = draw(JSON)
    elif where == "config":
        name = draw(st.sampled_from(sorted(meta["run"]["config"])))
        meta["run"]["config"][name] = draw(invalid_values(DDPGConfig, name).filter(_json_safe))
    else:
        section = draw(st.sampled_from([meta, meta["run"], meta["run"]["config"]]))
        del section[draw(st.sampled_from(sorted(section)))]
    return json.dumps(meta)


def _json_safe(value: object) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_resume_from_tampered_metadata_fails_cleanly(finished_run, data, capsys, tmp_path_factory):
    from pn_jax.cli import train

    copy = tmp_path_factory.mktemp("tampered") / "run"
    shutil.copytree(finished_run, copy)
    (copy / "metrics.json").unlink()
    latest = copy / "checkpoints" / "300" / "meta" / "metadata"
    latest.write_text(data.draw(tampered_meta(json.loads(latest.read_text()))))
    try:
        train.cli(["--resume", str(copy), "--progress", "False"])
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    text = capsys.readouterr().err
    event(f"exit code {code}")
    assert "Traceback" not in text
    if code != 0:
        assert code == 2 and ("error: " in text or "Value error" in text), text[-800:]


@pytest.mark.parametrize("change", ["description", "older"])
def test_resume_refuses_a_checkpoint_not_of_the_run_it_describes(finished_run, change, capsys, tmp_path):
    """--resume rebuilds the config from the checkpoint's description of its run; a description
    that is not the run that wrote the arrays (a library caller's wrong ``meta``), or a checkpoint
    of the older format that recorded no identity, is refused with exit code 2 and one line."""
    from pn_jax import checkpoint
    from pn_jax.cli import train

    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    (copy / "metrics.json").unlink()
    path = copy / "checkpoints" / "300" / "meta" / "metadata"
    meta = json.loads(path.read_text())
    if change == "description":
        meta["run"]["config"]["actor_lr"] = 0.002
        expected = "was written by a run with another config (actor_lr: 0.001 there vs 0.002 here)"
    else:
        del meta["identity"]
        meta["format"] = 1
        expected = "was written by an older version of pn_jax (checkpoint format 1)"
    meta["digest"] = checkpoint._meta_digest(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(SystemExit) as exit_info:
        train.cli(["--resume", str(copy), "--progress", "False"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert err.startswith(f"error: resume: checkpoint {copy / 'checkpoints' / '300'} {expected}"), err
    assert err.count("\n") == 1
