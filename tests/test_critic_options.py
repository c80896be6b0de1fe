"""Critic L2 (on hidden Dense kernels, as OpenAI baselines' DDPG) and critic LayerNorm: the mask,
the optimiser against a hand-built optax chain, defaults that change nothing, and both learners
training with the options on."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TINY

from pn_jax import DDPGConfig, TD3Config, make_train
from pn_jax.agents.ddpg import critic_optimizer, make_ddpg
from pn_jax.agents.td3 import make_td3
from pn_jax.networks import Actor, Critic, hidden_kernel_mask
from pn_jax.replay import Transition

OBS, ACT, BATCH = 3, 2, 32
HIDDEN = (8, 8)


def _critic_params(layer_norm: bool, seed: int = 0):
    return Critic(HIDDEN, layer_norm).init(jax.random.key(seed), jnp.zeros((OBS,)), jnp.zeros((ACT,)))


def _marked(params) -> set[str]:
    mask = hidden_kernel_mask(params)
    return {jax.tree_util.keystr(path) for path, flag in jax.tree_util.tree_flatten_with_path(mask)[0] if flag}


def test_mask_selects_the_hidden_dense_kernels_only():
    params = _critic_params(layer_norm=True)
    names = {jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]}
    hidden = {f"['params']['MLP_0']['Dense_{i}']['kernel']" for i in range(len(HIDDEN))}
    assert _marked(params) == hidden
    # what is left alone: hidden biases, LayerNorm scale and bias, the output layer's kernel and bias
    assert {n for n in names - hidden if "LayerNorm" in n} == {
        f"['params']['MLP_0']['LayerNorm_{i}']['{leaf}']" for i in range(len(HIDDEN)) for leaf in ("scale", "bias")
    }
    assert "['params']['Dense_0']['kernel']" in names - hidden
    # the twin critics' tuple: both twins' hidden kernels
    twins = (params, _critic_params(layer_norm=True, seed=1))
    assert _marked(twins) == {f"[{t}]{n}" for t in (0, 1) for n in hidden}


def _random_like(key, params):
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves, strict=True)])


def test_critic_l2_is_a_loss_term_before_adam():
    """Two steps of ``critic_optimizer(lr, l2)`` equal Adam on ``g + l2·w`` (hidden kernels), built by hand."""
    lr, l2 = 1e-2, 0.3
    params = _critic_params(layer_norm=True)
    opt, adam = critic_optimizer(lr, l2), optax.adam(lr)
    state, adam_state = opt.init(params), adam.init(params)
    mask = hidden_kernel_mask(params)
    ours = theirs = params
    for step in range(2):
        grads = _random_like(jax.random.key(step), params)
        updates, state = jax.jit(opt.update)(grads, state, ours)
        ours = optax.apply_updates(ours, updates)
        with_l2 = jax.tree.map(lambda g, w, m: g + l2 * w if m else g, grads, theirs, mask)
        updates, adam_state = adam.update(with_l2, adam_state)
        theirs = optax.apply_updates(theirs, updates)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), ours, theirs)


def test_with_a_zero_loss_gradient_only_the_hidden_kernels_shrink():
    lr = 1e-3
    params = _critic_params(layer_norm=True)
    opt = critic_optimizer(lr, 1e-2)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = opt.update(zeros, opt.init(params), params)
    after = optax.apply_updates(params, updates)
    mask = hidden_kernel_mask(params)
    for w, new, marked in zip(*map(jax.tree.leaves, (params, after, mask)), strict=True):
        if marked:  # Adam's first step: −lr·sign(l2·w), towards 0
            np.testing.assert_allclose(new, w - lr * np.sign(w), rtol=1e-5, atol=1e-7)
            assert np.all(np.abs(new)[np.abs(w) > lr] < np.abs(w)[np.abs(w) > lr])
        else:
            np.testing.assert_array_equal(new, w)


def test_zero_critic_l2_updates_exactly_like_plain_adam():
    params = _critic_params(layer_norm=False)
    opt, adam = critic_optimizer(1e-3, jnp.float32(0.0)), optax.adam(1e-3)
    grads = _random_like(jax.random.key(3), params)
    ours, _ = jax.jit(opt.update)(grads, opt.init(params), params)
    theirs, _ = jax.jit(adam.update)(grads, adam.init(params))
    jax.tree.map(np.testing.assert_array_equal, ours, theirs)


def _batch(key) -> Transition:
    keys = jax.random.split(key, 4)
    return Transition(
        obs=jax.random.normal(keys[0], (BATCH, OBS)),
        action=jax.random.uniform(keys[1], (BATCH, ACT), minval=-1, maxval=1),
        reward=jax.random.normal(keys[2], (BATCH,)),
        next_obs=jax.random.normal(keys[3], (BATCH, OBS)),
        terminated=(jnp.arange(BATCH) % 4 == 0).astype(jnp.float32),
    )


@pytest.mark.parametrize("make", [make_ddpg, make_td3], ids=["ddpg", "td3"])
def test_learners_train_with_critic_layer_norm_and_l2(make):
    agent = make(Actor(ACT, HIDDEN), Critic(HIDDEN, layer_norm=True), critic_lr=1e-2, critic_l2=1e-2)
    state = agent.init(jax.random.key(0), jnp.zeros((OBS,)), jnp.zeros((ACT,)))
    critics = state.critic_params if make is make_td3 else (state.critic_params,)
    targets = state.target_critic_params if make is make_td3 else (state.target_critic_params,)
    for params in (*critics, *targets):  # every critic and its target carries the LayerNorms
        assert {f"LayerNorm_{i}" for i in range(len(HIDDEN))} <= set(params["params"]["MLP_0"])

    batch = _batch(jax.random.key(1))
    final, infos = jax.jit(lambda s: jax.lax.scan(lambda s, _: agent.update(s, batch), s, length=30))(state)
    assert np.all(np.isfinite(infos.critic_loss)) and np.all(np.isfinite(infos.actor_loss))
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(final.critic_params))
    assert float(infos.critic_loss[-1]) < float(infos.critic_loss[0])  # the critic fits the fixed batch


@pytest.mark.parametrize("cls", [DDPGConfig, TD3Config])
def test_config_fields_default_off_and_are_validated(cls):
    config = cls()
    assert config.critic_l2 == 0.0 and config.critic_layer_norm is False
    hp = cls(critic_l2=1e-2).hparams()
    assert hp.critic_l2.dtype == jnp.float32 and float(hp.critic_l2) == pytest.approx(1e-2)
    for bad in (-1e-3, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match=r"^critic_l2: must be >= 0"):
            cls(critic_l2=bad)
    with pytest.raises(ValueError, match=r"^critic_layer_norm: must be a bool"):
        cls(critic_layer_norm=1)


def test_critic_options_reach_the_trained_learners():
    """TD3 with critic LayerNorm, L2 and the action joining after the first layer trains with finite
    losses; DDPG's critic_l2 is traced: one program trains l2 = 0 and l2 = 0.1, and the regularised
    critic ends with smaller hidden kernels."""
    config = TD3Config(**TINY, critic_layer_norm=True, critic_l2=1e-2, critic_action_layer=1)
    state, metrics = jax.jit(make_train(config))(jax.random.key(0))
    for params in (*state.agent.critic_params, *state.agent.target_critic_params):
        assert "LayerNorm_0" in params["params"]["MLP_0"]
        first, second = TINY["hidden_sizes"]
        assert params["params"]["MLP_1"]["Dense_0"]["kernel"].shape == (first + 1, second)  # [h, action]
    assert np.all(np.isfinite(metrics.critic_loss)) and np.all(np.isfinite(metrics.eval_return))
    assert int(metrics.nonfinite.loss) == -1 and int(metrics.nonfinite.params) == -1

    config = DDPGConfig(**TINY)
    grid = jax.tree.map(lambda x: jnp.stack([x, x]), config.hparams())._replace(critic_l2=jnp.array([0.0, 0.1]))
    state, _ = jax.jit(jax.vmap(make_train(config), in_axes=(None, 0)))(jax.random.key(0), grid)
    kernels = state.agent.critic_params["params"]["MLP_0"]
    norms = sum(jnp.sum(jnp.square(kernels[name]["kernel"]), axis=(1, 2)) for name in kernels)
    assert float(norms[1]) < float(norms[0])


def test_the_action_can_join_the_critic_after_its_first_layer():
    """baselines' DDPG critic: obs → Dense → LayerNorm → ReLU, then [h, action] → Dense → … → Q."""
    critic = Critic(HIDDEN, layer_norm=True, action_layer=1)
    params = critic.init(jax.random.key(0), jnp.zeros((OBS,)), jnp.zeros((ACT,)))
    assert params["params"]["MLP_0"]["Dense_0"]["kernel"].shape == (OBS, HIDDEN[0])  # the observation alone
    assert params["params"]["MLP_1"]["Dense_0"]["kernel"].shape == (HIDDEN[0] + ACT, HIDDEN[1])
    assert _marked(params) == {"['params']['MLP_0']['Dense_0']['kernel']", "['params']['MLP_1']['Dense_0']['kernel']"}
    # the action still moves Q, and the last choice (the output layer's input) works too
    q = critic.apply(params, jnp.ones((OBS,)), jnp.array([1.0, -1.0])) - critic.apply(
        params, jnp.ones((OBS,)), -jnp.ones(ACT)
    )
    assert q != 0
    last = Critic(HIDDEN, action_layer=len(HIDDEN)).init(jax.random.key(0), jnp.zeros((OBS,)), jnp.zeros((ACT,)))
    assert last["params"]["Dense_0"]["kernel"].shape == (HIDDEN[-1] + ACT, 1)
    with pytest.raises(ValueError, match=r"critic_action_layer: must be an integer in \[0, 2\]"):
        DDPGConfig(**TINY, critic_action_layer=3)
    # (trained with the action after the first layer: test_critic_options_reach_the_trained_learners)
