"""The chain experiment: DQN with parameter noise vs ε-greedy on DeepSea chains of growing length.

A DeepSea chain of length N pays +1 only after going right N times in a row, so undirected dithering
finds it with probability about 2^-N per episode. ``action_map="fixed"`` trains on DeepSea-<N>,
where "right" is action 1 in every cell (so a policy that prefers action 1 everywhere solves it);
``"random"`` on bsuite's randomised map, a different one per seed: seed k trains and is evaluated on
DeepSeaRandom-<N>-<k>. A fixed map gives one jitted program per N and strategy with the seeds
vmapped; a random map one program per seed. Each seed trains for ``episodes`` episodes (N·episodes
env steps) and *solves* the chain when its final greedy evaluation earns the +1.

Example (a notebook)::

    from pn_jax.experiments import chain
    out = chain.run(chain.Config(sizes=(4, 8), num_seeds=2, episodes=100), log=print)
    print(out.markdown); out.figure
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from pn_jax import DQNConfig, parallel
from pn_jax.experiments.common import Log, figure, run_record, say, seed_keys, seed_list, train_sharded
from pn_jax.experiments.configs import ChainConfig as Config
from pn_jax.results import final_returns, num_diverged, wilson_ci


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


def validate(config: Config) -> None:
    """Checks ``config`` before anything compiles.

    Raises:
      ValueError: naming the first bad field (the DQN settings via :class:`DQNConfig`).
    """
    if config.num_seeds <= 0:
        raise ValueError(f"num_seeds: must be a positive integer, got {config.num_seeds}")
    if config.episodes < 20 or config.episodes % 10:
        raise ValueError(f"episodes: must be a multiple of 10 and at least 20, got {config.episodes}")
    if not config.sizes or any(n < 2 for n in config.sizes):
        raise ValueError(f"sizes: give chain lengths of at least 2, got {config.sizes}")
    if config.stop_when_unsolved and list(config.sizes) != sorted(set(config.sizes)):
        raise ValueError(f"sizes: --stop-when-unsolved needs increasing chain lengths, got {config.sizes}")
    for size in config.sizes:
        for exploration in config.exploration:
            for env in env_names(size, config):
                chain_config(size, exploration, config.episodes, env)


def env_names(size: int, config: Config) -> list[str]:
    """The environment of every seed: one DeepSea-<N> for all, or DeepSeaRandom-<N>-<k> for seed k."""
    if config.action_map == "fixed":
        return [f"DeepSea-{size}"]
    return [f"DeepSeaRandom-{size}-{seed}" for seed in seed_list(config.seed, config.num_seeds)]


def map_words(config: Config) -> str:
    """The action map in words, for titles."""
    return "fixed action map" if config.action_map == "fixed" else "random action map per seed"


def chain_label(size: int | str, config: Config) -> str:
    """``DeepSea-<N>`` or ``DeepSeaRandom-<N>-<seed>``."""
    return f"DeepSea-{size}" if config.action_map == "fixed" else f"DeepSeaRandom-{size}-<seed>"


def train_chain(
    size: int, exploration: str, seeds: list[int], config: Config, devices: str | int = "all", progress: bool = False
) -> dict:
    """Trains every seed on its chain; the ``metrics.json`` record (a random map: one program per seed,
    the record's ``envs`` naming each seed's environment)."""
    names = env_names(size, config)
    groups = (
        [(names[0], seeds)] if len(names) == 1 else [(name, [seed]) for name, seed in zip(names, seeds, strict=True)]
    )
    mesh = parallel.batch_mesh(parallel.select_devices(devices)[: len(groups[0][1])])  # a lone seed: one device
    parts, compile_seconds, run_seconds = [], 0.0, 0.0
    for name, group in groups:
        dqn = chain_config(size, exploration, config.episodes, name)
        metrics, compiling, running = train_sharded(dqn, (seed_keys(group),), mesh, progress, f"{name} {exploration}")
        parts.append(metrics)
        compile_seconds, run_seconds = compile_seconds + compiling, run_seconds + running
    metrics = jax.tree.map(lambda *leaves: np.concatenate([np.asarray(leaf) for leaf in leaves]), *parts)
    dqn = chain_config(size, exploration, config.episodes, names[0])
    record = run_record(dqn, metrics, seeds, mesh, compile_seconds, run_seconds)
    record["envs"] = names if len(names) == len(seeds) else names * len(seeds)
    record["config"]["env"] = chain_label(size, config)  # (a random map: each seed's is in "envs")
    return record


def chain_row(size: int, exploration: str, record: dict, config: Config) -> dict:
    """The summary row of one (N, strategy): seeds solved, diverged, that found the reward, and when."""
    final = final_returns(record)
    first = [s for s in record["goal"]["first_step"] if s is not None]
    return {
        "size": size,
        "exploration": exploration,
        "seeds": config.num_seeds,
        "solved": int(np.sum(final > record["goal"]["solved_return"])),
        "diverged": int(num_diverged(final)),
        "found_reward": len(first),
        "median_first_reward_episode": float(np.median(first) / size) if first else None,
        "run_seconds": record["run_seconds"],
        "action_map": config.action_map,
    }


def train_chains(
    config: Config, *, devices: str | int = "all", progress: bool = False, log: Log = None
) -> Iterator[tuple[dict, dict]]:
    """Trains every (N, strategy) in turn, yielding ``(record, row)`` as each finishes (after logging
    its line); with ``stop_when_unsolved``, stops after the first N that no strategy solves."""
    seeds = seed_list(config.seed, config.num_seeds)
    for size in config.sizes:
        solved = False
        for exploration in config.exploration:
            record = train_chain(size, exploration, seeds, config, devices, progress)
            row = chain_row(size, exploration, record, config)
            solved = solved or row["solved"] > 0
            timing = f"compile {record['compile_seconds']:.1f} s, run {record['run_seconds']:.1f} s"
            say(log, f"{chain_label(size, config)} {exploration}: solved {row['solved']}/{len(seeds)}, "
                     f"diverged {row['diverged']}/{len(seeds)}, "
                     f"found the reward {row['found_reward']}/{len(seeds)} ({timing})")  # fmt: skip
            yield record, row
        if config.stop_when_unsolved and not solved:
            say(log, f"no strategy solved N = {size}: stopping (--stop-when-unsolved)")
            return


def markdown(rows: list[dict], config: Config) -> str:
    """The summary table: one line per (N, strategy)."""
    lines = [
        f"# DeepSea chains ({map_words(config)}): DQN, {config.episodes} episodes per seed, {config.num_seeds} seeds",
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
    if rows and rows[-1]["size"] != config.sizes[-1]:
        lines += ["", f"Stopped after N = {rows[-1]['size']}, which no strategy solved (--stop-when-unsolved)."]
    return "\n".join(lines) + "\n"


def solved_figure(rows: list[dict], config: Config):
    """The fraction of seeds solving against N, one curve per strategy, with 95% Wilson bands."""
    fig, ax = figure(figsize=(6, 4), dpi=120)
    for exploration, color in zip(config.exploration, ("tab:blue", "tab:orange"), strict=False):
        mine = [r for r in rows if r["exploration"] == exploration]
        sizes = np.array([r["size"] for r in mine])
        solved = np.array([r["solved"] for r in mine])
        low, high = wilson_ci(solved, config.num_seeds)
        ax.plot(sizes, solved / config.num_seeds, marker="o", color=color, label=exploration)
        ax.fill_between(sizes, low, high, color=color, alpha=0.12)
    ax.set_xlabel(f"chain length N ({chain_label('N', config)})")
    ax.set_ylabel(f"fraction of {config.num_seeds} seeds solving")
    ax.set_ylim(-0.02, 1.02)
    title = f"DQN on DeepSea chains, {map_words(config)}\n{config.episodes} episodes per seed (95% Wilson bands)"
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


class Result(NamedTuple):
    """What :func:`run` returns."""

    records: dict[tuple[int, str], dict]  # {(N, exploration): metrics.json record}
    rows: list[dict]  # chain_row per (N, exploration), in training order
    markdown: str
    figure: Any  # matplotlib Figure: solved_figure


def run(config: Config, *, devices: str | int = "all", progress: bool = False, log: Log = None) -> Result:
    """Trains every chain length × strategy of ``config`` (see :func:`train_chains`) and summarises.

    Raises:
      ValueError: naming a bad field, before anything compiles.
    """
    validate(config)
    records, rows = {}, []
    for record, row in train_chains(config, devices=devices, progress=progress, log=log):
        records[(row["size"], row["exploration"])] = record
        rows.append(row)
    return Result(records, rows, markdown(rows, config), solved_figure(rows, config))
