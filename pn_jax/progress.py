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
        self._options = dict(total=total_steps, desc=f"{desc} (per seed)", unit=" steps", disable=disable)
        self._bar: tqdm | None = None  # shown from :meth:`start` on: an error while compiling gets a line of its own

    def start(self, initial_step: int = 0) -> None:
        """Shows the bar from ``initial_step`` on (call after compiling, so its rate is training
        only; a resumed run starts where its checkpoint left off)."""
        if self._bar is not None:
            self._bar.close()
        self._bar = tqdm(initial=initial_step, dynamic_ncols=True, **self._options)
        self.step = initial_step

    def __call__(self, env_step, eval_return) -> None:
        step, value = int(np.asarray(env_step)), float(np.asarray(eval_return))
        with self._lock:
            reports = self._reports.setdefault(step, [])
            reports.append(value)
            if len(reports) == self.num_seeds:
                if self._bar is None:
                    self.start()
                self.step = max(self.step, step)
                self._bar.update(step - self._bar.n)
                self._bar.set_postfix_str(f"eval return (mean over seeds) {np.mean(reports):.1f}")
                del self._reports[step]

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
