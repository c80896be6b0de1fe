"""The chain experiment: DQN with parameter noise vs ε-greedy on DeepSea chains of growing length.

A DeepSea chain of length N pays +1 only after going right N times in a row, so undirected dithering
finds it with probability about 2^-N per episode. --action-map fixed trains on DeepSea-<N>, where
"right" is action 1 in every cell (so a policy that prefers action 1 everywhere solves it);
--action-map random on bsuite's randomised map, a different one per seed: seed k trains and is
evaluated on DeepSeaRandom-<N>-<k>. A fixed map gives one jitted program per N and strategy with
the seeds vmapped; a random map one program per seed. Each seed trains for --episodes episodes
(N·episodes env steps) and *solves* the chain when its final greedy evaluation earns the +1.

Example: python scripts/chain.py --sizes 8 16 24 32 48 --num-seeds 5 --out runs/chain
Writes <N>/<exploration>/metrics.json, summary.md, summary.csv and chain.png into --out.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Annotated, Literal

import jax
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
    write_or_rescue,
)
from pn_jax.noise import DQN_EXPLORATIONS
from pn_jax.results import final_returns, num_diverged, wilson_ci, write_record, write_rows_csv


@dataclasses.dataclass(frozen=True)
class Chain:
    """Chain lengths, strategies, seeds and budget."""

    sizes: tuple[int, ...] = (8, 16, 24, 32, 48)
    """chain lengths N (DeepSea-<N>)."""
    exploration: tuple[str, ...] = DQN_EXPLORATIONS
    """strategies to compare."""
    action_map: Literal["fixed", "random"] = "fixed"
    """fixed: DeepSea-<N>, "right" is action 1 in every cell; random: bsuite's randomised map, seed s
    (trained from jax.random.key(s)) on DeepSeaRandom-<N>-<s>, its own map; one compiled program per seed."""
    stop_when_unsolved: bool = False
    """stop after the first N at which no strategy solves a single seed (sizes must then increase)."""
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


def chain_config(size: int, exploration: str, episodes: int, env: str | None = None) -> DQNConfig:
    """DQN on ``env`` (default DeepSea-<size>): 64×64, lr 5e-4, one update per step, evaluation every
    tenth of the run, ε annealed over its first half."""
    total = size * episodes
    return DQNConfig(
        env=env or f"DeepSea-{size}",
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
    if args.stop_when_unsolved and list(args.sizes) != sorted(set(args.sizes)):
        fail(f"sizes: --stop-when-unsolved needs increasing chain lengths, got {args.sizes}")
    for size in args.sizes:
        for exploration in args.exploration:
            for env in env_names(size, args):
                guarded(lambda s=size, e=exploration, n=env: chain_config(s, e, args.episodes, n))


def env_names(size: int, args: Chain) -> list[str]:
    """The environment of every seed: one DeepSea-<N> for all, or DeepSeaRandom-<N>-<k> for seed k."""
    if args.action_map == "fixed":
        return [f"DeepSea-{size}"]
    return [f"DeepSeaRandom-{size}-{seed}" for seed in range(args.seed, args.seed + args.num_seeds)]


def map_words(args: Chain) -> str:
    """The action map in words, for titles."""
    return "fixed action map" if args.action_map == "fixed" else "random action map per seed"


def chain_label(size: int | str, args: Chain) -> str:
    """``DeepSea-<N>`` or ``DeepSeaRandom-<N>-<seed>``."""
    return f"DeepSea-{size}" if args.action_map == "fixed" else f"DeepSeaRandom-{size}-<seed>"


def train_chain(size: int, exploration: str, seeds: list[int], args: Chain) -> dict:
    """Trains every seed on its chain; the ``metrics.json`` record (a random map: one program per seed,
    the record's ``envs`` naming each seed's environment)."""
    names = env_names(size, args)
    groups = (
        [(names[0], seeds)] if len(names) == 1 else [(name, [seed]) for name, seed in zip(names, seeds, strict=True)]
    )
    devices = parallel.select_devices(args.devices)
    mesh = parallel.batch_mesh(devices[: len(groups[0][1])])  # a lone seed on one device, not padded onto more
    parts, compile_seconds, run_seconds = [], 0.0, 0.0
    for name, group in groups:
        config = chain_config(size, exploration, args.episodes, name)
        metrics, compiling, running = train_sharded(
            config, (seed_keys(group),), mesh, args.progress, f"{name} {exploration}"
        )
        parts.append(metrics)
        compile_seconds, run_seconds = compile_seconds + compiling, run_seconds + running
    metrics = jax.tree.map(lambda *leaves: np.concatenate([np.asarray(leaf) for leaf in leaves]), *parts)
    config = chain_config(size, exploration, args.episodes, names[0])
    record = run_record(config, metrics, seeds, mesh, compile_seconds, run_seconds)
    record["envs"] = names if len(names) == len(seeds) else names * len(seeds)
    record["config"]["env"] = chain_label(size, args)  # (a random map: each seed's is in "envs")
    return record


def main(args: Chain) -> list[dict]:
    use_compilation_cache(args.compilation_cache)
    validate(args)
    guarded(lambda: parallel.select_devices(args.devices))
    claim_output_folder(args.out, args.overwrite, sweep=True)
    seeds = list(range(args.seed, args.seed + args.num_seeds))
    rows = []
    for size in args.sizes:
        for exploration in args.exploration:
            record = train_chain(size, exploration, seeds, args)
            compile_seconds, run_seconds = record["compile_seconds"], record["run_seconds"]
            folder = os.path.join(args.out, str(size), exploration)
            write_or_rescue(functools.partial(write_record, record, folder), record, folder)
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
                "action_map": args.action_map,
            }
            rows.append(row)
            timing = f"compile {compile_seconds:.1f} s, run {run_seconds:.1f} s"
            print(f"{chain_label(size, args)} {exploration}: solved {row['solved']}/{len(seeds)}, "
                  f"diverged {row['diverged']}/{len(seeds)}, "
                  f"found the reward {row['found_reward']}/{len(seeds)} ({timing})")  # fmt: skip
        if args.stop_when_unsolved and not any(r["solved"] for r in rows if r["size"] == size):
            print(f"no strategy solved N = {size}: stopping (--stop-when-unsolved)")
            break
    write_or_rescue(functools.partial(write_outputs, rows, args), rows, args.out)
    return rows


def write_outputs(rows: list[dict], args: Chain) -> None:
    """summary.csv, summary.md and chain.png (fraction of seeds solving against N)."""
    os.makedirs(args.out, exist_ok=True)
    write_rows_csv(rows, os.path.join(args.out, "summary.csv"))
    lines = [
        f"# DeepSea chains ({map_words(args)}): DQN, {args.episodes} episodes per seed, {args.num_seeds} seeds",
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
    if rows and rows[-1]["size"] != args.sizes[-1]:
        lines += ["", f"Stopped after N = {rows[-1]['size']}, which no strategy solved (--stop-when-unsolved)."]
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
    ax.set_xlabel(f"chain length N ({chain_label('N', args)})")
    ax.set_ylabel(f"fraction of {args.num_seeds} seeds solving")
    ax.set_ylim(-0.02, 1.02)
    title = f"DQN on DeepSea chains, {map_words(args)}\n{args.episodes} episodes per seed (95% Wilson bands)"
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "chain.png"))
    plt.close(fig)


def cli(argv: list[str] | None = None) -> None:
    main(parse(Chain, argv, (Chain,), __doc__))
