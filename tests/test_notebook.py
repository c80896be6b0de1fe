"""notebooks/quickstart.ipynb runs top to bottom under nbmake on its small budget (PN_JAX_QUICK=1)."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
from conftest import ROOT

NOTEBOOK = os.path.join(ROOT, "notebooks", "quickstart.ipynb")


def _parameter_cell() -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # committed without outputs
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    return tagged[0]


def test_the_small_budget_switch_sets_every_parameter_small():
    names = ("TOTAL_STEPS", "EVAL_EVERY", "LEARNING_STARTS", "BATCH_SIZE", "HIDDEN_SIZES", "EVAL_EPISODES")
    names += ("NUM_SEEDS", "SIGMAS")
    values: dict = {}
    for quick, value in ((False, None), (False, "0"), (True, "1")):
        env = {} if value is None else {"PN_JAX_QUICK": value}
        scope: dict = {}
        saved = os.environ.pop("PN_JAX_QUICK", None)
        os.environ.update(env)
        try:
            exec(_parameter_cell().source, scope)
        finally:
            os.environ.pop("PN_JAX_QUICK", None)
            if saved is not None:
                os.environ["PN_JAX_QUICK"] = saved
        if quick in values:
            assert values[quick] == {name: scope[name] for name in names}  # PN_JAX_QUICK=0 is off
        values[quick] = {name: scope[name] for name in names}
    assert values[False]["TOTAL_STEPS"] == 20_000 and values[False]["NUM_SEEDS"] == 4
    assert values[True] == dict(
        TOTAL_STEPS=300, EVAL_EVERY=150, LEARNING_STARTS=128, BATCH_SIZE=32, HIDDEN_SIZES=(16, 16),
        EVAL_EPISODES=2, NUM_SEEDS=2, SIGMAS=(0.1, 0.3),
    )  # fmt: skip


def test_quickstart_runs_under_nbmake(tmp_path):
    _parameter_cell()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbmake", "--nbmake-timeout=600", "-q", "-n", "0", "-p", "no:cacheprovider"]
        + [NOTEBOOK],  # (-n 0: the notebook alone, without the suite's parallel workers)
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=dict(os.environ, PN_JAX_QUICK="1"),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
