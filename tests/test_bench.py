"""pn_jax.experiments.bench (scripts/bench.py): population configs at a fixed replay ratio, ratio lines, Markdown."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("num_envs,updates_per_step", [(1, 1 / 256), (16, 1 / 16), (256, 1.0), (1024, 4.0)])
def test_population_configs_keep_one_update_per_256_env_steps(num_envs, updates_per_step):
    from pn_jax.experiments import bench

    config = bench.population_config(bench.Config(), num_envs)
    assert config.num_envs == num_envs and config.updates_per_step == pytest.approx(updates_per_step)
    assert config.total_steps >= bench.Config().population_steps and config.total_steps % config.steps_per_block == 0
    learning_steps = config.total_steps - config.learning_starts
    assert config.num_updates == pytest.approx(learning_steps / 256, rel=0.02)


def _row(sweep, exploration, seeds, envs, sps, ups=1.0, devices=1):
    return {
        "sweep": sweep,
        "devices": devices,
        "exploration": exploration,
        "num_seeds": seeds,
        "num_envs": envs,
        "updates_per_step": ups,
        "env_steps_per_second": sps,
        "updates_per_second": sps * ups,
        "compile_seconds": 7.0,
        "xla_memory_mb": 12.0,
    }


def test_ratio_lines_and_markdown_table():
    from pn_jax.experiments import bench

    rows = [
        _row("compare", "none", 8, 1, 6000.0),
        _row("compare", "param", 8, 1, 5700.0),
        _row("seeds", "param", 1, 1, 2800.0),
        _row("seeds", "param", 8, 1, 5600.0),
        _row("seeds", "param", 8, 1, 11200.0, devices=2),
        _row("population", "param", 1, 1, 2800.0, 1 / 256),
        _row("population", "param", 1, 16, 28000.0, 1 / 16),
        {**_row("population", "param", 1, 64, 3600.0, 1 / 8), "backend": "positional"},
        {**_row("evaluation", "param", 8, 5, 9000.0, ups=0.0), "evaluation_share": 0.12},
        _row("resumable", "param (fused)", 8, 1, 10000.0),
        _row("resumable", "param (chunked)", 8, 1, 9900.0),
        _row("physics", "positional (brax step)", 1, 64, 4000.0, ups=0.0),
        _row("physics", "positional (adapter)", 1, 64, 3000.0, ups=0.0),
        {**_row("reset", "param (every-step reset)", 8, 1, 1000.0), "run_seconds": 9.0},
        {**_row("reset", "param (never reset)", 8, 1, 1000.0), "run_seconds": 10.0},
    ]
    lines = bench.ratios(rows)
    assert lines == [
        "param / none at 8 seed(s): 0.950",
        "8 seeds on 1 device(s) / 1 seed on 1 device, aggregate env-steps/s: 2.00x",
        "8 seeds on 2 device(s) / 1 seed on 1 device, aggregate env-steps/s: 4.00x",
        "10 evaluations of 5 episodes at 8 seed(s): 12% of the run time",
        "param (chunked) / param (fused), env-steps/s: 0.990",
        "physics positional, 64 env(s): adapter / brax step 0.750",
        "population N=16 (updates_per_step 0.0625) / N=1 (updates_per_step 0.00390625): 10.0x env-steps/s",
        "population N=64 (updates_per_step 0.125) / N=1 (updates_per_step 0.00390625): 1.3x env-steps/s",
        "reset bound, 8 seed(s) × 1 env(s): time with the every-step reset / never resetting 0.900",
        "population N=64 (updates_per_step 0.125, training only) / positional physics alone at 64 envs: 0.90x",
    ]
    table = bench.markdown({"device": "cpu: test", "jax_version": "0", "results": rows, "ratios": lines})
    assert "| population | param | 1 | 1 | 16 | 0.0625 | 28,000 | 1,750 | 7.0 | 12 |" in table
    assert table.startswith("Device: cpu: test; jax 0.")


def test_algo_flag_parses_and_picks_each_learners_defaults():
    from pn_jax.cli import bench as cli
    from pn_jax.cli.common import parse
    from pn_jax.experiments import bench

    parsed = parse(cli.Bench, ["--algo", "ppo", "--ppo-envs", "64", "--rejax", "r.json"], (cli.Bench,), cli.__doc__)
    assert (parsed.algo, parsed.ppo_envs, parsed.rejax) == ("ppo", (64,), "r.json")
    assert parse(cli.Bench, [], (cli.Bench,), cli.__doc__).algo == "ddpg"
    expected = {
        "ddpg": ("Pendulum-v1", ("none", "gaussian", "param")),
        "td3": ("Pendulum-v1", ("none", "gaussian", "param")),
        "dqn": ("CartPole-v1", ("egreedy", "param")),
        "ppo": ("Pendulum-v1", ("gaussian", "param")),
    }
    for algo, (env, explorations) in expected.items():
        config = bench.Config(algo=algo)
        assert (bench.env_of(config), bench.explorations_of(config)) == (env, explorations)
    assert type(bench.compare_config(bench.Config(algo="td3"), "param")).__name__ == "TD3Config"
    ppo = bench.ppo_config(bench.Config(algo="ppo"), "param", "Pendulum-v1", 1024, 102_400)
    assert (ppo.num_envs, ppo.num_steps, ppo.update_epochs, ppo.num_minibatches) == (1024, 100, 10, 8)
    assert ppo.eval_every == ppo.total_steps == 102_400


def test_algo_flag_refuses_unknown_names(capsys):
    from pn_jax.cli import bench as cli

    with pytest.raises(SystemExit) as exit_info:
        cli.cli(["--algo", "sac"])
    assert exit_info.value.code == 2
    assert "'sac'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"algo": "dqn", "explorations": ("none",)}, "exploration: unknown DQN strategy 'none'"),
        ({"algo": "ppo", "explorations": ("none",)}, "exploration: PPO has no 'none'"),
        ({"algo": "ppo", "explorations": ("param/fresh",)}, "PPO has no noise pool"),
        ({"algo": "ppo", "ppo_steps": 50_000}, "ppo_steps: (50000) must be a positive multiple"),
        ({"algo": "ppo", "ppo_envs": (100,), "ppo_steps": 100_000}, "PPO row param at 100 envs"),
        ({"algo": "ppo", "ppo_brax_env": "Pendulum-v1"}, "ppo_brax_env: must name a brax env"),
        ({"algo": "ppo", "seed_sweep": (1, 8)}, "seed_sweep: --seed-sweep times DDPG or TD3 only, not ppo"),
        ({"algo": "dqn", "resumable": True}, "resumable: --resumable times DDPG or TD3 only, not dqn"),
        ({"ppo_envs": (8,)}, "ppo_envs: the PPO rows run with --algo ppo only, not ddpg"),
        ({"algo": "sac"}, "algo: unknown learner 'sac'"),
    ],
)
def test_bad_combinations_are_refused_before_compiling(fields, message):
    from pn_jax.experiments import bench

    with pytest.raises(ValueError) as error:
        bench.validate(bench.Config(**fields))
    assert message in str(error.value)


def test_a_rejax_file_is_checked(tmp_path):
    from pn_jax.cli import bench as cli

    with pytest.raises(ValueError, match="use --algo ppo"):
        cli.load_rejax(str(tmp_path / "r.json"), "ddpg")
    with pytest.raises(ValueError, match="cannot read"):
        cli.load_rejax(str(tmp_path / "r.json"), "ppo")
    (tmp_path / "r.json").write_text('{"results": [{"sweep": "rejax"}]}')
    with pytest.raises(ValueError, match="not a record of scripts/bench_rejax.py"):
        cli.load_rejax(str(tmp_path / "r.json"), "ppo")


def test_ppo_and_rejax_ratio_lines_and_table():
    from pn_jax.experiments import bench

    def ppo(exploration, envs, sps, env="Pendulum-v1", sweep="compare"):
        return {**_row(sweep, exploration, 1, envs, sps, ups=0.0125), "algo": "ppo", "env": env}

    rows = [
        ppo("gaussian", 64, 20_000.0),
        ppo("param", 64, 19_000.0),
        ppo("gaussian", 1024, 10_000.0),
        ppo("param", 1024, 9_700.0),
        ppo("gaussian", 64, 2_000.0, env="brax/halfcheetah"),
        ppo("param", 64, 1_900.0, env="brax/halfcheetah"),
        {**_row("compare", "egreedy", 8, 1, 1000.0), "algo": "dqn", "env": "CartPole-v1"},
        {**_row("compare", "param", 8, 1, 900.0), "algo": "dqn", "env": "CartPole-v1"},
    ]
    record = {"device": "cpu: test", "jax_version": "0", "results": rows, "ratios": bench.ratios(rows)}
    rejax = [{**ppo("rejax", 64, 16_000.0, sweep="rejax"), "xla_memory_mb": None}]
    record = bench.with_rows(
        record, rejax, rejax={"rejax_version": "0.1.3", "jax_version": "0", "device": "cpu", "date": "today"}
    )
    assert record["ratios"] == [
        "ppo param / gaussian at 64 env(s) on Pendulum-v1: 0.950",
        "ppo param / gaussian at 1024 env(s) on Pendulum-v1: 0.970",
        "ppo param / gaussian at 64 env(s) on brax/halfcheetah: 0.950",
        "dqn param / egreedy at 8 seed(s): 0.900",
        "ppo gaussian / rejax ppo at 64 env(s) on Pendulum-v1: 1.250",
        "ppo param / rejax ppo at 64 env(s) on Pendulum-v1: 1.188",
    ]
    table = bench.markdown(record)
    assert "| compare (ppo, Pendulum-v1) | param | 1 | 1 | 64 | 0.0125 | 19,000 |" in table
    assert "| rejax (ppo, Pendulum-v1) | rejax | 1 | 1 | 64 | 0.0125 | 16,000 | 200 | 7.0 | – |" in table
    assert "rejax rows: rejax 0.1.3" in table


ROW_KEYS = {"sweep", "algo", "env", "exploration", "num_seeds", "num_envs", "env_steps_per_second", "compile_seconds"}


@pytest.mark.parametrize(
    "fields",
    [
        {"algo": "ddpg", "explorations": ("none",)},
        {"algo": "td3", "explorations": ("none",)},
        {"algo": "dqn", "explorations": ("egreedy",)},
        {
            "algo": "ppo",
            "explorations": ("gaussian",),
            "ppo_envs": (4,),
            "ppo_steps": 800,
            "ppo_minibatches": 2,
            "ppo_brax_envs": (),  # (keeps brax's minutes-long compile out of the suite)
        },
    ],
    ids=lambda fields: fields["algo"],
)
def test_one_tiny_run_per_learner(fields):
    """Each --algo path compiles and times its programs: rows of that learner with positive throughput."""
    from pn_jax.experiments import bench

    config = bench.Config(total_steps=1000, eval_every=1000, seeds=(1,), rounds=1, **fields)
    lines = []
    record = bench.run(config, devices=1, log=lines.append)
    (row,) = record["results"]
    assert ROW_KEYS <= set(row) and row["sweep"] == "compare" and row["algo"] == fields["algo"]
    assert row["exploration"] == fields["explorations"][0] and row["num_seeds"] == 1
    assert row["env"] == ("CartPole-v1" if fields["algo"] == "dqn" else "Pendulum-v1")
    assert row["num_envs"] == fields.get("ppo_envs", (1,))[0]
    assert row["env_steps_per_second"] > 0 and row["updates_per_second"] > 0 and row["compile_seconds"] > 0
    assert len(lines) == 2 and "env-steps/s" in lines[-1]


def test_ppo_brax_rows_follow_the_brax_extra():
    from pn_jax import envs
    from pn_jax.experiments import bench

    lines = []
    cases = bench._ppo_cases(bench.Config(algo="ppo"), lines.append)
    assert cases[:2] == [("Pendulum-v1", 64, 102_400), ("Pendulum-v1", 1024, 102_400)]
    if envs.brax_envs.problem("brax/halfcheetah", "positional") is None:
        assert cases[2:] == [("brax/halfcheetah", 64, 12_800)] and not lines
        with pytest.raises(ValueError, match="ppo_brax_env: unknown brax environment 'brax/nope'"):
            bench.validate(bench.Config(algo="ppo", ppo_brax_env="brax/nope"))
    else:
        assert len(cases) == 2 and "skipped" in lines[0]
