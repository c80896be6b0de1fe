"""rejax's PPO timed like ``pn-bench --algo ppo`` times ours: the reference rows of BENCHMARKS.md.

This script exists only for BENCHMARKS.md. It does not import pn_jax, and rejax is no dependency of
pn_jax: run it with rejax in a virtual environment of its own, the same day and on the same machine
as the ``pn-bench --algo ppo`` run it is set beside::

    python3 -m venv ../rejax-venv && ../rejax-venv/bin/pip install rejax "gymnax<1.0" "brax==0.14.2"
    ../rejax-venv/bin/python scripts/bench_rejax.py --out runs/rejax.json
    python scripts/bench.py --algo ppo --rejax runs/rejax.json --out runs/bench_ppo.json --markdown runs/bench_ppo.md

(rejax 0.1.3 needs gymnax below 1.0: gymnax 1.0's ``step`` returns six values, rejax unpacks five.
brax is needed for the halfcheetah row only; without it that row is skipped with a line saying so.)

Each row is rejax's PPO (``rejax.get_algo("ppo").create(...)``) with its gymnax Pendulum-v1 settings
(``configs/gymnax/pendulum.yaml`` of keraJLi/rejax: rollouts of 100 steps, 10 epochs, lr 1e-3,
gradient norm 10, γ 0.995, λ 0.95, clip 0.2, no entropy bonus, value coefficient 0.5, observation
normalisation, 64×64 swish networks) at the shape of our PPO rows: N envs, ``--minibatches``
minibatches per epoch, ``--steps`` env steps, and one evaluation of 10 episodes at the end (no
initial evaluation), as pn-bench's PPO rows evaluate. ``jax.jit(algo.train)`` of one seed is
compiled once ahead of time, then timed ``--rounds`` times (``block_until_ready``, best kept).
As pn-bench does, JAX gets one CPU device per core (``JAX_NUM_CPU_DEVICES``, unless already set);
the program runs on the first.

Output: one line per row, and with ``--out`` a JSON record ``{"rejax_version", "jax_version",
"device", "date", "command", "results": [row]}`` whose rows have pn-bench's keys (``sweep`` is
"rejax", ``exploration`` "rejax", ``env_steps_per_second``, …).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import sys
import time

EVAL_EPISODES = 10
"""Episodes of the one evaluation at the end (pn_jax's PPO evaluates 10, rejax 128 by default)."""


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Pendulum-v1", help="gymnax task of the gymnax rows")
    parser.add_argument("--envs", type=int, nargs="*", default=[64, 1024], help="numbers of parallel envs")
    parser.add_argument("--steps", type=int, default=102_400, help="env steps of each gymnax row")
    parser.add_argument("--brax-env", default="brax/halfcheetah", help="brax task of the brax rows")
    parser.add_argument("--brax-envs", type=int, nargs="*", default=[64], help="parallel envs of the brax rows")
    parser.add_argument("--brax-steps", type=int, default=12_800, help="env steps of each brax row")
    parser.add_argument("--brax-backend", default="positional", help="brax physics pipeline (pn_jax's default)")
    parser.add_argument("--num-steps", type=int, default=100, help="steps of each env per rollout")
    parser.add_argument("--epochs", type=int, default=10, help="passes over each rollout")
    parser.add_argument("--minibatches", type=int, default=8, help="minibatches per epoch")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs of each program (best kept)")
    parser.add_argument("--out", default="", help="write the JSON record here")
    args = parser.parse_args(argv)
    for n in [*args.envs, *args.brax_envs]:
        if n <= 0:
            parser.error(f"env counts must be positive, got {n}")
    for steps, counts, flag in ((args.steps, args.envs, "--steps"), (args.brax_steps, args.brax_envs, "--brax-steps")):
        for n in counts:
            rollout = n * args.num_steps
            if steps <= 0 or steps % rollout or rollout % args.minibatches:
                parser.error(
                    f"{flag} ({steps}) must be a positive multiple of N × --num-steps ({n} × {args.num_steps} = "
                    f"{rollout}), which --minibatches ({args.minibatches}) must divide"
                )
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def ppo(env: str, num_envs: int, total_steps: int, args: argparse.Namespace):
    """rejax's PPO with its Pendulum-v1 settings at our rows' shape, one evaluation of 10 episodes at the end."""
    import rejax
    from rejax.evaluate import evaluate

    extra = {"env_params": {"backend": args.brax_backend}} if env.startswith("brax/") else {}
    algo = rejax.get_algo("ppo").create(
        env=env,
        **extra,
        agent_kwargs={"activation": "swish", "hidden_layer_sizes": (64, 64)},
        num_envs=num_envs,
        num_steps=args.num_steps,
        num_epochs=args.epochs,
        num_minibatches=args.minibatches,
        learning_rate=1e-3,
        max_grad_norm=10.0,
        total_timesteps=total_steps,
        eval_freq=total_steps,
        skip_initial_evaluation=True,
        gamma=0.995,
        gae_lambda=0.95,
        clip_eps=0.2,
        ent_coef=0.0,
        vf_coef=0.5,
        normalize_observations=True,
    )

    def eval_callback(algo, ts, rng):
        act = algo.make_act(ts)
        return evaluate(act, rng, algo.env, algo.env_params, EVAL_EPISODES, algo.env_params.max_steps_in_episode)

    return algo.replace(eval_callback=eval_callback)


def time_row(env: str, num_envs: int, total_steps: int, args: argparse.Namespace) -> dict:
    """Compiles ``jit(algo.train)`` for one seed, then times ``--rounds`` runs; pn-bench's row keys."""
    import jax

    algo = ppo(env, num_envs, total_steps, args)
    key = jax.random.key(0)
    start = time.perf_counter()
    compiled = jax.jit(algo.train).lower(key).compile()
    compile_seconds = time.perf_counter() - start
    best = float("inf")
    for _ in range(args.rounds):
        start = time.perf_counter()
        jax.block_until_ready(compiled(key))
        best = min(best, time.perf_counter() - start)
    stats = compiled.memory_analysis()
    memory = (
        None
        if stats is None
        else (stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes) / 2**20
    )
    updates = (total_steps // (num_envs * args.num_steps)) * args.epochs * args.minibatches
    return {
        "sweep": "rejax",
        "algo": "ppo",
        "env": env,
        "exploration": "rejax",
        "devices": 1,
        "num_seeds": 1,
        "num_envs": num_envs,
        "updates_per_step": updates / total_steps,
        "total_steps": total_steps,
        "eval_every": total_steps,
        "env_steps_per_second": total_steps / best,
        "updates_per_second": updates / best,
        "compile_seconds": compile_seconds,
        "run_seconds": best,
        "xla_memory_mb": memory,
        "device_peak_mb": None,
    }


def device_name() -> str:
    import jax

    device = jax.devices()[0]
    if device.platform != "cpu":
        return f"{device.platform}: {device.device_kind} x1"
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"cpu: {os.cpu_count()} cores ({model}), {len(jax.devices())} XLA devices, one used"


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    os.environ.setdefault("JAX_NUM_CPU_DEVICES", str(os.cpu_count() or 1))
    import jax

    cases = [(args.env, n, args.steps) for n in args.envs]
    if args.brax_envs:
        try:
            import brax.envs  # noqa: F401
        except ImportError as error:
            print(f"{args.brax_env} rows skipped (brax is not installed here: {error})", flush=True)
        else:
            cases += [(args.brax_env, n, args.brax_steps) for n in args.brax_envs]
    record = {
        "rejax_version": importlib.metadata.version("rejax"),
        "jax_version": jax.__version__,
        "device": device_name(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]) if argv is None else " ".join(argv),
        "results": [],
    }
    print(f"rejax {record['rejax_version']}, jax {record['jax_version']}, {record['device']}", flush=True)
    for env, num_envs, total_steps in cases:
        row = time_row(env, num_envs, total_steps, args)
        record["results"].append(row)
        print(
            f"rejax ppo {env} N={num_envs:<5} {row['env_steps_per_second']:>10.0f} env-steps/s "
            f"({total_steps} steps, best of {args.rounds}: {row['run_seconds']:.2f} s)  "
            f"compile {row['compile_seconds']:5.1f} s",
            flush=True,
        )
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1)
        print(f"wrote {args.out}")
    return record


if __name__ == "__main__":
    main()
