"""Shared fixtures. XLA compiles dominate test time on small CPUs, so compiled runs are
module-scoped and configurations kept tiny."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# One persistent compilation cache for the whole session, read by this process and by every script
# the tests launch (they inherit the environment): the same tiny programs are compiled by many tests
# and subprocesses, and a cache hit still counts as a compile in jax's compile events.
# xdist's workers share one folder (named by the run's id); a lone session gets its own.
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"pn_jax_test_xla_{_RUN_ID}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

# The tests check behaviour, not speed, and their tiny programs spend far longer compiling than
# running. XLA's CPU backend without LLVM's optimisations and with its older loop-fusion emitters
# compiles them about 3× faster (the tiny DDPG run's XLA compile: 13.2 s → 7.9 s → 3.4 s on the
# 2-core CI machine). Every test and every script the tests launch compiles this way.
for _flag in ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false"):
    if _flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_flag}".strip()

# A tiny DDPG run: 2 evaluations, 3 adaptation blocks each; it ends mid-episode (Pendulum: 200 steps).
TINY = dict(
    env="Pendulum-v1",
    total_steps=300,
    eval_every=150,
    adapt_every=50,
    learning_starts=128,
    batch_size=32,
    buffer_size=1000,
    hidden_sizes=(16, 16),
    eval_episodes=2,
)

# The tiny run's sizes on CartPole, with DQN's own schedule fields pinned.
TINY_DQN = {
    **TINY,
    "env": "CartPole-v1",
    "total_steps": 400,
    "eval_every": 200,
    "epsilon_decay_steps": 200,
    "updates_per_step": 1.0,
    "lr": 5e-4,
    "anneal_lr": False,
}


@pytest.fixture(scope="session")
def root() -> str:
    return ROOT


def flags_of(config: dict) -> list[str]:
    """``--kebab-name value …`` CLI flags for a dict of config fields (tuples as several values)."""
    argv = []
    for name, value in config.items():
        values = [str(v) for v in value] if isinstance(value, tuple) else [str(value)]
        argv += ["--" + name.replace("_", "-"), *values]
    return argv


def run_script(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs ``scripts/<script>`` with ``args`` from the repository root, capturing its output."""
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


# The slowest test files first (measured on 2 cores), so that pytest-xdist, which hands whole files
# to its workers in collection order, does not end with one worker alone on a long file.
SLOWEST_FIRST = (
    "test_resume_cli.py",
    "test_ppo.py",
    "test_distributed.py",
    "test_checkpoint.py",
    "test_dqn.py",
    "test_experiments.py",
    "test_ablate.py",
    "test_notebook.py",
    "test_custom_env.py",
    "test_readme.py",
    "test_train.py",
    "test_brax.py",
    "test_td3.py",
    "test_parallel.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # (stable: each file keeps its order)
