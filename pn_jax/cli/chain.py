"""The chain experiment: DQN with parameter noise vs ε-greedy on DeepSea chains of growing length.

DeepSea-<N> (bsuite, fixed action map) pays +1 only after going right N times in a row, so undirected
dithering finds it with probability about 2^-N per episode. For each N and strategy one jitted program
trains --num-seeds seeds for --episodes episodes (N·episodes env steps); a seed *solves* the chain
when its final greedy evaluation earns the +1.

Example: python scripts/chain.py --sizes 8 16 24 32 48 --num-seeds 5 --out runs/chain
Writes <N>/<exploration>/metrics.json, summary.md, summary.csv and chain.png into --out.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Annotated

import numpy as np
import tyro

from pn_jax import DQNConfig, parallel
from pn_jax.cli.common import (
    CACHE_HELP,
    claim_output_folder,
    default_cache_dir,
    fail,
    guarded,
    parse,
    run_record,
    seed_keys,
    train_sharded,
    use_compilation_cache,
)
from pn_jax.noise import DQN_EXPLORATIONS
from pn_jax.results import final_returns, num_diverged, wilson_ci, write_rows_csv


@dataclasses.dataclass(frozen=True)
class Chain:
    """Chain lengths, strategies, seeds and budget."""

    sizes: tuple[int, ...] = (8, 16, 24, 32, 48)
    """chain lengths N (DeepSea-<N>)."""
    exploration: tuple[str, ...] = DQN_EXPLORATIONS
    """strategies to compare."""
    num_seeds: int = 5
    """seeds per (N, strategy); seed k uses jax.random.key(seed + k)."""
    seed: int = 0
    """first seed."""
    episodes: int = 1000
    """training episodes per seed (env steps = N · episodes)."""
    out: str = "runs/chain"
    """output folder (one that already holds results is refused)."""
    devices: str = "all"
    """devices to spread the seeds over: 'all' or a count."""
    progress: bool = True
    """show a progress bar per run."""
    overwrite: bool = False
    """write into an --out that already holds results, replacing files of the same name."""
    compilation_cache: Annotated[str, tyro.conf.arg(help=CACHE_HELP)] = default_cache_dir()


def chain_config(size: int, exploration: str, episodes: int) -> DQNConfig:
    """DQN on DeepSea-<size>: 64×64, lr 5e-4, one update per step, evaluation every tenth of the run,
    ε annealed over its first half."""
    total = size * episodes
    return DQNConfig(
        env=f"DeepSea-{size}",
        exploration=exploration,
        total_steps=total,
        eval_every=total // 10,
        learning_starts=max(64, 10 * size),
        batch_size=64,
        buffer_size=min(100_000, total),
        epsilon_decay_steps=total // 2,
        eval_episodes=1,  # the chain is deterministic
        adapt_every=size,
        hidden_sizes=(64, 64),
        lr=5e-4,
        anneal_lr=False,
        updates_per_step=1.0,
    )


def validate(args: Chain) -> None:
    if args.num_seeds <= 0:
        fail(f"num_seeds: must be a positive integer, got {args.num_seeds}")
    if args.episodes < 20 or args.episodes % 10:
        fail(f"episodes: must be a multiple of 10 and at least 20, got {args.episodes}")
    if not args.sizes or any(n < 2 for n in args.sizes):
        fail(f"sizes: give chain lengths of at least 2, got {args.sizes}")
    for size in args.sizes:
        for exploration in args.exploration:
            guarded(lambda s=size, e=exploration: chain_config(s, e, args.episodes))


def main(args: Chain) -> list[dict]:
    use_compilation_cache(args.compilation_cache)
    validate(args)
    mesh = parallel.batch_mesh(guarded(lambda: parallel.select_devices(args.devices, args.num_seeds)))
    claim_output_folder(args.out, args.overwrite, sweep=True)
    seeds = list(range(args.seed, args.seed + args.num_seeds))
    rows = []
    for size in args.sizes:
        for exploration in args.exploration:
            config = chain_config(size, exploration, args.episodes)
            metrics, compile_seconds, run_seconds = train_sharded(
                config, (seed_keys(seeds),), mesh, args.progress, f"DeepSea-{size} {exploration}"
            )
            record = run_record(config, metrics, seeds, mesh, compile_seconds, run_seconds)
            folder = os.path.join(args.out, str(size), exploration)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "metrics.json"), "w") as f:
                json.dump(record, f, indent=1, allow_nan=False)
            final = final_returns(record)
            first = [s for s in record["goal"]["first_step"] if s is not None]
            row = {
                "size": size,
                "exploration": exploration,
                "seeds": len(seeds),
                "solved": int(np.sum(final > record["goal"]["solved_return"])),
                "diverged": int(num_diverged(final)),
                "found_reward": len(first),
                "median_first_reward_episode": float(np.median(first) / size) if first else None,
                "run_seconds": run_seconds,
            }
            rows.append(row)
            timing = f"compile {compile_seconds:.1f} s, run {run_seconds:.1f} s"
            print(f"DeepSea-{size} {exploration}: solved {row['solved']}/{len(seeds)}, "
                  f"diverged {row['diverged']}/{len(seeds)}, "
                  f"found the reward {row['found_reward']}/{len(seeds)} ({timing})")  # fmt: skip
    write_outputs(rows, args)
    return rows


def write_outputs(rows: list[dict], args: Chain) -> None:
    """summary.csv, summary.md and chain.png (fraction of seeds solving against N)."""
    os.makedirs(args.out, exist_ok=True)
    write_rows_csv(rows, os.path.join(args.out, "summary.csv"))
    lines = [
        f"# DeepSea chains: DQN, {args.episodes} episodes per seed, {args.num_seeds} seeds",
        "",
        "| N | exploration | solved (final greedy eval earns +1) | diverged (final eval NaN or ±inf) "
        "| found the reward while training | median first-reward episode |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        first = "—" if r["median_first_reward_episode"] is None else f"{r['median_first_reward_episode']:.0f}"
        lines.append(
            f"| {r['size']} | {r['exploration']} | {r['solved']}/{r['seeds']} | {r['diverged']}/{r['seeds']} "
            f"| {r['found_reward']}/{r['seeds']} | {first} |"
        )
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for exploration, color in zip(args.exploration, ("tab:blue", "tab:orange"), strict=False):
        mine = [r for r in rows if r["exploration"] == exploration]
        sizes = np.array([r["size"] for r in mine])
        solved = np.array([r["solved"] for r in mine])
        low, high = wilson_ci(solved, args.num_seeds)
        ax.plot(sizes, solved / args.num_seeds, marker="o", color=color, label=exploration)
        ax.fill_between(sizes, low, high, color=color, alpha=0.12)
    ax.set_xlabel("chain length N (DeepSea-N)")
    ax.set_ylabel(f"fraction of {args.num_seeds} seeds solving")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"DQN on DeepSea chains, {args.episodes} episodes (95% Wilson bands)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "chain.png"))
    plt.close(fig)


def cli(argv: list[str] | None = None) -> None:
    main(parse(Chain, argv, (Chain,), __doc__))
