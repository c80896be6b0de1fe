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
