"""Parameter-space noise primitives and exploration strategies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pn_jax import noise
from pn_jax.networks import Actor, Critic


@pytest.fixture(scope="module")
def actor():
    module = Actor(action_dim=2, hidden_sizes=(64, 64), layer_norm=True)
    params = module.init(jax.random.key(0), jnp.zeros((3,)))
    return module, params


def _flat(tree, mask, want):
    leaves = jax.tree.leaves(tree)
    flags = jax.tree.leaves(mask)
    return [leaf for leaf, flag in zip(leaves, flags, strict=True) if flag == want]


def test_mask_marks_dense_but_not_layernorm(actor):
    _, params = actor
    mask = noise.perturbable_mask(params)["params"]
    for layer in ("Dense_0", "Dense_1"):
        assert mask["MLP_0"][layer] == {"kernel": True, "bias": True}
    for layer in ("LayerNorm_0", "LayerNorm_1"):
        assert mask["MLP_0"][layer] == {"scale": False, "bias": False}
    assert mask["Dense_0"] == {"kernel": True, "bias": True}


def test_mask_on_critic_has_no_layernorm_leaves():
    params = Critic((8,), layer_norm=True).init(jax.random.key(0), jnp.zeros((3,)), jnp.zeros((1,)))
    mask = noise.perturbable_mask(params)
    assert sum(jax.tree.leaves(mask)) == 4  # 2 Dense layers × (kernel, bias)


@pytest.mark.parametrize("sigma", [0.05, 0.3])
def test_perturbation_statistics(actor, sigma):
    _, params = actor
    mask = noise.perturbable_mask(params)
    perturbed = noise.perturb(jax.random.key(1), params, sigma)
    delta = jax.tree.map(lambda a, b: a - b, perturbed, params)
    noisy = np.concatenate([np.ravel(x) for x in _flat(delta, mask, True)])
    assert noisy.size > 4000
    assert abs(noisy.mean()) < 4 * sigma / np.sqrt(noisy.size)
    assert noisy.std() == pytest.approx(sigma, rel=0.05)


def test_layernorm_leaves_are_bit_identical(actor):
    _, params = actor
    mask = noise.perturbable_mask(params)
    perturbed = noise.perturb(jax.random.key(2), params, 1.0)
    for before, after in zip(_flat(params, mask, False), _flat(perturbed, mask, False), strict=True):
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after))


def test_same_key_same_perturbation_and_different_keys_differ(actor):
    _, params = actor
    a = noise.perturb(jax.random.key(3), params, 0.1)
    b = noise.perturb(jax.random.key(3), params, 0.1)
    c = noise.perturb(jax.random.key(4), params, 0.1)
    jax.tree.map(lambda x, y: np.testing.assert_array_equal(x, y), a, b)
    kernel = lambda p: np.asarray(p["params"]["MLP_0"]["Dense_1"]["kernel"])  # noqa: E731
    assert not np.allclose(kernel(a), kernel(c))


def test_leaves_get_independent_noise(actor):
    _, params = actor
    delta = jax.tree.map(lambda a, b: a - b, noise.perturb(jax.random.key(5), params, 1.0), params)
    k1 = np.ravel(delta["params"]["MLP_0"]["Dense_1"]["kernel"])[:64]
    b1 = np.ravel(delta["params"]["MLP_0"]["Dense_1"]["bias"])
    assert abs(np.corrcoef(k1, b1)[0, 1]) < 0.5


def test_perturb_is_jittable_with_traced_sigma(actor):
    _, params = actor
    jitted = jax.jit(noise.perturb)(jax.random.key(6), params, jnp.float32(0.1))
    eager = noise.perturb(jax.random.key(6), params, 0.1)
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), jitted, eager)


@settings(max_examples=50, deadline=None)
@given(
    sigma=st.floats(1e-4, 10.0),
    distance=st.floats(0.0, 5.0),
    target=st.floats(1e-3, 5.0),
    alpha=st.floats(1.001, 2.0),
)
def test_adapt_sigma_direction(sigma, distance, target, alpha):
    new = float(noise.adapt_sigma(jnp.float32(sigma), jnp.float32(distance), jnp.float32(target), alpha))
    if np.float32(distance) > np.float32(target):
        assert new == pytest.approx(sigma / alpha, rel=1e-5)
    else:
        assert new == pytest.approx(sigma * alpha, rel=1e-5)


def test_action_distance_matches_gaussian_action_noise(actor):
    module, params = actor
    obs = jax.random.normal(jax.random.key(7), (4096, 3))
    sigma_a = 0.2
    eta = sigma_a * jax.random.normal(jax.random.key(8), (4096, 2))
    clean = module.apply(params, obs)
    distance = noise.action_distance(lambda p, o: clean + (eta if p is None else 0.0), params, None, obs)
    assert float(distance) == pytest.approx(sigma_a, rel=0.03)


def test_action_distance_is_zero_for_identical_and_grows_with_sigma(actor):
    module, params = actor
    obs = jax.random.normal(jax.random.key(9), (256, 3))
    assert float(noise.action_distance(module.apply, params, params, obs)) == 0.0
    distances = [
        float(noise.action_distance(module.apply, params, noise.perturb(jax.random.key(10), params, s), obs))
        for s in (0.01, 0.1, 1.0)
    ]
    assert distances[0] < distances[1] < distances[2]


def test_kl_distance():
    logits = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    other = jnp.array([[3.0, 2.0, 1.0], [0.0, 1.0, 0.0]])
    apply_fn = lambda p, o: p  # noqa: E731  (the "params" are the Q-values themselves)
    assert float(noise.kl_distance(apply_fn, logits, logits, None)) == pytest.approx(0.0, abs=1e-7)
    p, q = jax.nn.softmax(logits), jax.nn.softmax(other)
    p, q = np.asarray(p), np.asarray(q)
    expected = float(np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1)))
    assert float(noise.kl_distance(apply_fn, logits, other, None)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("epsilon,num_actions", [(0.01, 2), (0.1, 4), (0.2, 18)])
def test_dqn_target_distance(epsilon, num_actions):
    expected = -np.log(1 - epsilon + epsilon / num_actions)
    assert float(noise.dqn_target_distance(epsilon, num_actions)) == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------------------------------
# strategies


def _strategy(name, module, **kw):
    return noise.make_exploration(name, module.apply, 2, **kw)


def test_param_strategy_acts_with_its_own_perturbed_copy_per_env(actor):
    module, params = actor
    strategy = _strategy("param", module, sigma_init=0.5)
    state = strategy.init(jax.random.key(11), params, 3)
    obs = jnp.tile(jnp.array([[0.3, -0.2, 0.5]]), (3, 1))
    actions = strategy.act(jax.random.key(12), state, params, obs)
    assert actions.shape == (3, 2)
    clean = module.apply(params, obs)
    assert not np.allclose(actions, clean)
    assert len({tuple(np.round(np.asarray(a), 5)) for a in actions}) == 3  # a different policy per env
    member0 = jax.tree.map(lambda x: x[0], state.perturbed_params)
    np.testing.assert_allclose(actions[0], module.apply(member0, obs[0]), rtol=1e-5)


def _eps(state, params):
    """σ·ε of each env's acting copy on the 64×64 hidden kernel, ``[N, 4096]``."""
    perturbed = np.asarray(state.perturbed_params["params"]["MLP_0"]["Dense_1"]["kernel"])
    return (perturbed - np.asarray(params["params"]["MLP_0"]["Dense_1"]["kernel"])[None]).reshape(
        perturbed.shape[0], -1
    )


def _max_abs_corr(vectors):
    return max(abs(np.corrcoef(a, b)[0, 1]) for i, a in enumerate(vectors) for b in vectors[:i])


def test_param_strategy_resamples_only_finished_envs(actor):
    module, params = actor
    strategy = _strategy("param", module, sigma_init=0.5)
    state = strategy.init(jax.random.key(13), params, 3)
    new = strategy.reset(jax.random.key(14), state, params, jnp.array([False, True, False]))
    kernel = lambda s: np.asarray(s.perturbed_params["params"]["MLP_0"]["Dense_0"]["kernel"])  # noqa: E731
    np.testing.assert_array_equal(kernel(new)[0], kernel(state)[0])
    np.testing.assert_array_equal(kernel(new)[2], kernel(state)[2])
    assert not np.allclose(kernel(new)[1], kernel(state)[1])
    assert int(new.pool.served) == 4  # three at init, one now


def test_resample_every_10_with_50_step_blocks_gets_a_new_epsilon_every_10th_step(actor):
    """The defect this pins: K = 10 used to behave as K = 50 (one banked ε per adaptation block)."""
    module, params = actor
    strategy = _strategy("param", module, resample_every=10)
    state = strategy.init(jax.random.key(18), params, 1)
    obs = jax.random.normal(jax.random.key(0), (32, 3))
    reset = jax.jit(strategy.reset)
    changed, used = [], [_eps(state, params)[0]]
    for t in range(150):
        new = reset(jax.random.key(t), state, params, jnp.array([False]))
        changed.append(not np.array_equal(_eps(new, params), _eps(state, params)))
        state = new
        if changed[-1]:
            used.append(_eps(state, params)[0])
        if t % 50 == 49:  # the training loop's block end
            state, _ = strategy.adapt(jax.random.key(1000 + t), state, params, obs)
    assert [t + 1 for t, c in enumerate(changed) if c] == list(range(10, 151, 10))
    assert _max_abs_corr(used) < 0.1  # 16 perturbations, pairwise uncorrelated (|ρ| ~ 1/√P ≈ 0.02)


def test_short_episodes_inside_one_block_each_get_their_own_epsilon(actor):
    module, params = actor
    strategy = _strategy("param", module)
    state = strategy.init(jax.random.key(3), params, 2)
    used = list(_eps(state, params))
    reset = jax.jit(strategy.reset)
    for t in range(45):  # episodes of 3 steps, no adapt: all within one block
        done = jnp.array([t % 3 == 2, t % 5 == 4])
        state = reset(jax.random.key(t), state, params, done)
        used += [row for row, d in zip(_eps(state, params), np.asarray(done), strict=True) if d]
    assert len(used) == 2 + 15 + 9
    assert len({row.tobytes() for row in used}) == len(used)
    assert _max_shifted_match(used, max_shift=64) < 0.1  # no ε is an earlier one, shifted or not


def test_a_hand_written_loop_never_freezes_the_perturbation(actor):
    """act → step → reset(done) and adapt every 50 steps: nothing else needed (no refresh)."""
    module, params = actor
    strategy = _strategy("param", module)
    state = strategy.init(jax.random.key(4), params, 1)
    obs = jax.random.normal(jax.random.key(5), (16, 3))
    reset, adapt = jax.jit(strategy.reset), jax.jit(strategy.adapt)
    weights = []
    for t in range(1, 1001):
        state = reset(jax.random.key(t), state, params, jnp.array([t % 200 == 0]))
        if t % 50 == 0:
            state, _ = adapt(jax.random.key(-t), state, params, obs)
        if t % 200 == 0:
            weights.append(_eps(state, params)[0])
    assert len({w.tobytes() for w in weights}) == 5
    assert _max_abs_corr(weights) < 0.1


def test_pool_windows_are_disjoint_first_and_never_repeat_before_the_pool_is_redrawn():
    tiny = Actor(action_dim=1, hidden_sizes=(2,), layer_norm=True)
    params = tiny.init(jax.random.key(0), jnp.zeros((1,)))
    size = 2 * 1 + 2 + 2 * 1 + 1  # kernels and biases: 7 perturbable values
    strategy = noise.param_noise(tiny.apply, 1.0, 0.2, pool_slots=3)
    state = strategy.init(jax.random.key(1), params, 1)
    m = state.pool.values.shape[0]
    assert m == noise.pool_size(size, 3) == 29  # the smallest prime ≥ 4 × 7
    leaves, flags = jax.tree.leaves(params), jax.tree.leaves(noise.perturbable_mask(params))
    mask = np.concatenate([np.full(np.size(x), f) for x, f in zip(leaves, flags, strict=True)])
    flat = lambda s: np.concatenate(  # noqa: E731
        [np.ravel(x[0]) - np.ravel(y) for x, y in zip(jax.tree.leaves(s.perturbed_params), leaves, strict=True)]
    )
    windows = [flat(state)[mask]]
    reset = jax.jit(strategy.reset)
    for t in range(m - 1):
        state = reset(jax.random.key(t), state, params, jnp.array([True]))
        windows.append(flat(state)[mask])
    values = np.asarray(state.pool.values)
    starts = [int(np.flatnonzero(np.isclose(values, w[0]))[0]) for w in windows]
    assert starts[:4] == [0, 7, 14, 21]  # pool_slots + 1 disjoint windows: exactly independent ε
    for w, start in zip(windows[:4], starts[:4], strict=True):
        np.testing.assert_allclose(w, values[start : start + size], rtol=1e-6)
    assert len({w.tobytes() for w in windows}) == m  # M distinct windows before any repeats
    redrawn = strategy.refresh(jax.random.key(99), state, params)
    assert int(redrawn.pool.served) == 0 and not np.allclose(redrawn.pool.values, state.pool.values)


def _max_shifted_match(vectors, max_shift=256):
    """Largest |correlation| between any two vectors at any relative shift 1 … max_shift (and 0)."""
    worst = 0.0
    for i, a in enumerate(vectors):
        for b in vectors[:i]:
            for shift in range(-max_shift, max_shift + 1):
                x, y = (a[shift:], b[: len(b) - shift]) if shift >= 0 else (a[:shift], b[-shift:])
                worst = max(worst, abs(float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)))))
    return worst


def test_more_resamples_than_slots_are_never_shifted_copies(actor):
    """Past the disjoint windows, an ε must not be an earlier ε moved by a few places (which would
    perturb the actions almost as the earlier one did)."""
    module, params = actor
    strategy = noise.param_noise(module.apply, 0.2, 0.2, pool_slots=1)  # 2 disjoint windows
    state = strategy.init(jax.random.key(7), params, 1)
    reset = jax.jit(strategy.reset)
    flat = lambda s: np.concatenate([np.ravel(x[0] - y) for x, y in zip(jax.tree.leaves(s.perturbed_params), jax.tree.leaves(params), strict=True)])  # noqa: E731, E501  # fmt: skip
    used = [flat(state)]
    for t in range(8):
        state = reset(jax.random.key(t), state, params, jnp.array([True]))
        used.append(flat(state))
    nonzero = [u[u != 0] for u in used]  # LayerNorm leaves are not perturbed
    assert _max_shifted_match([u[:2000] for u in nonzero], max_shift=128) < 0.15


def test_perturbed_leaves_keep_their_dtype(actor):
    _, params = actor
    half = jax.tree.map(lambda x: x.astype(jnp.bfloat16), params)
    sigma = jnp.asarray(0.1, jnp.float32)
    for tree in (noise.perturb(jax.random.key(0), half, sigma), _param_state(half, sigma).perturbed_params):
        assert {leaf.dtype for leaf in jax.tree.leaves(tree)} == {jnp.dtype(jnp.bfloat16)}


def _param_state(params, sigma):
    strategy = noise.param_noise(Actor(2, (64, 64), True).apply, sigma, 0.2)
    return strategy.init(jax.random.key(0), params, 2)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(sigma_init=-0.2), "sigma_init: must be > 0"),
        (dict(target_distance=0.0), "target_distance: must be > 0"),
        (dict(adapt_alpha=0.9), "adapt_alpha: must be >= 1"),
        (dict(resample_every=-1), "resample_every: must be an integer >= 0"),
        (dict(sigma_spread=0.5), "sigma_spread: must be >= 1"),
        (dict(sigma_init=float("nan")), "sigma_init: must be > 0"),
    ],
)
def test_factories_validate_hyperparameters_like_the_config(actor, kwargs, message):
    module, _ = actor
    with pytest.raises(ValueError, match=message):
        _strategy("param", module, **kwargs)


def test_factories_validate_action_noise(actor):
    module, _ = actor
    with pytest.raises(ValueError, match="action_noise_std: must be >= 0"):
        _strategy("gaussian", module, action_noise_std=-0.1)
    with pytest.raises(ValueError, match="ou_theta: must be in"):
        _strategy("ou", module, ou_theta=0.0)
    with pytest.raises(ValueError, match="sigma_init: must be > 0"):
        noise.make_dqn_exploration("param", module.apply, 2, sigma_init=0.0)
    traced = jax.jit(
        lambda s: _strategy("param", module, sigma_init=s).adapt(None, None, None, None)[1] if False else s
    )
    assert float(traced(jnp.float32(0.3))) == pytest.approx(0.3)  # traced values are not checked


def test_a_mask_that_selects_nothing_names_the_leaves_it_saw():
    params = {"params": {"w": jnp.ones((3, 2)), "b": jnp.zeros((2,))}}  # custom names: not Dense
    with pytest.raises(ValueError, match=r"mask: selects no parameter.*\['params'\]\['w'\]"):
        noise.perturb(jax.random.key(0), params, 0.1)
    strategy = noise.param_noise(lambda p, o: o @ p["params"]["w"], 0.1, 0.2)
    with pytest.raises(ValueError, match="Leaves seen: .*'b'.*'w'"):
        strategy.init(jax.random.key(0), params, 1)
    explicit = {"params": {"w": True, "b": False}}
    perturbed = noise.perturb(jax.random.key(0), params, 0.1, explicit)
    assert not np.allclose(perturbed["params"]["w"], 1.0)


def test_param_resample_draws_from_current_theta_and_keeps_layernorm(actor):
    module, params = actor
    strategy = _strategy("param", module, sigma_init=0.1)
    state = strategy.init(jax.random.key(16), params, 2)
    theta = jax.tree.map(lambda x: x + 1.0, params)  # the learner moved on
    new = strategy.reset(jax.random.key(17), state, theta, jnp.array([True, True]))
    ln = lambda p: np.asarray(p["params"]["MLP_0"]["LayerNorm_0"]["scale"])  # noqa: E731
    np.testing.assert_array_equal(ln(new.perturbed_params)[0], ln(theta))
    diff = np.asarray(new.perturbed_params["params"]["MLP_0"]["Dense_1"]["kernel"][0]) - np.asarray(
        theta["params"]["MLP_0"]["Dense_1"]["kernel"]
    )
    assert diff.std() == pytest.approx(0.1, rel=0.1)


def test_param_adapt_moves_sigma_towards_target(actor):
    module, params = actor
    obs = jax.random.normal(jax.random.key(19), (128, 3))
    strategy = _strategy("param", module, sigma_init=1.0, target_distance=1e-4)
    state = strategy.init(jax.random.key(20), params, 1)
    adapted, stats = strategy.adapt(jax.random.key(21), state, params, obs)
    assert float(adapted.sigma) == pytest.approx(1.0 / 1.01)
    assert float(stats.distance) > 1e-4
    strategy = _strategy("param", module, sigma_init=1e-6, target_distance=0.5)
    state = strategy.init(jax.random.key(22), params, 1)
    adapted, _ = strategy.adapt(jax.random.key(23), state, params, obs)
    assert float(adapted.sigma) == pytest.approx(1e-6 * 1.01)


def test_gaussian_action_noise_statistics(actor):
    module, params = actor
    strategy = _strategy("gaussian", module, action_noise_std=0.1)
    state = strategy.init(jax.random.key(24), params, 4096)
    obs = jnp.zeros((4096, 3))
    actions = strategy.act(jax.random.key(25), state, params, obs)
    eta = np.asarray(actions - module.apply(params, obs))
    assert eta.std() == pytest.approx(0.1, rel=0.05)
    assert abs(eta.mean()) < 0.01


@pytest.mark.parametrize(("clean", "expected"), [(0.0, 1.0), (1.0, 1 / np.sqrt(2)), (-1.0, 1 / np.sqrt(2))])
def test_gaussian_adapt_measures_the_noise_it_applies(clean, expected):
    """The reported distance is the RMS of clip(π(s) + η) − π(s) on the batch, not the nominal std.

    At the bound π(s) = ±1 clipping removes every η pointing outwards, so the RMS is std/√2.
    """
    std = 0.3
    strategy = noise.gaussian_action_noise(lambda params, obs: jnp.full((obs.shape[0], 2), clean), std)
    obs = jnp.zeros((4096, 3))  # 8192 noise values: the RMS is within ~1% of its expectation
    adapt = jax.jit(strategy.adapt)
    _, stats = adapt(jax.random.key(31), strategy.init(None, None, 4096), None, obs)
    assert float(stats.sigma) == pytest.approx(std)
    assert float(stats.distance) == pytest.approx(std * expected, rel=0.04)
    _, again = adapt(jax.random.key(32), strategy.init(None, None, 4096), None, obs)
    assert float(again.distance) != float(stats.distance)  # a fresh draw each call: a measurement


def test_gaussian_adapt_distance_matches_the_actions_it_acts_with(actor):
    module, params = actor
    strategy = _strategy("gaussian", module, action_noise_std=0.5)
    obs = 3.0 * jax.random.normal(jax.random.key(33), (4096, 3))
    state = strategy.init(None, params, 4096)
    acted = strategy.act(jax.random.key(34), state, params, obs)
    applied = float(jnp.sqrt(jnp.mean(jnp.square(acted - module.apply(params, obs)))))
    _, stats = strategy.adapt(jax.random.key(34), state, params, obs)
    assert float(stats.distance) == pytest.approx(applied)  # the same draw: the same perturbation
    assert float(stats.distance) < 0.5  # some actions sit near the bounds and are clipped


def test_ou_noise_is_correlated_and_restarts_from_its_stationary_law_on_done(actor):
    module, params = actor
    strategy = _strategy("ou", module, action_noise_std=0.5)
    state = strategy.init(jax.random.key(26), params, 2)
    trace = []
    for i in range(200):
        state = strategy.reset(jax.random.key(i), state, params, jnp.array([False, False]))
        trace.append(np.asarray(state.noise[0, 0]))
    trace = np.array(trace)
    assert np.corrcoef(trace[:-1], trace[1:])[0, 1] > 0.9
    before = np.asarray(state.noise)
    state = strategy.reset(jax.random.key(999), state, params, jnp.array([True, False]))
    assert np.all(np.asarray(state.noise[0]) != 0.0)  # a fresh stationary draw, not 0
    assert abs(np.asarray(state.noise[1]) - before[1]).max() < 0.1  # one small OU step


@pytest.mark.parametrize("std", [0.2, 0.5])
def test_ou_std_is_the_noise_std_at_every_step(actor, std):
    """``action_noise_std`` is the standard deviation of the OU noise, from the first step on."""
    module, params = actor
    strategy = _strategy("ou", module, action_noise_std=std)
    state = strategy.init(jax.random.key(30), params, 4096)
    reset = jax.jit(strategy.reset)
    no_done = jnp.zeros((4096,), bool)
    stds = {0: float(np.std(state.noise))}
    for t in range(1, 401):
        state = reset(jax.random.key(t), state, params, no_done)
        if t in (20, 400):
            stds[t] = float(np.std(state.noise))
    for t, value in stds.items():
        assert value == pytest.approx(std, rel=0.04), t
    _, stats = strategy.adapt(jax.random.key(0), state, params, None)
    assert float(stats.distance) == pytest.approx(std, rel=0.04)  # RMS over all 400 steps and envs


def test_none_is_the_clean_policy_and_combined_adds_action_noise(actor):
    module, params = actor
    obs = jax.random.normal(jax.random.key(27), (5, 3))
    none = _strategy("none", module)
    np.testing.assert_array_equal(none.act(None, none.init(None, params, 5), params, obs), module.apply(params, obs))
    both = _strategy("param+gaussian", module, action_noise_std=0.3)
    param = _strategy("param", module)
    state = both.init(jax.random.key(28), params, 5)
    a_both = both.act(jax.random.key(29), state, params, obs)
    a_param = param.act(jax.random.key(29), state, params, obs)
    assert not np.allclose(a_both, a_param)
    assert np.all(np.abs(np.asarray(a_both)) <= 1.0)


def test_unknown_exploration_name():
    with pytest.raises(ValueError, match="exploration: unknown strategy 'bogus'; choose one of param"):
        noise.make_exploration("bogus", lambda p, o: o, 1)


def test_without_a_pool_every_resample_draws_its_own_epsilon(actor):
    module, params = actor
    strategy = noise.param_noise(module.apply, 0.2, 0.2, pool_slots=0)
    state = strategy.init(jax.random.key(40), params, 2)
    assert state.pool.values.shape == (0,)
    reset = jax.jit(strategy.reset)
    used = list(_eps(state, params))
    for t in range(6):
        state = reset(jax.random.key(t), state, params, jnp.array([True, t % 2 == 0]))
        used += list(_eps(state, params)[: 1 if t % 2 else 2])
    assert len({row.tobytes() for row in used}) == len(used) == 2 + 6 + 3
    assert _max_abs_corr(used) < 0.1
    with pytest.raises(ValueError, match="pool_slots: must be an integer >= 0"):
        noise.param_noise(module.apply, 0.2, 0.2, pool_slots=-1)
