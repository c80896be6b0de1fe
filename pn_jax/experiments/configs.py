"""The experiments' configurations: frozen dataclasses with a docstring per field, importable
without JAX (each command line's flags inherit one, and build their parser from it). Each
experiment module re-exports its own as ``Config`` (``reproduce.Config``, …; ablate's is ``Grid``)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any, Literal

import tyro

from pn_jax.config import DQN_EXPLORATIONS, EXPLORATIONS, DDPGConfig, HParams

REPRODUCE_TASKS: dict[str, dict[str, int]] = {
    "MountainCarContinuous-v0": {"total_steps": 100_000, "eval_every": 10_000, "coverage_steps": 20_000},
    "SparsePendulum-v1": {"total_steps": 50_000, "eval_every": 5_000, "coverage_steps": 10_000},
}
"""Step budget (equal for every strategy), evaluation interval and coverage window per task."""


@dataclasses.dataclass(frozen=True)
class ReproduceConfig:
    """Tasks, strategies and budget; the shared DDPG settings are :class:`pn_jax.DDPGConfig` defaults."""

    env: tuple[str, ...] = tuple(REPRODUCE_TASKS)
    """tasks to run (any continuous env; the budgets of TASKS apply to those it names)."""
    exploration: tuple[str, ...] = EXPLORATIONS
    """strategies to compare."""
    num_seeds: int = 8
    """seeds per strategy; seed k uses jax.random.key(seed + k) for every strategy, split once into a
    training key and a diagnostics key."""
    seed: int = 0
    """first seed."""
    total_steps: int = 0
    """env steps per seed for every strategy (0: the task's budget from TASKS)."""
    quick: bool = False
    """tiny budget (4 seeds, 10k steps) that checks the pipeline (about 3.5 minutes on 2 CPU cores)."""
    sigma_init: float = 0.2
    """initial parameter-noise σ."""
    target_distance: float = 0.2
    """δ for σ adaptation."""
    resample_every: int = 0
    """0: new perturbation per episode; K: every K steps."""
    layer_norm: bool = True
    """LayerNorm in the actor."""
    action_noise_std: float = 0.2
    """Gaussian / OU action-noise std."""


ONPOLICY_TASKS: dict[str, dict[str, int]] = {
    "MountainCarContinuous-v0": {"total_steps": 300_000, "eval_every": 30_000, "eval_episodes": 5},
    "SparsePendulum-v1": {"total_steps": 150_000, "eval_every": 10_000},
    "Pendulum-v1": {"total_steps": 150_000, "eval_every": 10_000},
    "DeepSea-20": {"total_steps": 200_000, "eval_every": 20_000, "eval_episodes": 1, "num_steps": 20},
    "brax/hopper": {"total_steps": 200_000, "eval_every": 50_000, "eval_episodes": 2},
    "brax/halfcheetah": {"total_steps": 200_000, "eval_every": 50_000, "eval_episodes": 2},
}
"""PPO's step budget (equal for every strategy) and evaluations per task; every other setting is
:class:`pn_jax.PPOConfig`'s default (rejax's Pendulum configuration: 100 envs × 100 steps), except
DeepSea's rollouts of 20 steps, one episode: under parameter noise an env's ε is renewed between
rollouts, so a rollout longer than the episode would act several episodes with one ε."""

ONPOLICY_STRATEGIES: tuple[str, ...] = ("gaussian", "wide", "param")
"""gaussian: PPO's own sampling (learned log-std); wide: the same with a larger log-std held fixed
(``wide_log_std``: "just add more noise"); param: on-policy parameter noise on top of PPO's sampling."""


@dataclasses.dataclass(frozen=True)
class OnPolicyConfig:
    """Tasks, strategies, seeds and budget; every run is PPO with :class:`pn_jax.PPOConfig`'s defaults and
    minibatches of whole envs (``minibatch_by_env``, what parameter noise needs) in every strategy."""

    env: tuple[str, ...] = ("MountainCarContinuous-v0", "SparsePendulum-v1")
    """tasks (budgets: MountainCarContinuous-v0 300k steps, SparsePendulum-v1 and Pendulum-v1 150k, DeepSea-20,
    brax/hopper and brax/halfcheetah 200k; any other env gets 150k)."""
    strategy: tuple[Literal["gaussian", "wide", "param"], ...] = ONPOLICY_STRATEGIES
    """gaussian: PPO's own sampling; wide: that with a larger fixed log-std (wide_log_std; continuous actions
    only); param: per-env parameter noise on the policy's mean network, σ adapted to a KL target."""
    num_seeds: int = 8
    """seeds per (task, strategy); seed k is jax.random.key(seed + k) in every strategy (paired comparisons)."""
    seed: int = 0
    """first seed."""
    total_steps: int = 0
    """env steps per seed (0: the task's budget)."""
    wide_log_std: float = 0.5
    """the wide control's fixed log-std in normalised action units (PPO's starts at 0: std 1)."""
    quick: bool = False
    """tiny budget (20k steps, 2 seeds at most, 2 evaluations) that checks the pipeline, not the result."""


@dataclasses.dataclass(frozen=True)
class ChainConfig:
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


@dataclasses.dataclass(frozen=True)
class LocomotionConfig:
    """Task, seeds and budget; everything else is shared by every run (same seeds, same budget)."""

    task: str = "halfcheetah"
    """halfcheetah (DDPG × param / ou / gaussian / none), hopper or walker2d (DDPG × param / gaussian), or
    your own env as package.module:callable (DDPG × param / gaussian, the main seeds, 300k steps)."""
    preset: str = "plappert2018"
    """the settings every run shares (see pn-train --help), a preset DDPG takes; the flags below override some."""
    num_seeds: int = 8
    """seeds of the main runs (halfcheetah's four); seed k is jax.random.key(seed + k) in every run."""
    small_seeds: int = 4
    """seeds of the other runs (the first small_seeds of the main runs' seeds)."""
    seed: int = 0
    """first seed."""
    total_steps: int = 0
    """env steps per seed (0: the task's budget, 300k)."""
    num_envs: int | None = None
    """environments per seed; each acts with its own perturbed actor under parameter noise (default: the preset's)."""
    updates_per_step: float | None = None
    """learner updates per vector step of num_envs envs (default: the preset's)."""
    learning_starts: int | None = None
    """env steps of uniform random actions before the first update (default: the preset's)."""
    evaluations: int = 10
    """evaluations of the unperturbed actor over training (eval_every = total_steps / evaluations)."""
    eval_episodes: int = 5
    """1000-step episodes per evaluation (10 evaluations × 5 episodes: 50k env steps beside 300k of training)."""
    final_episodes: int = 10
    """episodes of each trained actor for the behaviour diagnostic (upside-down fraction)."""
    brax_backend: str = "positional"
    """brax physics pipeline."""
    runs: tuple[str, ...] = ()
    """train only these runs of the task, e.g. ddpg-none td3-param (default: all); with --overwrite
    they join the runs already in --out, and the report covers every run of the task found there."""
    quick: bool = False
    """tiny budget (DDPG param vs gaussian, 2 seeds, 8k steps) that checks the pipeline (2 minutes on 2 CPU
    cores, mostly compiling)."""


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What to measure, and at which sizes; every measurement but the comparison is opt-in."""

    algo: Literal["ddpg", "td3", "dqn", "ppo"] = "ddpg"
    """learner to time. ddpg, td3, dqn: the exploration comparison at --seeds (each program one learner of
    --seeds vmapped seeds, one env each); ppo: one seed per program, gaussian vs param at each of --ppo-envs
    on --env and at --ppo-brax-envs on --ppo-brax-env. The sweeps below (seed, population, evaluation,
    resumable, reset bound) time DDPG or TD3 only."""
    env: Annotated[str, tyro.conf.arg(metavar="STR", help_behavior_hint="")] = ""
    """environment (default: Pendulum-v1; CartPole-v1 for dqn)."""
    total_steps: int = 20_000
    """environment steps per seed in each run of the exploration comparison (not ppo: see --ppo-steps)."""
    seeds: tuple[int, ...] = (1, 8)
    """numbers of vmapped seeds for the exploration comparison (empty: skip it; ppo runs one seed)."""
    explorations: Annotated[tuple[str, ...], tyro.conf.arg(help_behavior_hint="")] = ()
    """strategies to compare (default: none gaussian param for ddpg and td3, egreedy param for dqn, gaussian
    param for ppo); the ratios measure each against the learner's baseline when it is among them: none (the
    bare loop) for ddpg and td3, egreedy for dqn, gaussian (its own sampling; PPO has no none) for ppo;
    `param/fresh` (not ppo): parameter noise drawing a fresh ε at every resample instead of the noise pool."""
    eval_every: int = 0
    """evaluation interval of the exploration comparison (0: the config's default, about 10 evaluations;
    for brax envs, whose evaluation episodes are 1000 steps long, pass --eval-every TOTAL_STEPS)."""
    rounds: int = 2
    """interleaved timing rounds of the comparison; the fastest round of each program is reported."""
    seed_sweep: tuple[int, ...] = ()
    """numbers of vmapped seeds for the scaling sweep (param noise, one env each), e.g. 1 8 32 128
    (default: none, skipped)."""
    sweep_steps: int = 5_000
    """environment steps per seed in the seed sweep."""
    sweep_rounds: int = 2
    """runs of each sweep program; the fastest is reported (the first also pays first-touch memory)."""
    population_sweep: tuple[int, ...] = ()
    """population sizes N for the population sweep (one seed), e.g. 1 16 256 1024 (default: none, skipped)."""
    env_steps_per_update: int = 256
    """replay ratio of the population sweep: one learner update per this many env steps."""
    population_steps: int = 409_600
    """environment steps per population run (rounded up to whole adaptation blocks)."""
    evaluation: bool = False
    """time one evaluation against training (needs param among --explorations and --eval-every = --total-steps)."""
    evaluation_run_steps: int = 0
    """env steps per seed of the run whose evaluation share is reported, training time scaled linearly
    from the comparison's (0: --total-steps; e.g. 300000 for a locomotion run timed on a short one)."""
    resumable: bool = False
    """time the chunked runner of scripts/train.py (with and without checkpoints) against the fused program."""
    physics_backends: tuple[str, ...] = ()
    """brax envs only: time the environment alone (uniform random actions, no learner) under each of
    these physics pipelines (positional, generalized, spring, mjx); empty: skip."""
    physics_envs: tuple[int, ...] = (1, 64)
    """numbers of vmapped envs for the physics measurement."""
    physics_steps: int = 1000
    """steps per env in each physics measurement."""
    reset_bound: bool = False
    """brax envs only: time the training programs of --seeds (param noise) and --population-sweep again
    with an adapter that never resets, in interleaved rounds: the most any cheaper auto-reset could save."""
    ppo_envs: tuple[int, ...] = (64, 1024)
    """ppo: numbers of parallel envs of the PPO rows on --env (one seed; empty: skip)."""
    ppo_steps: int = 102_400
    """ppo: environment steps of each PPO row on --env; a multiple of N × 100 (one rollout of N envs) for
    every N of --ppo-envs (the default: 1 rollout at 1024 envs, 16 at 64)."""
    ppo_minibatches: int = 8
    """ppo: minibatches per epoch in every PPO row (8 divides 64 and 1024 envs, as parameter noise's minibatches
    of whole envs need; rejax's Pendulum-v1 config has 10 for its 100 envs)."""
    ppo_brax_env: str = "brax/halfcheetah"
    """ppo: the brax task of the brax PPO rows (skipped, with a line saying so, without the brax extra)."""
    ppo_brax_envs: tuple[int, ...] = (64,)
    """ppo: numbers of parallel envs of the brax PPO rows (empty: skip)."""
    ppo_brax_steps: int = 12_800
    """ppo: environment steps of each brax PPO row (the default: 2 rollouts of 64 envs × 100 steps)."""


GRID_FIELDS = ("exploration", *HParams._fields)
"""The fields of a :data:`Grid` that take one or more values (the others: one value for the whole grid)."""
GRID_RUN_FIELDS = {
    "num_seeds": (int, 4, "seeds per grid point; seed k uses jax.random.key(seed + k) at every point."),
    "seed": (int, 0, "first seed."),
}
"""``name: (type, default, help)`` of a grid's seed fields."""


def _grid_class() -> type:
    """A frozen dataclass with every :class:`DDPGConfig` field (those of :data:`GRID_FIELDS` as
    tuples of values) and :data:`GRID_RUN_FIELDS`; defaults as on the command line (derived fields None)."""
    hints, defaults = typing.get_type_hints(DDPGConfig, include_extras=True), DDPGConfig().cli_defaults()
    fields: list[Any] = []
    for f in dataclasses.fields(DDPGConfig):
        value = getattr(defaults, f.name)
        if f.name in GRID_FIELDS:
            fields.append((f.name, tuple[type(value), ...], dataclasses.field(default=(value,))))
        else:
            fields.append((f.name, hints[f.name], dataclasses.field(default=value)))
    for name, (kind, value, _) in GRID_RUN_FIELDS.items():
        fields.append((name, kind, dataclasses.field(default=value)))
    grid = dataclasses.make_dataclass("Grid", fields, frozen=True)
    grid.__module__ = __name__
    grid.__doc__ = "A hyper-parameter grid × seeds over one set of the other :class:`pn_jax.DDPGConfig` fields."
    return grid


Grid = _grid_class()
