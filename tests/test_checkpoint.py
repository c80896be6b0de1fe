"""Checkpoint / resume (pn_jax.checkpoint, pn_jax.runner): exact resumes, damaged files, foreign runs, NaN guards."""

from __future__ import annotations

import json
import os
import shutil
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY, TINY_DQN

from pn_jax import DDPGConfig, DQNConfig, checkpoint, make_train, parallel, runner
from pn_jax.train import make_trainer

# 4 evaluation chunks of 150 steps; 2 seeds vmapped together.
CONFIG = DDPGConfig(**{**TINY, "total_steps": 600})
KEYS = jax.random.split(jax.random.key(11), 2)
IDENTITY = checkpoint.run_identity(CONFIG, KEYS)

# A failed read prints one clear error and nothing after it (orbax's late "Event loop is closed" noise).
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")


def assert_identical(a, b) -> None:
    """Every leaf bit for bit (NaN where NaN); PRNG keys compared by their data."""
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run, the same run checkpointing every 300 steps, and a resume from step 300."""
    plain = runner.run(CONFIG, KEYS)
    directory = str(tmp_path_factory.mktemp("ckpt") / "checkpoints")
    saved = runner.run(CONFIG, KEYS, checkpoint_dir=directory, checkpoint_every=300, meta={"note": "x"})
    kept = str(tmp_path_factory.mktemp("kept"))
    shutil.copytree(directory, kept, dirs_exist_ok=True)
    shutil.rmtree(os.path.join(directory, "600"))  # as if killed before the second checkpoint
    with warnings.catch_warnings():  # the same setup: no warning
        warnings.simplefilter("error", checkpoint.ResumeWarning)
        resumed = runner.run(CONFIG, KEYS, checkpoint_dir=directory, checkpoint_every=300, resume=True)
    return plain, saved, resumed, kept


def test_checkpointing_and_resuming_give_the_uninterrupted_numbers(runs):
    plain, saved, resumed, _ = runs
    assert plain.steps == saved.steps == resumed.steps == 600
    assert_identical(saved.metrics, plain.metrics)
    assert_identical(resumed.metrics, plain.metrics)
    assert np.asarray(plain.metrics.eval_return).shape == (2, 4)
    assert plain.nonfinite is None and plain.checkpoint is None


def test_runner_agrees_with_the_fused_train_up_to_rounding(runs):
    """One jit(vmap(make_train)) is another XLA program: same algorithm, same keys, float rounding apart."""
    plain = runs[0]
    _, fused = jax.jit(jax.vmap(make_train(CONFIG)))(KEYS)
    np.testing.assert_array_equal(plain.metrics.log_step, fused.log_step)
    np.testing.assert_allclose(plain.metrics.sigma[:, :6], fused.sigma[:, :6], rtol=1e-4)
    np.testing.assert_allclose(plain.metrics.eval_return[:, 0], fused.eval_return[:, 0], rtol=1e-3)


def test_checkpoint_holds_the_whole_state_bit_for_bit(runs):
    _, _, _, kept = runs
    trainer = make_trainer(CONFIG)
    like = jax.eval_shape(jax.vmap(trainer.init), KEYS)
    assert checkpoint.steps(kept) == [300, 600]
    first = checkpoint.restore(kept, like, step=300, identity=IDENTITY)
    assert (first.step, first.chunk, first.meta["note"]) == (300, 2, "x")
    assert first.identity == IDENTITY
    assert first.setup == checkpoint.run_setup(jax.devices()[:1], 2)
    assert (first.setup["devices"], first.setup["batch_per_device"], first.setup["jax"]) == (1, 2, jax.__version__)
    assert np.asarray(first.log.eval_step).tolist() == [[150, 300]] * 2
    # Continuing the restored state by hand gives the state saved at 600.
    advance = jax.jit(jax.vmap(lambda s, c: trainer.advance(s, c, num_chunks=2), in_axes=(0, None)))
    state, _ = advance(first.state, np.int32(2))
    assert_identical(jax.device_get(state), checkpoint.restore(kept, like, identity=IDENTITY).state)


def test_checkpoint_keeps_the_newest_two(tmp_path, runs):
    _, _, _, kept = runs
    like = jax.eval_shape(jax.vmap(make_trainer(CONFIG).init), KEYS)
    ckpt = checkpoint.restore(kept, like, identity=IDENTITY)
    for step in (600, 750, 900):
        checkpoint.save(str(tmp_path), ckpt._replace(step=step))
    assert checkpoint.steps(str(tmp_path)) == [750, 900]
    with pytest.raises(ValueError, match="identity: a checkpoint must record the run that wrote it"):
        checkpoint.save(str(tmp_path), ckpt._replace(step=1050, identity=None))
    assert checkpoint.steps(str(tmp_path)) == [750, 900]


@pytest.fixture
def damaged(tmp_path, runs):
    """A copy of the run's checkpoints to damage, and the state shape they must fit."""
    directory = str(tmp_path / "checkpoints")
    shutil.copytree(runs[3], directory)
    return directory, jax.eval_shape(jax.vmap(make_trainer(CONFIG).init), KEYS)


def _meta_path(directory: str, step: int) -> str:
    return os.path.join(directory, str(step), "meta", "metadata")


def _edit_meta(directory: str, step: int, edit) -> None:
    """Applies ``edit`` to a checkpoint's metadata and redoes its digest (as a run that wrote it so would)."""
    with open(_meta_path(directory, step)) as f:
        meta = json.load(f)
    edit(meta)
    meta["digest"] = checkpoint._meta_digest(meta)
    with open(_meta_path(directory, step), "w") as f:
        json.dump(meta, f)


def _array_files(step_dir: str) -> list[str]:
    files = [os.path.join(d, f) for d, _, names in os.walk(os.path.join(step_dir, "arrays")) for f in names]
    return sorted((f for f in files if os.sep + "d" + os.sep in f), key=os.path.getsize)


def test_truncated_array_file_is_a_clear_error(damaged):
    directory, like = damaged
    largest = _array_files(os.path.join(directory, "600"))[-1]
    with open(largest, "r+b") as f:
        f.truncate(os.path.getsize(largest) // 2)
    with pytest.raises(checkpoint.CheckpointError, match=r"600 is corrupt or truncated: \S+ cannot be read \(\w+"):
        checkpoint.restore(directory, like, identity=IDENTITY)
    assert checkpoint.restore(directory, like, step=300, identity=IDENTITY).step == 300  # the older one still loads


def test_altered_bytes_are_caught_by_the_digest(damaged):
    """orbax reads a flipped byte back as a different number without noticing: the digest does."""
    directory, like = damaged
    path = _array_files(os.path.join(directory, "600"))[-1]
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(path, "wb").write(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match=r"600 is corrupt: leaf .* differs from what was written"):
        checkpoint.restore(directory, like, identity=IDENTITY)


def test_a_missing_array_file_is_a_clear_error(damaged):
    directory, like = damaged
    os.remove(_array_files(os.path.join(directory, "600"))[-1])
    with pytest.raises(checkpoint.CheckpointError, match=r"600 is corrupt or truncated: \S+ cannot be read \(\w+"):
        checkpoint.restore(directory, like, identity=IDENTITY)


@pytest.mark.parametrize("content", ["", "{not json", '{"format": 1}', '{"format": 2}', '{"format": 99}'])
def test_damaged_metadata_is_a_clear_error(damaged, content):
    directory, like = damaged
    with open(_meta_path(directory, 600), "w") as f:
        f.write(content)
    with pytest.raises(checkpoint.CheckpointError, match="600"):
        checkpoint.restore(directory, like, identity=IDENTITY)
    with pytest.raises(checkpoint.CheckpointError, match="600"):
        checkpoint.read_meta(directory)


@pytest.mark.parametrize(
    "edit,named",
    [
        (lambda m: m["leaves"]["state"][0].__setitem__(1, ["x"]), "leaves"),
        (lambda m: m["digests"]["log"].pop(), "digests"),
        (lambda m: m["identity"]["seeds"].append(7), "identity"),
        (lambda m: m.__setitem__("step", -1), "step"),
        (lambda m: m["identity"].pop("hparams"), "identity"),
        (lambda m: m["setup"].__setitem__("batch_per_device", "2"), "setup"),
    ],
)
def test_metadata_of_another_shape_is_refused_even_with_its_digest_redone(damaged, edit, named):
    directory, like = damaged
    _edit_meta(directory, 600, edit)
    malformed = f"600 is corrupt: its metadata has a missing or malformed {named}$"
    with pytest.raises(checkpoint.CheckpointError, match=malformed):
        checkpoint.restore(directory, like, identity=IDENTITY)


def test_a_state_of_another_shape_is_refused_even_unchecked(damaged):
    """Without an identity to check (``identity=None``), the leaf shapes still have to fit."""
    directory, _ = damaged
    wider = DDPGConfig(**{**TINY, "total_steps": 600, "hidden_sizes": (32, 16)})
    with pytest.raises(checkpoint.CheckpointError, match="does not match this run"):
        checkpoint.restore(directory, jax.eval_shape(jax.vmap(make_trainer(wider).init), KEYS), identity=None)
    three = jax.random.split(jax.random.key(0), 3)
    with pytest.raises(checkpoint.CheckpointError, match="number of seeds"):
        checkpoint.restore(directory, jax.eval_shape(jax.vmap(make_trainer(CONFIG).init), three), identity=None)


def test_resuming_a_checkpoint_of_another_config_names_the_fields(damaged):
    """Run B (another strategy, learning rate, δ and schedule) has the state shapes of run A: its
    arrays would restore, so the config has to be checked, and the message names what differs."""
    directory, _ = damaged
    other = CONFIG.replace(
        exploration="param+gaussian", actor_lr=3e-2, target_distance=0.05, eval_every=300, adapt_every=100
    )
    with pytest.raises(checkpoint.CheckpointError) as err:
        runner.run(other, KEYS, checkpoint_dir=directory, checkpoint_every=300, resume=True)
    assert str(err.value) == (
        f"checkpoint {os.path.join(directory, '600')} was written by a run with another config "
        "(exploration: 'param' there vs 'param+gaussian' here, actor_lr: 0.001 vs 0.03, "
        "target_distance: 0.2 vs 0.05, adapt_every: 50 vs 100, eval_every: 150 vs 300)"
    )
    like = jax.eval_shape(jax.vmap(make_trainer(other).init), KEYS)
    assert checkpoint.restore(directory, like, identity=None).step == 600  # what went unnoticed before
    wider = CONFIG.replace(hidden_sizes=(32, 16))
    with pytest.raises(checkpoint.CheckpointError, match=r"another config \(hidden_sizes: \[16, 16\] there vs \[32"):
        checkpoint.restore(directory, like, identity=checkpoint.run_identity(wider, KEYS))


def test_resuming_with_other_seeds_is_refused(damaged):
    directory, like = damaged
    other_keys = jax.vmap(jax.random.key)(jnp.array([100, 101], jnp.uint32))
    with pytest.raises(
        checkpoint.CheckpointError,
        match=r"600 was written by a run with other seeds \(seeds \[0, 1\] there vs \[100, 101\] here\)$",
    ):
        runner.run(CONFIG, other_keys, checkpoint_dir=directory, resume=True, seeds=[100, 101])
    with pytest.raises(
        checkpoint.CheckpointError,
        match=r"other seeds \(the same seed numbers, but the PRNG keys of seeds \[0, 1\] differ\)$",
    ):
        checkpoint.restore(directory, like, identity=checkpoint.run_identity(CONFIG, other_keys))
    three = jax.random.split(jax.random.key(11), 3)
    with pytest.raises(
        checkpoint.CheckpointError, match=r"other seeds \(2 seeds there vs 3 here: \[0, 1\] vs \[0, 1, 2\]\)$"
    ):
        checkpoint.restore(directory, like, identity=checkpoint.run_identity(CONFIG, three))
    # Seed numbers only label the keys: the same keys under other numbers are the same run.
    same = checkpoint.run_identity(CONFIG, KEYS, seeds=[7, 8])
    assert checkpoint.restore(directory, like, identity=same).step == 600
    with pytest.raises(ValueError, match="seeds: 3 seed numbers for 2 keys"):
        checkpoint.run_identity(CONFIG, KEYS, seeds=[7, 8, 9])


def test_another_algorithm_or_hyper_parameter_grid_is_another_config(damaged, tmp_path):
    directory, like = damaged
    with pytest.raises(checkpoint.CheckpointError, match=r"another config \(a DDPGConfig there, a DQNConfig here\)$"):
        checkpoint.restore(directory, like, identity=checkpoint.run_identity(DQNConfig(**TINY_DQN), KEYS))
    grid = jax.tree.map(lambda x: jnp.stack([x, 2 * x]), CONFIG.hparams())
    with pytest.raises(
        checkpoint.CheckpointError, match=r"another config \(hparams: from the config there vs explicit here\)$"
    ):
        checkpoint.restore(directory, like, identity=checkpoint.run_identity(CONFIG, KEYS, grid))
    # A checkpoint of a grid run resumes with that grid only.
    ckpt = checkpoint.restore(directory, like, identity=IDENTITY)
    gridded = str(tmp_path / "grid")
    checkpoint.save(gridded, ckpt._replace(identity=checkpoint.run_identity(CONFIG, KEYS, grid)))
    assert checkpoint.restore(gridded, like, identity=checkpoint.run_identity(CONFIG, KEYS, grid)).step == 600
    other = grid._replace(actor_lr=jnp.array([1e-3, 3e-3], jnp.float32))
    with pytest.raises(
        checkpoint.CheckpointError,
        match=r"another config \(hparams.actor_lr: \[0.001, 0.002\] there vs \[0.001, 0.003\] here\)$",
    ):
        checkpoint.restore(gridded, like, identity=checkpoint.run_identity(CONFIG, KEYS, other))
    # An int in a float field is the same config as the float.
    assert checkpoint.run_identity(CONFIG.replace(sigma_init=1), KEYS) == checkpoint.run_identity(
        CONFIG.replace(sigma_init=1.0), KEYS
    )


def test_resuming_on_another_setup_continues_with_one_warning(damaged):
    """Another batch per device (device count), or other versions: resumed, with one warning line;
    another device count with the same batch per device compiles the same per-device program: none."""
    directory, like = damaged
    here = checkpoint.run_setup(jax.devices()[:1], 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert checkpoint.restore(directory, like, identity=IDENTITY, setup={**here, "devices": 3}).step == 600
    assert not [w for w in caught if issubclass(w.category, checkpoint.ResumeWarning)]
    two = {**here, "devices": 2, "batch_per_device": 1}
    with pytest.warns(checkpoint.ResumeWarning) as caught:
        assert checkpoint.restore(directory, like, identity=IDENTITY, setup=two).step == 600
    cpu = parallel.device_kind(jax.devices()[0])  # e.g. "AMD EPYC, family 26 model 2"
    assert [str(w.message) for w in caught] == [
        f"checkpoint {os.path.join(directory, '600')} was written with a batch of 2 per device on 1 device ({cpu}), "
        f"and this run has a batch of 1 per device on 2 devices ({cpu}): the continuation will not be bit-identical "
        "to an uninterrupted run"
    ]
    _edit_meta(directory, 600, lambda m: m["setup"].update(device_kind="cpu"))  # another processor, same batch
    with pytest.warns(checkpoint.ResumeWarning, match=r"on 1 device \(cpu\), and this run has a batch of 2 per"):
        checkpoint.restore(directory, like, identity=IDENTITY, setup=here)
    _edit_meta(directory, 600, lambda m: m["setup"].update(device_kind=cpu))
    _edit_meta(directory, 600, lambda m: m["setup"].update(pn_jax="0.0.1", jax="0.4.30"))
    newer = r"was written with pn_jax 0\.0\.1, jax 0\.4\.30, and this run has pn_jax \S+, jax \S+: the continuation"
    with pytest.warns(checkpoint.ResumeWarning, match=newer):
        checkpoint.restore(directory, like, identity=IDENTITY, setup=here)
    _edit_meta(directory, 600, lambda m: m.pop("setup"))  # format 3 before setups were recorded
    with pytest.warns(checkpoint.ResumeWarning, match="600 does not record the devices and versions that wrote it"):
        assert checkpoint.restore(directory, like, identity=IDENTITY, setup=here).setup is None


def test_a_checkpoint_from_before_identities_is_refused_as_older(damaged):
    """Format 1 recorded no identity: refused with a message saying so, not resumed unchecked."""
    directory, like = damaged
    _edit_meta(directory, 600, lambda meta: (meta.pop("identity"), meta.update(format=1)))
    older = r"600 was written by an older version of pn_jax \(checkpoint format 1\); resume it with the version"
    with pytest.raises(checkpoint.CheckpointError, match=older):
        checkpoint.restore(directory, like, identity=IDENTITY)
    with pytest.raises(checkpoint.CheckpointError, match=older):
        checkpoint.read_meta(directory)
    assert checkpoint.restore(directory, like, step=300, identity=IDENTITY).step == 300


def test_a_checkpoint_in_the_layout_before_orbax_steps_is_refused_as_older(damaged):
    """Formats 1 and 2 kept meta.json beside arrays/ in the step folder."""
    directory, like = damaged
    os.rename(_meta_path(directory, 600), os.path.join(directory, "600", "meta.json"))
    older = r"600 was written by an older version of pn_jax \(checkpoint format 1 or 2, before this layout\)"
    with pytest.raises(checkpoint.CheckpointError, match=older):
        checkpoint.restore(directory, like, identity=IDENTITY)
    with pytest.raises(checkpoint.CheckpointError, match=older):
        checkpoint.read_meta(directory)


def test_missing_checkpoints_and_unfinished_saves(damaged, tmp_path):
    directory, like = damaged
    with pytest.raises(checkpoint.CheckpointError, match="no complete checkpoint"):
        checkpoint.restore(str(tmp_path / "nowhere"), like, identity=IDENTITY)
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint for step 450"):
        checkpoint.restore(directory, like, step=450, identity=IDENTITY)
    # A save killed midway leaves orbax's temporary folder, which is never taken for a checkpoint
    # and is cleared by the next save.
    partial = os.path.join(directory, "750.orbax-checkpoint-tmp-1")
    shutil.copytree(os.path.join(directory, "600"), partial)
    assert checkpoint.steps(directory) == [300, 600]
    ckpt = checkpoint.restore(directory, like, identity=IDENTITY)
    assert ckpt.step == 600
    checkpoint.save(directory, ckpt._replace(step=750))
    assert checkpoint.steps(directory) == [600, 750] and not os.path.exists(partial)


def test_diverging_run_stops_naming_quantity_step_and_seed(tmp_path):
    """A huge learning rate: the loss goes non-finite right after warm-up (step 300); the run stops
    after that chunk and the checkpoints from before it stay the latest."""
    config = DDPGConfig(**{**TINY, "total_steps": 600, "learning_starts": 300, "critic_lr": 1e6, "actor_lr": 1e6})
    directory = str(tmp_path / "checkpoints")
    result = runner.run(config, KEYS, checkpoint_dir=directory, checkpoint_every=150, seeds=[7, 8])
    assert result.nonfinite is not None
    assert result.nonfinite.startswith("the learner's loss became non-finite at env step 30")
    assert "(seed 7)" in result.nonfinite
    assert result.steps == 450  # stopped at the first evaluation after it
    assert checkpoint.steps(directory) == [150, 300] and result.checkpoint.endswith("300")
    assert np.asarray(result.metrics.eval_step).shape == (2, 3)
    assert np.all(np.asarray(result.metrics.nonfinite.loss) > 300)


def test_bad_checkpoint_arguments_are_value_errors():
    with pytest.raises(ValueError, match="checkpoint_every"):
        runner.run(CONFIG, KEYS, checkpoint_dir="/tmp/x", checkpoint_every=100)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        runner.run(CONFIG, KEYS, checkpoint_every=300)


def test_chunks_and_checkpoints_reuse_one_compiled_program(tmp_path, monkeypatch):
    """``advance`` is traced (and compiled) once, however many chunks and checkpoints follow."""
    traced = []

    def counting_make_trainer(config, progress_fn=None):
        trainer = make_trainer(config, progress_fn)

        def advance(*args, **kwargs):
            traced.append(kwargs["num_chunks"])
            return trainer.advance(*args, **kwargs)

        return trainer._replace(advance=advance)

    monkeypatch.setattr(runner, "make_trainer", counting_make_trainer)
    result = runner.run(CONFIG, KEYS, checkpoint_dir=str(tmp_path), checkpoint_every=150)
    assert result.steps == 600 and checkpoint.steps(str(tmp_path)) == [450, 600]
    assert traced == [1]
