"""Every fenced block of README.md is checked, so the page cannot drift from the code.

By the block's language:

- ``python``: executed as printed, each block in a fresh namespace (in this process, so the blocks
  share one JAX runtime), then its results are checked. Nothing is substituted: the blocks are
  written with small budgets (``total_steps=1_000``).
- ``bash``: every simple command (lines joined at ``\\``, split at ``&&``, ``;``, ``&`` and ``|``,
  comments dropped) must match a rule below. ``pn-<name> …`` and ``python scripts/<name>.py …`` go
  through that command's own flag parsing and config validation, its ``cli(argv)``, with the
  module's ``main`` replaced by a recorder, so nothing trains. The test command must be the one
  ``.ci/run`` runs; ``pip install`` may name only extras that pyproject.toml declares; ``jupyter``
  must open a file that exists. Shell plumbing (the venv, ``export``, ``srun``'s own options) is
  allow-listed by name. A ``$NAME`` placeholder is read as ``0``.
- ``bibtex``: one entry with balanced braces and the fields a citation needs.

A block in another language, a Python block no test below knows, or a command no rule covers fails
:func:`test_every_block_is_checked`. RESULTS.md's Python block (an exploration strategy in a
hand-written loop) is executed too, and the Markdown links of README.md, RESULTS.md and
BENCHMARKS.md must point at files and headings that exist.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import sys
import tomllib

import jax
import numpy as np
import pytest
from conftest import ROOT

import pn_jax

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
PLACEHOLDER = re.compile(r"^\$\w+$")  # e.g. `--process-id $I`: read as 0
SHELL_PLUMBING = {  # first word: allowed with any arguments (they set up a shell, not pn_jax)
    ".": "activate the virtualenv",
    "export": "set an environment variable",
    "cd": "change folder",
    "git": "clone the repository",
}
WRAPPERS = {"srun"}  # launchers whose own options come before the command they start


def _read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def _blocks(name: str = "README.md") -> list[tuple[str, str]]:
    """``(language, code)`` of every fenced block of a Markdown file, in order."""
    return FENCE.findall(_read(name))


def _python_blocks(name: str = "README.md") -> list[str]:
    return [code for language, code in _blocks(name) if language == "python"]


README_PYTHON = {  # a line that identifies each Python block of the README: the test that runs it
    "python api": "network_input",
    "noise primitives": "noise.adapt_sigma",
    "own environment": "envs.register",
    "scaling out": "sharded_vmap",
}


def _block(name: str) -> str:
    (block,) = [b for b in _python_blocks() if README_PYTHON[name] in b]
    return block


def _run(block: str, name: str) -> dict:
    namespace: dict = {"__name__": "readme"}
    exec(compile(block, f"README.md ({name})", "exec"), namespace)
    return namespace


# --- bash blocks ---------------------------------------------------------------------------------


def _commands(block: str) -> list[list[str]]:
    """The simple commands of a shell block, as word lists (comments dropped, ``$NAME`` read as 0)."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for word in lexer:
            if word in ("&&", ";", "&", "|", "||"):
                commands.append(command)
                command = []
            else:
                command.append("0" if PLACEHOLDER.match(word) else word)
        commands.append(command)
    return [c for c in commands if c]


def _strip(command: list[str]) -> list[str]:
    """``command`` without leading ``NAME=value`` assignments and launcher prefixes (``srun …``)."""
    while command and re.match(r"^[A-Za-z_]\w*=", command[0]):
        command = command[1:]
    if command and command[0] in WRAPPERS:
        starts = [i for i, word in enumerate(command) if word.startswith("pn-") or word == "python"]
        assert starts, f"{shlex.join(command)}: {command[0]} starts no pn_jax command"
        command = command[starts[0] :]
    return command


def _pn_command(command: list[str]) -> tuple[str, list[str]] | None:
    """``(module name, argv)`` for ``pn-<name> …`` or ``python scripts/<name>.py …``, else None."""
    if command[0].startswith("pn-"):
        return command[0][3:], command[1:]
    if command[0] == "python" and len(command) > 1 and re.fullmatch(r"scripts/\w+\.py", command[1]):
        return command[1][len("scripts/") : -len(".py")], command[2:]
    return None


def _pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _ci_command() -> str:
    return next(line.split(" || ")[0] for line in _read(".ci/run").splitlines() if "pytest" in line)


def _check_other(command: list[str]) -> None:
    """Every command that is not a pn_jax command: allowed, and checked where there is something to check."""
    word = command[0]
    if word in SHELL_PLUMBING:
        return
    if command[:3] == ["python3", "-m", "venv"]:
        return
    if command[:3] == ["python", "-m", "pytest"]:
        assert shlex.join(command) in _ci_command(), ".ci/run must run the README's test command"
        return
    if command[:2] == ["pip", "install"]:
        declared = set(_pyproject()["project"]["optional-dependencies"])
        for spec in command[2:]:
            if extras := re.fullmatch(r"\.\[([\w,-]+)\]", spec):
                missing = set(extras.group(1).split(",")) - declared
                assert not missing, f"pip install {spec}: pyproject.toml declares no extra {missing}"
        return
    if word == "jupyter":
        notebook = _pyproject()["project"]["optional-dependencies"].get("notebook", [])
        assert any(re.match(r"jupyter(lab)?\b", req) for req in notebook), "the notebook extra must install Jupyter"
        assert os.path.isfile(os.path.join(ROOT, command[-1])), f"{command[-1]} does not exist"
        return
    pytest.fail(f"README command {shlex.join(command)!r} is neither parsed nor allow-listed: add a rule to this test")


def _readme_commands() -> list[list[str]]:
    return [
        _strip(command)
        for language, code in _blocks()
        if language in ("bash", "sh", "shell")
        for command in _commands(code)
    ]


def _pn_cases() -> list:
    return [
        pytest.param(*parsed, id=shlex.join(command)[:80])
        for command in _readme_commands()
        if (parsed := _pn_command(command))
    ]


@pytest.fixture
def my_package(tmp_path, monkeypatch):
    """``moon:make_env``, the README's example of a user's module in the working directory, importable."""
    (tmp_path / "moon.py").write_text(
        "import gymnax\n\n\ndef make_env():\n"
        '    env, params = gymnax.make("Pendulum-v1")\n'
        "    return env, params.replace(g=1.62)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("moon", None)


@pytest.mark.parametrize("name,argv", _pn_cases())
def test_command_parses(name, argv, my_package, tmp_path, monkeypatch, capsys):
    scripts = _pyproject()["project"]["scripts"]
    assert f"pn-{name}" in scripts, f"pn-{name} is not an installed command"
    assert os.path.isfile(os.path.join(ROOT, "scripts", f"{name}.py")), f"scripts/{name}.py is missing"
    module = importlib.import_module(f"pn_jax.cli.{name}")
    parsed = []
    monkeypatch.setattr(module, "main", lambda *args, **kwargs: parsed.append(args))
    monkeypatch.chdir(tmp_path)  # (in case parsing creates an output folder)
    try:
        module.cli(list(argv))
    except SystemExit as exit_:
        pytest.fail(f"pn-{name} {shlex.join(argv)} does not parse: {''.join(capsys.readouterr())} (exit {exit_.code})")
    assert len(parsed) == 1


def test_the_first_two_commands_install_and_train_and_install_and_test():
    first, second = (code.strip() for language, code in _blocks()[:2] if language == "bash")
    install = "python3 -m venv .venv && . .venv/bin/activate && pip install -e ."
    assert first == f"{install} && python scripts/train.py --out runs/pendulum"
    assert second == _ci_command()


def test_bibtex():
    (entry,) = [code for language, code in _blocks() if language == "bibtex"]
    assert entry.startswith("@inproceedings{") and entry.count("{") == entry.count("}")
    for field in ("title", "author", "booktitle", "year"):
        assert re.search(rf"^\s*{field}\s*=", entry, re.M), field


def test_every_block_is_checked():
    languages = [language for language, _ in _blocks()]
    assert set(languages) <= {"python", "bash", "bibtex"}, f"a README block nothing checks: {languages}"
    blocks = _python_blocks()
    for block in blocks:
        names = [name for name, line in README_PYTHON.items() if line in block]
        assert len(names) == 1, f"a README Python block without its test (give it one here):\n{block}"
    assert len(blocks) == len(README_PYTHON)
    for command in _readme_commands():
        if not _pn_command(command):
            _check_other(command)  # fails for a command no rule covers


def test_readme_is_short():
    assert len(_read("README.md").splitlines()) <= 300


# --- python blocks -------------------------------------------------------------------------------


def test_python_api():
    namespace = _run(_block("python api"), "python api")
    config = namespace["config"]
    assert namespace["metrics"].eval_return.shape == (4, config.total_steps // config.eval_every)
    assert np.all(np.isfinite(np.asarray(namespace["metrics"].eval_return)))
    assert namespace["paper"].batch_size == 64 and namespace["action"].shape == (1, 1)


def test_noise_primitives():
    namespace = _run(_block("noise primitives"), "noise primitives")
    assert float(namespace["d"]) > 0
    assert float(namespace["sigma"]) in (pytest.approx(0.2 / 1.01), pytest.approx(0.2 * 1.01))


def test_own_environment():
    namespace = _run(_block("own environment"), "own environment")
    assert namespace["metrics"].eval_return.shape[0] == 2
    assert np.all(np.isfinite(np.asarray(namespace["metrics"].eval_return)))
    pn_jax.make_train(namespace["moon_config"])  # the registered name builds a run


def test_scaling_out():
    namespace = _run(_block("scaling out"), "scaling out")
    config, metrics = namespace["config"], namespace["metrics"]
    assert metrics.eval_return.shape == (4, config.total_steps // config.eval_every)
    assert np.all(np.isfinite(np.asarray(metrics.eval_return)))
    sigma_0 = metrics.sigma[:, 0]  # the σ in force before the first adaptation: the grid's σ₀
    np.testing.assert_allclose(sigma_0, [0.05, 0.1, 0.2, 0.4], rtol=1e-6)


# --- RESULTS.md: an exploration strategy in a hand-written loop ------------------------------------


@pytest.fixture(scope="module")
def own_loop() -> dict:
    (block,) = _python_blocks("RESULTS.md")
    namespace: dict = {"__name__": "results"}
    exec(compile(block, "RESULTS.md (own loop)", "exec"), namespace)
    return namespace


def test_own_loop_resamples_at_every_episode_end(own_loop):
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


def test_own_loop_stores_the_pre_reset_observation_at_an_episode_end(own_loop):
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


# --- links -----------------------------------------------------------------------------------------


def _anchors(name: str) -> set[str]:
    """GitHub's anchors for a Markdown file's headings (lower case, punctuation dropped, spaces to -)."""
    text = FENCE.sub("", _read(name))
    headings = re.findall(r"^#+ (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("name", ["README.md", "RESULTS.md", "BENCHMARKS.md"])
def test_links_point_at_files_and_headings_that_exist(name):
    text = FENCE.sub("", _read(name))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        path = path or name
        assert os.path.exists(os.path.join(ROOT, path)), f"{name}: link to {target}: no such file"
        if anchor:
            assert anchor in _anchors(path), f"{name}: link to {target}: no such heading in {path}"
