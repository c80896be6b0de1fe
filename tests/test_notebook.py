"""notebooks/quickstart.ipynb runs top to bottom under nbmake on a tiny budget."""

from __future__ import annotations

import os
import subprocess
import sys

import nbformat
from conftest import ROOT

NOTEBOOK = os.path.join(ROOT, "notebooks", "quickstart.ipynb")
TINY_PARAMETERS = """TOTAL_STEPS = 300
EVAL_EVERY = 150
LEARNING_STARTS = 128
BATCH_SIZE = 32
HIDDEN_SIZES = (16, 16)
EVAL_EPISODES = 2
NUM_SEEDS = 2
SIGMAS = (0.1, 0.3)"""


def test_committed_notebook_has_a_parameter_cell_and_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = {line.split("=")[0].strip() for line in TINY_PARAMETERS.splitlines()}
    assert names == {line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line}
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_quickstart_runs_under_nbmake(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    next(c for c in nb.cells if "parameters" in c.metadata.get("tags", [])).source = TINY_PARAMETERS
    path = tmp_path / "quickstart.ipynb"
    nbformat.write(nb, path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbmake", "--nbmake-timeout=600", "-q", "-p", "no:cacheprovider", str(path)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
