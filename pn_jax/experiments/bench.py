"""Throughput of the jitted training loop, as ratios within one process and as scaling sweeps.

Each program is compiled once ahead of time and then timed: :func:`compare` (strategies against
the bare loop, interleaved rounds), :func:`seed_sweep`, :func:`population_sweep` (a fixed replay
ratio), :func:`evaluation` (its share of a run), :func:`physics` (a brax env alone),
:func:`reset_bound` (brax's every-step auto-reset) and :func:`resumable` (the chunked runner against
the fused program). ``--algo`` picks the learner of the comparison (DDPG by default; TD3, DQN, and
PPO, whose rows, :func:`ppo_compare`, are one seed at several env counts, with a brax task beside
gymnax's). ``pn-bench --help`` says what each measures. Memory is XLA's static estimate for the
compiled program; on a GPU the device's peak bytes in use are recorded too.

Example (a notebook)::

    from pn_jax.experiments import bench
    record = bench.run(bench.Config(total_steps=2000, seeds=(1,), rounds=1), log=print)
    print(bench.markdown(record))
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time

import jax
import jax.numpy as jnp

from pn_jax import DDPGConfig, envs, normalization, parallel, runner
from pn_jax.config import CONFIGS, EVALUATIONS, PPOConfig
from pn_jax.experiments.common import Log, compile_sharded, device_name, mesh_of, say
from pn_jax.experiments.configs import BenchConfig as Config
from pn_jax.networks import Actor
from pn_jax.train import network_input, run_episodes

BASELINES: dict[str, str] = {"ddpg": "none", "td3": "none", "dqn": "egreedy", "ppo": "gaussian"}
"""The strategy each learner's others are measured against (PPO has no none: its own sampling)."""

DEFAULT_EXPLORATIONS: dict[str, tuple[str, ...]] = {
    "ddpg": ("none", "gaussian", "param"),
    "td3": ("none", "gaussian", "param"),
    "dqn": ("egreedy", "param"),
    "ppo": ("gaussian", "param"),
}
"""The strategies compared when ``--explorations`` is not given, by ``--algo``."""

SWEEP_ALGOS = ("ddpg", "td3")
"""The learners the sweeps beyond the comparison (seeds, population, evaluation, resumable, reset bound) time."""

PPO_NUM_STEPS = PPOConfig.num_steps
"""Steps of each env per PPO rollout in the PPO rows (PPOConfig's default, rejax's for Pendulum-v1)."""


def env_of(bench: Config) -> str:
    """``--env``, or the learner's default task: Pendulum-v1 (CartPole-v1 for DQN)."""
    return bench.env or ("CartPole-v1" if bench.algo == "dqn" else "Pendulum-v1")


def explorations_of(bench: Config) -> tuple[str, ...]:
    """``--explorations``, or the learner's default strategies (:data:`DEFAULT_EXPLORATIONS`)."""
    return tuple(bench.explorations) or DEFAULT_EXPLORATIONS[bench.algo]


def _learner(bench: Config) -> type:
    """The config class of ``--algo`` (DDPGConfig, TD3Config, DQNConfig or PPOConfig)."""
    return CONFIGS[bench.algo]


def _compile(config, num_seeds: int, mesh) -> tuple:
    return compile_sharded(config, (jax.random.split(jax.random.key(0), num_seeds),), mesh)


def _compile_one(config) -> tuple:
    """``(compiled, (key,), compile_seconds)``: ``jit(train)`` of one seed, not vmapped, on the default
    device (how rejax's ``jit(algo.train)(key)`` runs, for the PPO rows set beside it)."""
    from pn_jax import make_train

    key = jax.random.key(0)
    start = time.perf_counter()
    compiled = jax.jit(make_train(config)).lower(key).compile()
    return compiled, (key,), time.perf_counter() - start


def _memory_mb(compiled) -> float | None:
    stats = compiled.memory_analysis()
    if stats is None:
        return None
    total = stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
    return total / 2**20


def _device_peak_mb() -> float | None:
    stats = jax.devices()[0].memory_stats()
    return stats["peak_bytes_in_use"] / 2**20 if stats and "peak_bytes_in_use" in stats else None


def _updates_per_step(config) -> float:
    """Learner updates per env step: the config's ``updates_per_step`` (PPO: gradient steps per env step)."""
    if isinstance(config, PPOConfig):
        return config.num_updates / config.total_steps
    return config.updates_per_step


def _row(
    config,
    num_seeds: int,
    seconds: float,
    compile_seconds: float,
    compiled,
    mesh,
    label=None,
    log: Log = None,
    **extra,
) -> dict:
    """One measurement's row (and its logged line): throughput, compile time, memory."""
    row = {
        "algo": config.algo,
        "env": config.env,
        "exploration": label or config.exploration,
        "devices": mesh.size,
        "num_seeds": num_seeds,
        "num_envs": config.num_envs,
        "updates_per_step": _updates_per_step(config),
        "total_steps": config.total_steps,
        "eval_every": config.eval_every,
        "env_steps_per_second": num_seeds * config.total_steps / seconds,
        "updates_per_second": num_seeds * config.num_updates / seconds,
        "compile_seconds": compile_seconds,
        "run_seconds": seconds,
        "xla_memory_mb": _memory_mb(compiled),
        "device_peak_mb": _device_peak_mb(),
        **extra,
    }
    learner = "" if config.algo == "ddpg" else f"{config.algo} {config.env}: "
    say(
        log,
        f"{learner}{row['exploration']:>15} devices={mesh.size} seeds={num_seeds:<4} N={config.num_envs:<5} "
        f"{row['env_steps_per_second']:>10.0f} env-steps/s {row['updates_per_second']:>8.0f} updates/s"
        f"  compile {compile_seconds:5.1f} s",
    )
    return row


def _time(compiled, keys, rounds: int = 1) -> float:
    """The fastest of ``rounds`` runs, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*keys))
        best = min(best, time.perf_counter() - start)
    return best


def _interleaved(programs: dict, rounds: int) -> dict:
    """``name -> fastest seconds`` of ``programs`` (``name -> (config, compiled, args, …)``), timed in
    ``rounds`` interleaved rounds in a rotating order, so no program always runs first."""
    best = {name: float("inf") for name in programs}
    names = list(programs)
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            _, compiled, args, _ = programs[name]
            best[name] = min(best[name], _time(compiled, args))
    return best


def compare(bench: Config, mesh, log: Log = None) -> list[dict]:
    """Exploration strategies against the baseline (the bare loop for DDPG and TD3, ε-greedy for DQN),
    interleaved rounds, best round kept."""
    rows = []
    for num_seeds in bench.seeds:
        programs = {}
        for name in explorations_of(bench):
            config = compare_config(bench, name)
            programs[name] = (config, *_compile(config, num_seeds, mesh))
        best = _interleaved(programs, bench.rounds)
        for name, (config, compiled, _, compile_seconds) in programs.items():
            rows.append(
                _row(config, num_seeds, best[name], compile_seconds, compiled, mesh, name, log, sweep="compare")
            )
    return rows


def compare_config(bench: Config, name: str):
    """The comparison's config (of ``--algo``: DDPG, TD3 or DQN) for a strategy name; ``param/fresh``
    (or ``param+gaussian/fresh``) is parameter noise without the noise pool: a fresh draw at every resample."""
    exploration, _, variant = name.partition("/")
    if variant not in ("", "fresh"):
        raise ValueError(f"explorations: unknown variant {variant!r} in {name!r}; only '/fresh' exists")
    if bench.algo == "ppo":
        raise ValueError("algo: PPO's rows are built by ppo_config (one seed, --ppo-envs), not compare_config")
    return _learner(bench)(
        env=env_of(bench),
        exploration=exploration,
        total_steps=bench.total_steps,
        noise_pool=variant != "fresh",
        eval_every=bench.eval_every or None,
    )


def ppo_config(bench: Config, name: str, env: str, num_envs: int, total_steps: int) -> PPOConfig:
    """A PPO row's config: PPOConfig's defaults (rejax's Pendulum-v1 settings: rollouts of 100 steps,
    10 epochs, 64×64 networks) with ``--ppo-minibatches`` minibatches, at ``num_envs`` envs for
    ``total_steps`` env steps, evaluated once, at the end (10 episodes; scripts/bench_rejax.py sets
    rejax's side up the same way)."""
    if "/" in name:
        raise ValueError(f"explorations: {name!r}: PPO has no noise pool, so no '/fresh' variant")
    rollout = num_envs * PPO_NUM_STEPS if isinstance(num_envs, int) and num_envs > 0 else 0
    if rollout and (total_steps <= 0 or total_steps % rollout):
        field = "ppo_brax_steps" if envs.brax_envs.is_brax(env) else "ppo_steps"
        raise ValueError(
            f"{field}: ({total_steps}) must be a positive multiple of N × {PPO_NUM_STEPS} (one rollout) for "
            f"every N it runs at; at N = {num_envs} that is {rollout}"
        )
    try:
        return PPOConfig(
            env=env,
            exploration=name,
            num_envs=num_envs,
            total_steps=total_steps,
            num_minibatches=bench.ppo_minibatches,
            eval_every=total_steps,
        )
    except ValueError as error:  # (it names PPOConfig's field; say which row and flags set it)
        raise ValueError(
            f"PPO row {name} at {num_envs} envs on {env} (--ppo-envs / --ppo-steps / --ppo-minibatches): {error}"
        ) from None


def _ppo_cases(bench: Config, log: Log = None) -> list[tuple[str, int, int]]:
    """``(env, num_envs, total_steps)`` of each PPO case: --ppo-envs on --env, then --ppo-brax-envs on
    --ppo-brax-env when brax is installed (otherwise a line says they are skipped).

    Raises:
      ValueError: brax is installed and has no such environment.
    """
    cases = [(env_of(bench), n, bench.ppo_steps) for n in bench.ppo_envs]
    if bench.ppo_brax_envs:
        try:
            envs.brax_envs.registered()
        except ValueError as error:  # (the brax extra is not installed)
            say(log, f"ppo: {bench.ppo_brax_env} rows skipped ({error})")
            return cases
        problem = envs.brax_envs.problem(bench.ppo_brax_env, envs.brax_envs.BRAX_DEFAULT_BACKEND)
        if problem is not None:
            raise ValueError(f"ppo_brax_env: {problem}")
        cases += [(bench.ppo_brax_env, n, bench.ppo_brax_steps) for n in bench.ppo_brax_envs]
    return cases


def ppo_compare(bench: Config, log: Log = None) -> list[dict]:
    """PPO's strategies (its own sampling, gaussian, against param by default) for one seed at each
    env count of --ppo-envs on --env and of --ppo-brax-envs on the brax task: each program
    ``jit(train)`` of one seed (as rejax's PPO is timed), compiled once, then timed in interleaved
    rounds (best kept)."""
    rows = []
    one = parallel.batch_mesh(jax.devices()[:1])
    for env, num_envs, total_steps in _ppo_cases(bench, log):
        programs = {}
        for name in explorations_of(bench):
            config = ppo_config(bench, name, env, num_envs, total_steps)
            programs[name] = (config, *_compile_one(config))
        best = _interleaved(programs, bench.rounds)
        for name, (config, compiled, _, compile_seconds) in programs.items():
            rows.append(_row(config, 1, best[name], compile_seconds, compiled, one, name, log, sweep="compare"))
    return rows


def seed_sweep(bench: Config, mesh, log: Log = None) -> list[dict]:
    """Aggregate throughput of the standard loop (param noise, 1 env) for growing seed counts,
    on one device and (when the mesh has more) sharded over all of them."""
    config = _learner(bench)(env=env_of(bench), total_steps=bench.sweep_steps, eval_every=bench.sweep_steps)
    meshes = [parallel.batch_mesh(mesh.devices.flat[:1])] + ([mesh] if mesh.size > 1 else [])
    rows = []
    for sweep_mesh in meshes:
        for num_seeds in bench.seed_sweep:
            compiled, keys, compile_seconds = _compile(config, num_seeds, sweep_mesh)
            seconds = _time(compiled, keys, bench.sweep_rounds)
            rows.append(_row(config, num_seeds, seconds, compile_seconds, compiled, sweep_mesh, log=log, sweep="seeds"))
    return rows


def _evaluation_program(config: DDPGConfig, num_seeds: int, mesh, rounds: int) -> tuple:
    """``(seconds, compile_seconds, compiled)`` of one evaluation as training runs it: ``eval_episodes``
    deterministic episodes of a fresh actor per seed, observations normalised as at the start."""
    env = envs.make(config.env, brax_backend=config.brax_backend)
    actor = Actor(env.action_dim, config.hidden_sizes, config.layer_norm)

    def episodes(key):
        params = actor.init(key, jnp.zeros((1, env.obs_dim)))
        stats = normalization.init((env.obs_dim,))  # normalised as in training (identity, clipped, before any data)
        policy = lambda obs: actor.apply(params, network_input(config, stats, obs))  # noqa: E731
        return None, run_episodes(key, env, policy, config.eval_episodes).returns

    program = parallel.sharded_vmap(episodes, mesh)
    padded = parallel.prepare((jax.random.split(jax.random.key(0), num_seeds),), mesh)
    start = time.perf_counter()
    compiled = program.jitted.lower(*padded).compile()
    compile_seconds = time.perf_counter() - start
    return _time(compiled, padded, rounds), compile_seconds, compiled


def evaluation(bench: Config, mesh, rows: list[dict], log: Log = None) -> list[dict]:
    """One evaluation's time against training, at the largest of ``--seeds``.

    The comparison's param run (one evaluation, at its end) gives the training time once that
    evaluation is taken off; the share is what ``EVALUATIONS`` evaluations would add to a run of
    ``--total-steps`` with the config's ``eval_episodes``.
    """
    param = next((r for r in rows if r["exploration"] == "param" and r["num_seeds"] == max(bench.seeds)), None)
    if not bench.evaluation or not bench.seeds:
        return []
    if param is None or param["eval_every"] != param["total_steps"]:
        say(log, "evaluation: skipped (it needs param in --explorations and --eval-every equal to --total-steps)")
        return []
    config, num_seeds = compare_config(bench, "param"), param["num_seeds"]
    seconds, compile_seconds, compiled = _evaluation_program(config, num_seeds, mesh, bench.sweep_rounds)
    env = envs.make(config.env, brax_backend=config.brax_backend)
    run_steps = bench.evaluation_run_steps or config.total_steps
    training = (param["run_seconds"] - seconds) * run_steps / config.total_steps
    share = EVALUATIONS * seconds / (EVALUATIONS * seconds + training)
    say(
        log,
        f"evaluation: {seconds:.2f} s for {config.eval_episodes} episodes × {num_seeds} seeds, training "
        f"{training:.2f} s for {run_steps} steps: {EVALUATIONS} evaluations = {share:.0%} of such a run",
    )
    return [
        {
            "sweep": "evaluation",
            "exploration": "param",
            "devices": mesh.size,
            "num_seeds": num_seeds,
            "num_envs": config.eval_episodes,
            "updates_per_step": 0.0,
            "total_steps": env.max_steps * config.eval_episodes,
            "env_steps_per_second": num_seeds * env.max_steps * config.eval_episodes / seconds,
            "updates_per_second": 0.0,
            "compile_seconds": compile_seconds,
            "run_seconds": seconds,
            "training_seconds": training,
            "evaluation_share": share,
            "evaluation_run_steps": run_steps,
            "xla_memory_mb": _memory_mb(compiled),
            "device_peak_mb": _device_peak_mb(),
        }
    ]


def _rollout(reset, step, action_dim: int, num_envs: int, steps: int):
    """A jitted ``key -> states`` running ``num_envs`` envs for ``steps`` uniform random actions;
    ``reset(key) -> state``, ``step(key, state, action) -> state`` for one env."""

    def run(key):
        state = jax.vmap(reset)(jax.random.split(key, num_envs))

        def body(state, key):
            act_key, step_key = jax.random.split(key)
            actions = jax.random.uniform(act_key, (num_envs, action_dim), minval=-1.0, maxval=1.0)
            return jax.vmap(step)(jax.random.split(step_key, num_envs), state, actions), None

        return jax.lax.scan(body, state, jax.random.split(key, steps))[0]

    return jax.jit(run)


def _physics_programs(task) -> dict:
    """``label -> (reset, step)`` for one env: brax's own, and pn_jax's adapter around it."""
    return {
        "brax step": (task.env.reset, lambda key, state, action: task.env.step(state, action)),
        "adapter": (lambda key: task.reset(key)[1], lambda key, state, action: task.step(key, state, action)[1]),
    }


def physics(bench: Config, log: Log = None) -> list[dict]:
    """Env-steps/s of a brax env alone: brax's ``step``, and pn_jax's adapter (time limit + auto-reset)."""
    if not bench.physics_backends:
        return []
    if not envs.brax_envs.is_brax(env_of(bench)):
        say(log, f"physics: skipped ({env_of(bench)} is not a brax env)")
        return []
    rows = []
    for backend in bench.physics_backends:
        env = envs.make(env_of(bench), brax_backend=backend)
        programs = _physics_programs(env.env)
        for num_envs in bench.physics_envs:
            for label, (reset, step) in programs.items():
                program = _rollout(reset, step, env.action_dim, num_envs, bench.physics_steps)
                key = jax.random.key(0)
                start = time.perf_counter()
                compiled = program.lower(key).compile()
                compile_seconds = time.perf_counter() - start
                seconds = _time(compiled, (key,), bench.sweep_rounds)
                sps = num_envs * bench.physics_steps / seconds
                say(
                    log,
                    f"physics {backend:>11} {label:>9} N={num_envs:<4} {sps:>10.0f} env-steps/s  "
                    f"compile {compile_seconds:5.1f} s",
                )
                rows.append(
                    {
                        "sweep": "physics",
                        "exploration": f"{backend} ({label})",
                        "devices": 1,
                        "num_seeds": 1,
                        "num_envs": num_envs,
                        "updates_per_step": 0.0,
                        "total_steps": num_envs * bench.physics_steps,
                        "env_steps_per_second": sps,
                        "updates_per_second": 0.0,
                        "compile_seconds": compile_seconds,
                        "run_seconds": seconds,
                        "xla_memory_mb": _memory_mb(compiled),
                        "device_peak_mb": _device_peak_mb(),
                    }
                )
    return rows


@contextlib.contextmanager
def _never_reset():
    """While tracing: brax's adapter steps without its auto-reset (same work otherwise), for timing only."""
    every_step = envs.brax_envs.BraxTask.step

    def step(self, key, state, action, params=None):
        stepped = self.env.step(state.brax, action)
        time_ = state.time + 1
        terminated = stepped.done > 0.5
        truncated = (time_ >= self.max_steps) & ~terminated
        info = {"final_observation": stepped.obs}
        return stepped.obs, envs.brax_envs.BraxState(stepped, time_), stepped.reward, terminated, truncated, info

    envs.brax_envs.BraxTask.step = step
    try:
        yield
    finally:
        envs.brax_envs.BraxTask.step = every_step


def reset_bound(bench: Config, mesh, log: Log = None) -> list[dict]:
    """The training loop with the adapter's every-step reset against the same loop never resetting,
    in interleaved rounds (best kept): an upper bound on what a cheaper brax auto-reset can gain."""
    if not bench.reset_bound:
        return []
    if not envs.brax_envs.is_brax(env_of(bench)):
        say(log, f"reset bound: skipped ({env_of(bench)} is not a brax env)")
        return []
    one = parallel.batch_mesh(mesh.devices.flat[:1])
    cases = [(compare_config(bench, "param"), n, mesh) for n in bench.seeds]
    cases += [(population_config(bench, n), 1, one) for n in bench.population_sweep]
    rows = []
    for config, num_seeds, case_mesh in cases:
        programs = {}
        for label, context in (("every-step reset", contextlib.nullcontext), ("never reset", _never_reset)):
            with context():
                programs[label] = _compile(config, num_seeds, case_mesh)
        best = {label: float("inf") for label in programs}
        for round_ in range(bench.rounds):
            for label in list(programs)[:: 1 if round_ % 2 == 0 else -1]:
                compiled, keys, _ = programs[label]
                best[label] = min(best[label], _time(compiled, keys))
        for label, (compiled, _, compile_seconds) in programs.items():
            rows.append(
                _row(
                    config,
                    num_seeds,
                    best[label],
                    compile_seconds,
                    compiled,
                    case_mesh,
                    label=f"param ({label})",
                    log=log,
                    sweep="reset",
                )
            )
    return rows


def resumable(bench: Config, mesh, log: Log = None) -> list[dict]:
    """The chunked runner (no checkpoints / a checkpoint at every evaluation) vs the fused program."""
    if not bench.resumable or not bench.seeds:
        return []
    num_seeds = max(bench.seeds)
    config = _learner(bench)(env=env_of(bench), total_steps=bench.total_steps)
    keys = jax.random.split(jax.random.key(0), num_seeds)
    compiled, padded, compile_seconds = _compile(config, num_seeds, mesh)
    best = {"fused": float("inf"), "chunked": float("inf"), "chunked+checkpoints": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        variants = {
            "fused": lambda i: _time(compiled, padded),
            "chunked": lambda i: runner.run(config, keys, mesh=mesh).run_seconds,
            "chunked+checkpoints": lambda i: (
                runner.run(
                    config, keys, mesh=mesh, checkpoint_dir=f"{tmp}/{i}", checkpoint_every=config.eval_every
                ).run_seconds
            ),
        }
        names = list(variants)
        for round_ in range(bench.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                best[name] = min(best[name], variants[name](round_))
    return [
        _row(config, num_seeds, best[name], compile_seconds, compiled, mesh, f"param ({name})", log, sweep="resumable")
        for name in names
    ]


def population_config(bench: Config, num_envs: int) -> DDPGConfig:
    """One seed, ``num_envs`` perturbed actors, one update per ``env_steps_per_update`` env steps."""
    ratio = num_envs / bench.env_steps_per_update
    period, per_round = (1, round(ratio)) if ratio >= 1 else (round(1.0 / ratio), 1)
    block = DDPGConfig.BASE_ADAPT_EVERY * period * num_envs
    total = -(-bench.population_steps // block) * block
    return _learner(bench)(
        env=env_of(bench),
        num_envs=num_envs,
        updates_per_step=float(per_round) if ratio >= 1 else 1.0 / period,
        total_steps=total,
        eval_every=total,
        adapt_every=DDPGConfig.BASE_ADAPT_EVERY,
        learning_starts=-(-1024 // num_envs) * num_envs,
    )


def population_sweep(bench: Config, mesh, log: Log = None) -> list[dict]:
    """One seed (so one device) with a growing population of perturbed actors; training only: the
    run's one evaluation (``eval_episodes`` episodes, timed alone) is taken off its time."""
    one = parallel.batch_mesh(mesh.devices.flat[:1])
    rows = []
    for num_envs in bench.population_sweep:
        config = population_config(bench, num_envs)
        compiled, keys, compile_seconds = _compile(config, 1, one)
        seconds = _time(compiled, keys, bench.sweep_rounds)
        evaluation_seconds = _evaluation_program(config, 1, one, bench.sweep_rounds)[0]
        rows.append(
            _row(
                config,
                1,
                seconds - evaluation_seconds,
                compile_seconds,
                compiled,
                one,
                log=log,
                sweep="population",
                evaluation_seconds=evaluation_seconds,
                backend=config.brax_backend if envs.brax_envs.is_brax(config.env) else None,
            )
        )
    return rows


def _compare_lines(rows: list[dict]) -> list[str]:
    """Each strategy against its learner's baseline (:data:`BASELINES`) at equal seeds, envs and task;
    PPO's against rejax's PPO too (``rejax`` rows, from scripts/bench_rejax.py) at the same N and task.
    Rows without ``algo`` are DDPG's."""
    lines = []
    compare_rows = {
        (r.get("algo", "ddpg"), r.get("env"), r["num_seeds"], r["num_envs"], r["exploration"]): (
            r["env_steps_per_second"]
        )
        for r in rows
        if r["sweep"] == "compare"
    }
    for (algo, env, seeds, num_envs, name), sps in compare_rows.items():
        baseline = compare_rows.get((algo, env, seeds, num_envs, BASELINES[algo]))
        if name == BASELINES[algo] or baseline is None:
            continue
        if algo == "ppo":
            lines.append(f"ppo {name} / {BASELINES[algo]} at {num_envs} env(s) on {env}: {sps / baseline:.3f}")
        else:
            learner = "" if algo == "ddpg" else f"{algo} "
            lines.append(f"{learner}{name} / {BASELINES[algo]} at {seeds} seed(s): {sps / baseline:.3f}")
    rejax = {(r["env"], r["num_envs"]): r["env_steps_per_second"] for r in rows if r["sweep"] == "rejax"}
    for (algo, env, _, num_envs, name), sps in compare_rows.items():
        if algo == "ppo" and (env, num_envs) in rejax:
            lines.append(f"ppo {name} / rejax ppo at {num_envs} env(s) on {env}: {sps / rejax[(env, num_envs)]:.3f}")
    return lines


def ratios(rows: list[dict]) -> list[str]:
    """Human-readable ratios: strategy vs baseline at equal seeds (PPO: equal envs, and vs rejax), seed
    scaling, population vs 1 env."""
    lines = _compare_lines(rows)
    sweep = [r for r in rows if r["sweep"] == "seeds"]
    base = next((r for r in sweep if r["devices"] == 1 and r["num_seeds"] == 1), None)
    for r in sweep:
        if base and r is not base:
            gain = r["env_steps_per_second"] / base["env_steps_per_second"]
            lines.append(
                f"{r['num_seeds']} seeds on {r['devices']} device(s) / 1 seed on 1 device, aggregate env-steps/s: "
                f"{gain:.2f}x"
            )
    for r in (r for r in rows if r["sweep"] == "evaluation"):
        lines.append(
            f"{EVALUATIONS} evaluations of {r['num_envs']} episodes at {r['num_seeds']} seed(s): "
            f"{r['evaluation_share']:.0%} of the run time"
            + (f" at {r['evaluation_run_steps']:,} steps per seed" if "evaluation_run_steps" in r else "")
        )
    resumable_rows = {r["exploration"]: r["env_steps_per_second"] for r in rows if r["sweep"] == "resumable"}
    for name, sps in resumable_rows.items():
        if name != "param (fused)" and "param (fused)" in resumable_rows:
            lines.append(f"{name} / param (fused), env-steps/s: {sps / resumable_rows['param (fused)']:.3f}")
    physics_rows = {
        (r["exploration"], r["num_envs"]): r["env_steps_per_second"] for r in rows if r["sweep"] == "physics"
    }
    for (name, num_envs), sps in physics_rows.items():
        backend = name.removesuffix(" (adapter)")
        if backend != name and (f"{backend} (brax step)", num_envs) in physics_rows:
            bare = physics_rows[(f"{backend} (brax step)", num_envs)]
            lines.append(f"physics {backend}, {num_envs} env(s): adapter / brax step {sps / bare:.3f}")
    population = [r for r in rows if r["sweep"] == "population"]
    single = next((r for r in population if r["num_envs"] == 1), None)  # training only, as the others
    for r in (r for r in population if r["num_envs"] > 1 and single):
        gain = r["env_steps_per_second"] / single["env_steps_per_second"]
        lines.append(
            f"population N={r['num_envs']} (updates_per_step {r['updates_per_step']:g}) / "
            f"N=1 (updates_per_step {single['updates_per_step']:g}): {gain:.1f}x env-steps/s"
        )
    resets = {
        (r["num_seeds"], r["num_envs"], r["exploration"]): r["run_seconds"] for r in rows if r["sweep"] == "reset"
    }
    for (seeds, num_envs, label), seconds in resets.items():
        if label == "param (never reset)" and (seeds, num_envs, "param (every-step reset)") in resets:
            ratio = resets[(seeds, num_envs, "param (every-step reset)")] / seconds
            lines.append(
                f"reset bound, {seeds} seed(s) × {num_envs} env(s): time with the every-step reset / never resetting "
                f"{ratio:.3f}"
            )
    for r in (r for r in rows if r["sweep"] == "population"):
        bare = physics_rows.get((f"{r['backend']} (brax step)", r["num_envs"])) if "backend" in r else None
        if bare:
            lines.append(
                f"population N={r['num_envs']} (updates_per_step {r['updates_per_step']:g}, training only) / "
                f"{r['backend']} physics alone at {r['num_envs']} envs: {r['env_steps_per_second'] / bare:.2f}x"
            )
    return lines


def markdown(record: dict) -> str:
    """The record's rows as a Markdown table, then its ratio lines."""

    def mb(value):
        return "–" if value is None else f"{value:.0f}"

    def sweep(r):  # DDPG's rows as before; any other learner's (and rejax's) name it and their task
        algo = r.get("algo", "ddpg")
        return r["sweep"] if algo == "ddpg" else f"{r['sweep']} ({algo}, {r['env']})"

    lines = [f"Device: {record['device']}; jax {record['jax_version']}."]
    if "rejax" in record:
        lines.append(
            f"rejax rows: rejax {record['rejax']['rejax_version']}, jax {record['rejax']['jax_version']} "
            f"(scripts/bench_rejax.py, its own venv), {record['rejax']['device']}; {record['rejax']['date']}."
        )
    lines += [
        "",
        "| sweep | exploration | devices | seeds | N | updates/step | env-steps/s | updates/s | compile s | XLA MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["results"]:
        lines.append(
            f"| {sweep(r)} | {r['exploration']} | {r['devices']} | {r['num_seeds']} | {r['num_envs']} "
            f"| {r['updates_per_step']:g} | "
            f"{r['env_steps_per_second']:,.0f} | {r['updates_per_second']:,.0f} | {r['compile_seconds']:.1f} | "
            f"{mb(r.get('xla_memory_mb'))} |"
        )
    return "\n".join(lines + ["", *(f"- {line}" for line in record["ratios"])]) + "\n"


def validate(bench: Config) -> None:
    """Checks the learner, every strategy name, PPO budget, population size and physics backend, and that
    the sweeps asked for time that learner, before anything compiles.

    Raises:
      ValueError: naming the first bad field.
    """
    if bench.algo not in DEFAULT_EXPLORATIONS:
        raise ValueError(f"algo: unknown learner {bench.algo!r}; choose one of {', '.join(DEFAULT_EXPLORATIONS)}")
    sweeps = {
        "seed_sweep": bool(bench.seed_sweep),
        "population_sweep": bool(bench.population_sweep),
        "evaluation": bench.evaluation,
        "resumable": bench.resumable,
        "reset_bound": bench.reset_bound,
    }
    for field, asked in sweeps.items():
        if asked and bench.algo not in SWEEP_ALGOS:
            flag = "--" + field.replace("_", "-")
            raise ValueError(
                f"{field}: {flag} times DDPG or TD3 only, not {bench.algo}; drop {flag}, or use --algo ddpg or td3"
            )
    defaults = Config()
    for field in ("ppo_envs", "ppo_steps", "ppo_minibatches", "ppo_brax_env", "ppo_brax_envs", "ppo_brax_steps"):
        if bench.algo != "ppo" and getattr(bench, field) != getattr(defaults, field):
            raise ValueError(f"{field}: the PPO rows run with --algo ppo only, not {bench.algo}")
    if bench.algo == "ppo":
        if bench.ppo_brax_envs and not envs.brax_envs.is_brax(bench.ppo_brax_env):
            raise ValueError(f"ppo_brax_env: must name a brax env (brax/<name>), got {bench.ppo_brax_env!r}")
        for field in ("ppo_envs", "ppo_brax_envs"):
            for num_envs in getattr(bench, field):
                if not isinstance(num_envs, int) or num_envs <= 0:
                    raise ValueError(f"{field}: env counts must be positive integers, got {num_envs!r}")
        for env, num_envs, total_steps in _ppo_cases(bench):
            for name in explorations_of(bench):
                ppo_config(bench, name, env, num_envs, total_steps)
    else:
        for name in explorations_of(bench):
            compare_config(bench, name)
    for num_envs in bench.population_sweep:
        population_config(bench, num_envs)
    if bench.physics_backends and envs.brax_envs.is_brax(env_of(bench)):
        for backend in bench.physics_backends:
            envs.make(env_of(bench), brax_backend=backend)


def with_rows(record: dict, rows: list[dict], **fields) -> dict:
    """``record`` with ``rows`` (e.g. rejax's, from scripts/bench_rejax.py) added to its results, its
    ratio lines computed again, and ``fields`` added (e.g. ``rejax={...}``: where those rows come from)."""
    results = record["results"] + list(rows)
    return {**record, **fields, "results": results, "ratios": ratios(results)}


def run(bench: Config, *, devices: str | int = "all", log: Log = None) -> dict:
    """Runs every measurement ``bench`` asks for, in turn, logging a line per program.

    Returns:
      ``{"device", "jax_version", "config": the fields of bench, "results": [row per program],
      "ratios": [line]}`` (what ``--out`` holds).

    Raises:
      ValueError: naming a bad field, before anything compiles.
    """
    validate(bench)
    mesh = mesh_of(devices)
    say(log, f"device: {device_name(mesh.size)}, jax {jax.__version__}")
    if bench.algo == "ppo":  # (validate refuses the DDPG / TD3 sweeps for it)
        rows = ppo_compare(bench, log)
    else:
        rows = compare(bench, mesh, log)
        rows += evaluation(bench, mesh, rows, log) + resumable(bench, mesh, log) + seed_sweep(bench, mesh, log)
        rows += population_sweep(bench, mesh, log)
    rows += physics(bench, log) + reset_bound(bench, mesh, log)
    return {
        "device": device_name(mesh.size),
        "jax_version": jax.__version__,
        "config": dataclasses.asdict(bench),
        "results": rows,
        "ratios": ratios(rows),
    }
