"""Throughput of the jitted training loop: exploration none (the bare loop) vs gaussian vs param.

Everything runs in one process on one configuration. Each program is compiled once (AOT), then
the programs are timed in interleaved rounds and the best round is kept, so a busy machine
slows all of them alike and the ratios stay meaningful.

Example: python scripts/bench.py --seeds 1 8 --out runs/bench.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import tyro  # noqa: E402
from _cli import device_name, guarded  # noqa: E402

from pn_jax import DDPGConfig, make_train  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Bench:
    env: str = "Pendulum-v1"
    """environment."""
    total_steps: int = 20_000
    """environment steps per seed in each timed run."""
    seeds: tuple[int, ...] = (1, 8)
    """numbers of vmapped seeds to measure."""
    explorations: tuple[str, ...] = ("none", "gaussian", "param")
    """strategies to compare; `none` is the bare loop every other is measured against."""
    num_envs: int = 1
    """parallel environments per seed."""
    rounds: int = 3
    """interleaved timing rounds; the fastest round of each program is reported."""
    out: str = "runs/bench.json"
    """JSON output path."""


def measure(bench: Bench) -> dict:
    results = []
    for num_seeds in bench.seeds:
        keys = jax.random.split(jax.random.key(0), num_seeds)
        programs = {}
        for exploration in bench.explorations:
            config = DDPGConfig(
                env=bench.env, exploration=exploration, total_steps=bench.total_steps, num_envs=bench.num_envs
            )
            start = time.perf_counter()
            compiled = jax.jit(jax.vmap(make_train(config))).lower(keys).compile()
            programs[exploration] = (compiled, time.perf_counter() - start)
        best = {name: float("inf") for name in programs}
        for _ in range(bench.rounds):
            for name, (compiled, _) in programs.items():
                start = time.perf_counter()
                jax.block_until_ready(compiled(keys))
                best[name] = min(best[name], time.perf_counter() - start)
        for name, (_, compile_seconds) in programs.items():
            row = {
                "exploration": name,
                "num_seeds": num_seeds,
                "num_envs": bench.num_envs,
                "env_steps_per_second": num_seeds * bench.total_steps / best[name],
                "compile_seconds": compile_seconds,
            }
            results.append(row)
            print(
                f"{name:>15} seeds={num_seeds:<4} {row['env_steps_per_second']:>9.0f} env-steps/s"
                f"  compile {compile_seconds:5.1f} s",
                flush=True,
            )
    return {
        "device": device_name(),
        "jax_version": jax.__version__,
        "config": dataclasses.asdict(bench),
        "results": results,
    }


def ratios(record: dict) -> list[str]:
    """Human-readable ratios: each strategy vs none at equal seeds, and seed scaling."""
    rows = {(r["exploration"], r["num_seeds"]): r["env_steps_per_second"] for r in record["results"]}
    lines = []
    for (name, seeds), sps in rows.items():
        if name != "none" and ("none", seeds) in rows:
            lines.append(f"{name} / none at {seeds} seed(s): {sps / rows[('none', seeds)]:.3f}")
    seeds = sorted({s for _, s in rows})
    for name in dict.fromkeys(n for n, _ in rows):
        for s in seeds[1:]:
            if (name, seeds[0]) in rows and (name, s) in rows:
                lines.append(
                    f"{name}: {s} seeds / {seeds[0]} seed(s) aggregate: {rows[(name, s)] / rows[(name, seeds[0])]:.2f}x"
                )
    return lines


def main() -> None:
    bench = guarded(lambda: tyro.cli(Bench, description=__doc__))
    for name in bench.explorations:
        guarded(lambda name=name: DDPGConfig(env=bench.env, exploration=name, total_steps=bench.total_steps))
    print(f"device: {device_name()}, jax {jax.__version__}", flush=True)
    record = measure(bench)
    record["ratios"] = ratios(record)
    print("\n".join(record["ratios"]))
    os.makedirs(os.path.dirname(os.path.abspath(bench.out)), exist_ok=True)
    with open(bench.out, "w") as f:
        json.dump(record, f, indent=1)
    print(f"wrote {bench.out}")


if __name__ == "__main__":
    main()
