"""Every Python block of the README runs as printed, and the "bring your own loop" example explores
and stores transitions as documented.

Each block runs on its own (a fresh namespace), as a reader would paste it. The one change: the
blocks that train cut ``total_steps=20_000`` to ``SHORT`` (the README says so), since two 8-seed
runs of 20k steps would take minutes of the suite's time.
"""

from __future__ import annotations

import os
import re

import jax
import numpy as np
import pytest
from conftest import ROOT

LONG, SHORT = "total_steps=20_000", "total_steps=1_000"


def _readme() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", _readme(), re.S | re.M)


def _run(block: str, name: str) -> dict:
    namespace: dict = {"__name__": "readme"}
    exec(compile(block.replace(LONG, SHORT), f"README.md ({name})", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def blocks() -> dict[str, str]:
    """The README's Python blocks by their first distinctive line."""
    found = _blocks()
    named = {
        "use it from Python": next(b for b in found if "hparams()._replace" in b),
        "noise primitives": next(b for b in found if "noise.adapt_sigma" in b),
        "populations": next(b for b in found if "sigma_spread=4.0" in b),
        "bring your own loop": next(b for b in found if "gymnax.make" in b),
        "several devices": next(b for b in found if "sharded_vmap" in b),
    }
    assert len(found) == len(named), "a new README Python block: give it a test below"
    return named


def test_the_training_blocks_are_the_ones_that_get_a_short_budget(blocks):
    shortened = {name for name, block in blocks.items() if LONG in block}
    assert shortened == {"use it from Python", "several devices"}


def test_use_it_from_python(blocks):
    namespace = _run(blocks["use it from Python"], "use it from Python")
    config = namespace["config"]
    evaluations = config.total_steps // config.eval_every
    assert namespace["metrics"].eval_return.shape == (8, evaluations)
    assert namespace["grid_metrics"].eval_return.shape == (4, evaluations)
    sigma_0 = namespace["grid_metrics"].sigma[:, 0]  # the σ in force before the first adaptation
    np.testing.assert_allclose(sigma_0, [0.05, 0.1, 0.2, 0.4], rtol=1e-6)


def test_noise_primitives(blocks):
    namespace = _run(blocks["noise primitives"], "noise primitives")
    assert float(namespace["d"]) > 0
    assert float(namespace["sigma"]) in (pytest.approx(0.2 / 1.01), pytest.approx(0.2 * 1.01))


def test_populations(blocks):
    config = _run(blocks["populations"], "populations")["config"]
    assert (config.num_envs, config.updates_per_step, config.sigma_spread) == (16, 1.0, 4.0)


def test_several_devices(blocks):
    namespace = _run(blocks["several devices"], "several devices")
    assert np.all(np.isfinite(np.asarray(namespace["metrics"].eval_return)))
    assert namespace["metrics"].eval_return.shape[0] == 8


@pytest.fixture(scope="module")
def own_loop(blocks) -> dict:
    return _run(blocks["bring your own loop"], "bring your own loop")


def test_bring_your_own_loop_resamples_at_every_episode_end(own_loop):
    state = own_loop["state"]
    assert float(own_loop["stats"].distance) > 0
    # 400 steps of 200-step episodes in 4 envs: the 4 initial perturbations, then 4 more at t = 200
    # and 4 at t = 400, all read from pools that adapt redrew every 50 steps
    assert int(state.steps.max()) == 0  # every env resampled at its episode end, t = 400
    kernels = np.asarray(state.perturbed_params["params"]["MLP_0"]["Dense_1"]["kernel"]).reshape(4, -1)
    theta = np.asarray(own_loop["theta"]["params"]["MLP_0"]["Dense_1"]["kernel"]).reshape(-1)
    eps = kernels - theta
    assert np.abs(np.corrcoef(eps)[np.triu_indices(4, 1)]).max() < 0.1


def _pendulum_next_obs(obs: np.ndarray, action: np.ndarray) -> np.ndarray:
    """gymnax Pendulum-v1's step from observations ``[N, 3]`` (cos θ, sin θ, θ̇) and actions in [-1, 1]."""
    theta, theta_dot = np.arctan2(obs[:, 1], obs[:, 0]), obs[:, 2]
    torque = np.clip(2.0 * action[:, 0], -2.0, 2.0)
    new_dot = np.clip(theta_dot + (3 * 10.0 / 2 * np.sin(theta) + 3.0 * torque) * 0.05, -8.0, 8.0)
    new_theta = theta + new_dot * 0.05
    return np.stack([np.cos(new_theta), np.sin(new_theta), new_dot], axis=1)


def test_bring_your_own_loop_stores_the_pre_reset_observation_at_an_episode_end(own_loop):
    replay = [jax.tree.map(np.asarray, transition) for transition in own_loop["replay"]]
    assert len(replay) == 400
    for t, (obs, action, _, next_obs, terminated) in enumerate(replay):
        # every stored next observation is where the pendulum went, episode ends included
        np.testing.assert_allclose(next_obs, _pendulum_next_obs(obs, action), atol=2e-4, err_msg=f"step {t}")
        assert not terminated.any()  # Pendulum only truncates
    end, after = replay[199], replay[200]  # the first episodes end at step 200 (time limit)
    # at the end the env returned the next episode's first observation; the replay did not store it
    assert np.abs(end[3] - after[0]).max() > 0.1
    for t in (50, 150, 250):  # within an episode the next observation is the one the loop continued from
        np.testing.assert_array_equal(replay[t][3], replay[t + 1][0])
