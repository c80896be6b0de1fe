"""The README's "bring your own loop" example runs as written and explores as documented."""

from __future__ import annotations

import os
import re

import numpy as np
from conftest import ROOT


def _example() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("### Bring your own loop") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_bring_your_own_loop_example_runs_and_resamples_at_every_episode_end():
    namespace: dict = {}
    exec(compile(_example(), "README.md (bring your own loop)", "exec"), namespace)
    state = namespace["state"]
    assert float(namespace["stats"].distance) > 0
    # 400 steps of 200-step episodes in 4 envs: the 4 initial perturbations, then 4 more at t = 200
    # and 4 at t = 400, all read from pools that adapt redrew every 50 steps
    assert int(state.steps.max()) == 0  # every env resampled at its episode end, t = 400
    kernels = np.asarray(state.perturbed_params["params"]["MLP_0"]["Dense_1"]["kernel"]).reshape(4, -1)
    theta = np.asarray(namespace["theta"]["params"]["MLP_0"]["Dense_1"]["kernel"]).reshape(-1)
    eps = kernels - theta
    assert np.abs(np.corrcoef(eps)[np.triu_indices(4, 1)]).max() < 0.1
