"""A progress bar fed by ``jax.debug.callback`` at evaluation points only.

Under ``vmap`` the callback fires once per seed for each evaluation, in any order; the bar
advances when every seed has reported a step and shows the mean eval return so far. Its steps
and rate are per seed (every seed advances together); the CLIs' summary lines give env-steps/s
over all seeds.
"""

from __future__ import annotations

import threading

import numpy as np
from tqdm.auto import tqdm


class EvalProgress:
    """Callable ``(env_step, eval_return)`` for :func:`pn_jax.make_train`'s ``progress_fn``."""

    def __init__(self, total_steps: int, num_seeds: int, desc: str = "train", disable: bool = False):
        self.num_seeds = num_seeds
        self.step = 0  # the latest env step every seed has reported (counted even when disabled)
        self._reports: dict[int, list[float]] = {}
        self._lock = threading.Lock()
        self._bar = tqdm(
            total=total_steps, desc=f"{desc} (per seed)", unit=" steps", disable=disable, dynamic_ncols=True
        )

    def start(self, initial_step: int = 0) -> None:
        """Restarts the bar's clock at ``initial_step`` (call after compiling, so the rate shows
        training only; a resumed run starts where its checkpoint left off)."""
        self._bar.reset(total=self._bar.total)
        self._bar.initial = self._bar.n = self.step = initial_step
        self._bar.refresh()

    def __call__(self, env_step, eval_return) -> None:
        step, value = int(np.asarray(env_step)), float(np.asarray(eval_return))
        with self._lock:
            reports = self._reports.setdefault(step, [])
            reports.append(value)
            if len(reports) == self.num_seeds:
                self.step = max(self.step, step)
                self._bar.update(step - self._bar.n)
                self._bar.set_postfix_str(f"eval return (mean over seeds) {np.mean(reports):.1f}")
                del self._reports[step]

    def close(self) -> None:
        self._bar.close()
