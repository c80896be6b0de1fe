"""Figures for papers: pn-plot and results.plot_runs overlay run folders as PNG + PDF (or SVG), one
column wide, with the band named by the seed count; one-line errors for bad input."""

from __future__ import annotations

import dataclasses
import json
import struct

import matplotlib.figure
import matplotlib.text
import numpy as np
import pytest
from conftest import TINY, TINY_DQN, run_script

from pn_jax import DDPGConfig, DQNConfig
from pn_jax.cli import plot
from pn_jax.results import (
    COLUMN_WIDTH,
    PAPER_STYLE,
    figure_paths,
    plot_returns,
    plot_runs,
    plot_settings,
    run_labels,
)


def record(exploration: str = "param", seeds: int = 3, env: str | None = None, algo: str = "ddpg") -> dict:
    """A metrics.json record as pn-train writes it (the parts a figure reads), ``seeds`` seeds, 4 evaluations."""
    config = DQNConfig(**TINY_DQN) if algo == "dqn" else DDPGConfig(**TINY)
    config = dataclasses.replace(config, exploration=exploration, **({"env": env} if env else {}))
    rng = np.random.default_rng(seeds)
    steps = [0, 100, 200, 300]
    returns = [[float(-1200 + 300 * i + rng.normal(0, 50)) for i in range(len(steps))] for _ in range(seeds)]
    return {
        "algo": algo,
        "config": dataclasses.asdict(config),
        "seeds": list(range(seeds)),
        "eval": {"step": steps, "return": returns},
    }


def run_folder(path, rec: dict) -> str:
    path.mkdir(parents=True)
    (path / "metrics.json").write_text(json.dumps(rec))
    return str(path)


def png_size(path) -> tuple[int, int]:
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def is_pdf(path) -> bool:
    data = open(path, "rb").read()
    return data.startswith(b"%PDF") and len(data) > 1000


@pytest.fixture
def saved_figures(monkeypatch):
    """Every figure saved while the test runs."""
    figures: list[matplotlib.figure.Figure] = []
    savefig = matplotlib.figure.Figure.savefig

    def recording(fig, *args, **kwargs):
        figures.append(fig)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", recording)
    return figures


def texts(fig: matplotlib.figure.Figure) -> list[matplotlib.text.Text]:
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


# ---- the library ----


def test_plot_runs_writes_png_and_pdf_one_column_wide_with_no_text_below_8pt(tmp_path, saved_figures):
    figure = plot_runs({"param": record("param"), "OU": record("ou")}, str(tmp_path / "fig"), "Pendulum-v1")
    assert (figure.png, figure.vector) == (str(tmp_path / "fig.png"), str(tmp_path / "fig.pdf"))
    width, _ = png_size(figure.png)
    assert width == round(COLUMN_WIDTH * PAPER_STYLE["savefig.dpi"])
    assert is_pdf(figure.vector)
    fig = saved_figures[0]
    assert fig.get_size_inches()[0] == pytest.approx(COLUMN_WIDTH)
    shown = texts(fig)
    assert {"param", "OU", "Pendulum-v1", "shaded: range over seeds [min, max]"} <= {t.get_text() for t in shown}
    assert min(t.get_fontsize() for t in shown) >= 8


@pytest.mark.parametrize(
    ("out", "png", "vector"),
    [
        ("fig", "fig.png", "fig.pdf"),
        ("fig.png", "fig.png", "fig.pdf"),
        ("fig.pdf", "fig.png", "fig.pdf"),
        ("fig.svg", "fig.png", "fig.svg"),
        ("fig.v2", "fig.v2.png", "fig.v2.pdf"),
        ("figs/a.PDF", "figs/a.png", "figs/a.pdf"),
    ],
)
def test_both_formats_are_always_written_whatever_out_names(out, png, vector):
    assert figure_paths(out) == (png, vector)


@pytest.mark.parametrize("out", ["fig.jpg", "fig.eps", "figs/"])
def test_an_image_format_not_written_or_a_folder_is_refused(out):
    with pytest.raises(ValueError, match="out"):
        figure_paths(out)


@pytest.mark.parametrize(
    ("seeds", "band"),
    [
        ((3, 3), "range over seeds [min, max]"),
        ((8, 8), "95% bootstrap CI"),
        ((3, 8), "95% bootstrap CI, or range with < 5 seeds"),
    ],
)
def test_the_band_is_named_by_the_seed_count_a_range_below_five_seeds(tmp_path, seeds, band):
    runs = {"param": record("param", seeds[0]), "gaussian": record("gaussian", seeds[1])}
    figure = plot_runs(runs, str(tmp_path / "fig.svg"))
    assert figure.band == band
    assert ("CI" in band) == (max(seeds) >= 5) and ("range" in band) == (min(seeds) < 5)
    svg = open(figure.vector).read()  # SVG keeps its text as text
    assert f"shaded: {band}".replace("<", "&lt;") in svg
    if seeds[0] != seeds[1]:  # mixed bands: each entry gives its seed count
        assert "param (3 seeds)" in svg and "gaussian (8 seeds)" in svg


def test_single_run_and_sweep_figures_share_the_paper_style(tmp_path, saved_figures):
    plot_returns(record("param", 8), str(tmp_path / "returns.png"))
    plot_settings({f"setting {i}": record("param", 3) for i in range(8)}, str(tmp_path / "sweep.png"), "sweep")
    single, sweep = saved_figures
    assert single.get_size_inches()[0] == pytest.approx(COLUMN_WIDTH)
    assert sweep.get_size_inches()[0] > COLUMN_WIDTH  # too many curves for a column
    for fig in (single, sweep):
        assert min(t.get_fontsize() for t in texts(fig)) >= 8
    assert png_size(tmp_path / "returns.png")[0] == round(COLUMN_WIDTH * PAPER_STYLE["savefig.dpi"])
    assert not (tmp_path / "returns.pdf").exists()  # a command's own figure keeps its one format


def test_default_labels_say_what_differs_between_the_runs():
    folders = ["runs/a", "runs/b"]
    assert run_labels([record("param"), record("ou")], folders) == ["param", "ou"]
    assert run_labels([record("param"), record("param", algo="td3")], folders) == ["DDPG", "TD3"]
    both = [record("param"), record("ou", algo="td3")]
    assert run_labels(both, folders) == ["DDPG, param", "TD3, ou"]
    assert run_labels([record("param"), record("param", algo="dqn")], folders) == [
        "DDPG, Pendulum-v1",
        "DQN, CartPole-v1",
    ]
    presets = [{**record("param"), "preset": "plappert2018"}, {**record("param"), "preset": "fujimoto2018"}]
    assert run_labels(presets, folders) == ["plappert2018", "fujimoto2018"]
    sigma = record("param")
    sigma["config"]["sigma_init"] = 0.4
    assert run_labels([record("param"), sigma, record("ou")], [*folders, "runs/c"]) == [
        "param, sigma_init=0.2",
        "param, sigma_init=0.4",
        "ou, sigma_init=0.2",
    ]
    assert run_labels([record("param"), record("param")], ["x/one", "y/two"]) == ["one", "two"]
    assert run_labels([record("param"), record("param")], ["x/run", "y/run"]) == ["x/run", "y/run"]
    assert run_labels([record("ou")], ["runs/a"]) == ["DDPG, ou"]


# ---- the command ----


def test_pn_plot_writes_png_and_pdf_from_two_run_folders(tmp_path, capsys):
    a = run_folder(tmp_path / "runs" / "param", record("param", 8))
    b = run_folder(tmp_path / "runs" / "ou", record("ou", 8))
    plot.cli([a, b, "--out", str(tmp_path / "figures" / "pendulum")])
    out = capsys.readouterr().out
    assert is_pdf(tmp_path / "figures" / "pendulum.pdf")
    assert png_size(tmp_path / "figures" / "pendulum.png")[0] == round(COLUMN_WIDTH * PAPER_STYLE["savefig.dpi"])
    assert f"wrote {tmp_path / 'figures' / 'pendulum.png'} and {tmp_path / 'figures' / 'pendulum.pdf'}" in out
    assert "shaded: 95% bootstrap CI" in out


def test_pn_plot_svg_labels_and_title(tmp_path, capsys):
    a = run_folder(tmp_path / "a", record("param", 3))
    b = run_folder(tmp_path / "b", record("ou", 3))
    plot.cli(
        [a, str(tmp_path / "b" / "metrics.json"), "--out", str(tmp_path / "fig.svg"), "--labels", "PN", "OU noise"]
    )
    assert png_size(tmp_path / "fig.png")[0] > 0
    svg = (tmp_path / "fig.svg").read_text()
    assert "PN" in svg and "OU noise" in svg and "Pendulum-v1" in svg and "shaded: range over seeds" in svg
    assert not (tmp_path / "fig.pdf").exists()
    plot.cli([a, b, "--out", str(tmp_path / "plain.svg"), "--title", ""])
    svg = (tmp_path / "plain.svg").read_text()
    assert "param" in svg and "Pendulum-v1" not in svg  # default labels; no title


def test_runs_on_different_envs_are_plotted_with_a_warning(tmp_path, capsys):
    a = run_folder(tmp_path / "a", record("param"))
    b = run_folder(tmp_path / "b", record("param", env="MountainCarContinuous-v0"))
    plot.cli([a, b, "--out", str(tmp_path / "fig")])
    err = capsys.readouterr().err
    assert err.startswith("warning: the runs are on different envs (Pendulum-v1, MountainCarContinuous-v0)")
    assert is_pdf(tmp_path / "fig.pdf")
    assert "MountainCarContinuous-v0" in run_labels(
        [record("param"), record("param", env="MountainCarContinuous-v0")], [a, b]
    )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("none", "runs: give the run folders to plot"),
        ("missing", "runs: {tmp}/nowhere does not exist"),
        ("empty", "runs: {tmp}/empty holds no metrics.json"),
        ("sweep", "runs: {tmp}/sweep holds no metrics.json; the runs below it are in {tmp}/sweep/param/s1"),
        ("labels", "labels: 1 given for 2 runs"),
        ("same labels", "labels: 'x' is given twice"),
        ("twice", "runs: {tmp}/a is given twice"),
        ("not json", "runs: cannot read {tmp}/broken/metrics.json"),
        ("no eval", "runs: {tmp}/noeval/metrics.json is not a run's metrics.json: it has no eval series"),
        ("jpg", "out: {tmp}/fig.jpg asks for JPG"),
        ("out folder", "out: {tmp}/a/metrics.json is a file"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(tmp_path, capsys, case, expected):
    a = run_folder(tmp_path / "a", record("param"))
    b = run_folder(tmp_path / "b", record("ou"))
    (tmp_path / "empty").mkdir()
    run_folder(tmp_path / "sweep" / "param" / "s1", record("param"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{not json")
    run_folder(tmp_path / "noeval", {"config": {"env": "Pendulum-v1", "exploration": "param"}})
    out = str(tmp_path / "fig")
    argv = {
        "none": ["--out", out],
        "missing": [a, str(tmp_path / "nowhere"), "--out", out],
        "empty": [a, str(tmp_path / "empty"), "--out", out],
        "sweep": [str(tmp_path / "sweep"), "--out", out],
        "labels": [a, b, "--out", out, "--labels", "x"],
        "same labels": [a, b, "--out", out, "--labels", "x", "x"],
        "twice": [a, a + "/", "--out", out],
        "not json": [a, str(tmp_path / "broken"), "--out", out],
        "no eval": [a, str(tmp_path / "noeval"), "--out", out],
        "jpg": [a, b, "--out", out + ".jpg"],
        "out folder": [a, b, "--out", str(tmp_path / "a" / "metrics.json" / "fig")],
    }[case]
    with pytest.raises(SystemExit) as exit_info:
        plot.cli(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("error: " + expected.format(tmp=tmp_path)), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "fig.png").exists()


def test_scripts_plot_py_is_the_pn_plot_command(tmp_path):
    a = run_folder(tmp_path / "a", record("param", 5))
    b = run_folder(tmp_path / "b", record("gaussian", 5))
    result = run_script("plot.py", a, b, "--out", str(tmp_path / "fig.pdf"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert is_pdf(tmp_path / "fig.pdf") and png_size(tmp_path / "fig.png")[0] > 0
    help_text = run_script("plot.py", "--help", timeout=120).stdout
    assert "RUN_DIR" in help_text and "--out" in help_text and "--labels" in help_text
