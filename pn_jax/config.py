"""Run configuration: a frozen dataclass validated on construction.

Fields split in two. *Static* fields fix shapes and program structure (env, sizes, step counts,
the exploration kind); changing one recompiles. *Dynamic* hyper-parameters (:class:`HParams`)
are traced arrays, so ``jax.vmap(train, in_axes=(0, 0))`` sweeps a grid of them in one program.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, NamedTuple

import tyro

from pn_jax import catalog
from pn_jax.catalog import DQN_EXPLORATIONS, EXPLORATIONS, PPO_EXPLORATIONS

if TYPE_CHECKING:  # (this module imports no JAX: a command line builds its parser from these configs)
    import jax

DerivedInt = Annotated[int | None, tyro.conf.arg(metavar="INT", help_behavior_hint="")]
"""An int field left out (None) to be derived from the others; its help says from what."""
DerivedBool = Annotated[bool | None, tyro.conf.arg(metavar="{True,False,none}", help_behavior_hint="")]
Exploration = Literal[EXPLORATIONS]
DQNExploration = Literal[DQN_EXPLORATIONS]
BraxBackend = Literal[catalog.BRAX_BACKENDS]


class HParams(NamedTuple):
    """Dynamic hyper-parameters, each a float32 array (scalar, or ``[G]`` for a grid)."""

    actor_lr: jax.Array
    critic_lr: jax.Array
    critic_l2: jax.Array
    tau: jax.Array
    gamma: jax.Array
    sigma_init: jax.Array
    target_distance: jax.Array
    adapt_alpha: jax.Array
    resample_every: jax.Array
    action_noise_std: jax.Array
    ou_theta: jax.Array
    sigma_spread: jax.Array


class _Schedule:
    """What both configs share: validation on construction, their traced hyper-parameters, and how
    a run's env steps split into update rounds and σ-adaptation blocks."""

    def __post_init__(self) -> None:
        if isinstance(self.hidden_sizes, list):
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        derivations = {  # in order: eval_every depends on adapt_every
            "adapt_every": lambda: default_adapt_every(self, self.BASE_ADAPT_EVERY),
            "learning_starts": lambda: default_learning_starts(self, self.BASE_LEARNING_STARTS),
            "eval_episodes": lambda: default_eval_episodes(self.env),
            "eval_every": lambda: default_eval_every(self),
            "epsilon_decay_steps": lambda: default_epsilon_decay_steps(self),  # (DQN's only)
            "obs_norm": lambda: default_obs_norm(self.env),
            "minibatch_by_env": lambda: self.exploration == "param",  # (PPO's only)
        }
        derived = []
        for name, derive in derivations.items():
            if name in self.__dataclass_fields__ and getattr(self, name) is None:
                object.__setattr__(self, name, derive())
                derived.append(name)
        object.__setattr__(self, "_derived", tuple(derived))  # not a field: re-derived by replace()
        self._validate()

    def hparams(self):
        """The dynamic hyper-parameters (:class:`HParams` or :class:`DQNHParams`) as float32 scalars."""
        import jax.numpy as jnp

        kind = self._hparams_type()
        return kind(*(jnp.asarray(float(getattr(self, f)), jnp.float32) for f in kind._fields))

    @property
    def update_period(self) -> int:
        """Vector steps per update round: ``U`` when ``updates_per_step == 1/U``, else 1."""
        return max(1, round(1.0 / self.updates_per_step)) if self.updates_per_step < 1 else 1

    @property
    def updates_per_round(self) -> int:
        """Learner updates at the end of each update round: ``k`` when ``updates_per_step == k``, else 1."""
        return round(self.updates_per_step) if self.updates_per_step >= 1 else 1

    @property
    def steps_per_block(self) -> int:
        """Environment steps between σ adaptations: ``adapt_every`` rounds of ``update_period × num_envs``."""
        return self.adapt_every * self.update_period * self.num_envs

    @property
    def num_updates(self) -> int:
        """Learner updates per seed over the whole run (rounds that start after warm-up, times k)."""
        rounds = self.total_steps // (self.update_period * self.num_envs)
        warmup_rounds = -(-(self.learning_starts // self.num_envs) // self.update_period)
        return (rounds - warmup_rounds) * self.updates_per_round

    @property
    def derived_fields(self) -> tuple[str, ...]:
        """The fields left at None and derived from the others (``adapt_every``, ``learning_starts``,
        ``eval_every``, ``eval_episodes``, ``obs_norm``, DQN's ``epsilon_decay_steps`` and PPO's
        ``minibatch_by_env``).

        Equality compares values only: ``DDPGConfig() == DDPGConfig(eval_every=2000, eval_episodes=10)``,
        although only the first re-derives them in :meth:`replace`.
        """
        return self._derived

    def cli_defaults(self):
        """A copy whose derived fields are None again, unvalidated: the flag defaults of a command line,
        so that a flag the user leaves out is derived from the flags given, not fixed at this value."""
        template = copy.copy(self)
        for name in self._derived:
            object.__setattr__(template, name, None)
        return template

    def replace(self, **changes):
        """A validated copy with some fields changed; fields that were derived are derived again."""
        rederive = {name: None for name in self._derived if name not in changes}
        return dataclasses.replace(self, **rederive, **changes)


@dataclasses.dataclass(frozen=True)
class DDPGConfig(_Schedule):
    """DDPG with a pluggable exploration strategy; defaults learn Pendulum-v1 in 20k steps.

    Step counts are environment steps per seed, summed over the num_envs parallel copies.
    """

    algo: ClassVar[str] = "ddpg"
    # The learner's name (not a field): ``--algo`` and the ``"algo"`` of metrics.json.
    BASE_LEARNING_STARTS: ClassVar[int] = 1_000  # learning_starts and adapt_every when not given
    BASE_ADAPT_EVERY: ClassVar[int] = 50

    env: str = "Pendulum-v1"
    """gymnax environment with continuous actions, brax/<name> (the brax extra), or your own as
    package.module:callable (the callable returns the env, or (env, env_params))."""
    exploration: Exploration = "param"
    """the exploration strategy: parameter noise, Gaussian or Ornstein–Uhlenbeck action noise, both, or none."""
    total_steps: int = 20_000
    """environment steps per seed (all parallel envs together)."""
    num_envs: int = 1
    """parallel environments; under parameter noise each acts with its own perturbed actor."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer widths of actor and critic."""
    layer_norm: bool = True
    """LayerNorm after each hidden layer of the actor (never perturbed)."""
    obs_norm: DerivedBool = None
    """normalise every network input by running observation statistics, clipped at ±5 (default: on for
    brax/<name>, off for gymnax envs)."""
    critic_layer_norm: bool = False
    """LayerNorm after each hidden layer of the critic (both TD3 twins), as in OpenAI baselines' DDPG."""
    critic_action_layer: int = 0
    """the critic's hidden layer whose input the action joins: 0 with the observation, 1 after the first
    hidden layer (OpenAI baselines' DDPG), up to len(hidden_sizes)."""
    batch_size: int = 128
    """replay batch size for each update and for σ adaptation."""
    buffer_size: int = 100_000
    """replay capacity in transitions."""
    learning_starts: DerivedInt = None
    """uniform random actions and no updates for this many steps (default: 1000; half the run when the
    run is at most 1000 steps)."""
    actor_lr: float = 1e-3
    """actor Adam learning rate."""
    critic_lr: float = 1e-3
    """critic Adam learning rate."""
    critic_l2: float = 0.0
    """L2 coefficient on the critic's hidden-layer kernels, a loss term l2·Σw²/2 (OpenAI baselines: 1e-2)."""
    tau: float = 0.005
    """Polyak coefficient of the target networks."""
    gamma: float = 0.99
    """discount."""
    sigma_init: float = 0.2
    """initial parameter-noise σ."""
    target_distance: float = 0.2
    """δ: desired action-space distance of the perturbed policy (normalised units)."""
    adapt_alpha: float = 1.01
    """σ ← σ/α above δ, σ·α below (1 keeps σ fixed)."""
    adapt_every: DerivedInt = None
    """adapt σ every this many update rounds (a round: 1/updates_per_step vector steps, then its updates;
    default: 50, or the nearest count within 2× whose blocks divide total_steps)."""
    resample_every: int = 0
    """0: new perturbation at each episode end; K > 0: every K steps of that env."""
    sigma_spread: float = 1.0
    """population σ spread: env i of N uses σ·spread^(i/(N−1) − ½), log-uniform over [σ/√spread, σ·√spread]."""
    noise_pool: bool = True
    """resamples read ε from a noise pool redrawn every adaptation block (fast); False: a fresh draw per resample."""
    updates_per_step: float = 1.0
    """learner updates per vector step: an integer k ≥ 1, or 1/U (one update every U vector steps)."""
    action_noise_std: float = 0.2
    """std of Gaussian / OU action noise (normalised units)."""
    ou_theta: float = 0.15
    """mean reversion of OU noise."""
    eval_every: DerivedInt = None
    """evaluate the unperturbed actor every this many steps (default: about 10 evaluations per run,
    at most 20: a divisor of total_steps that fits the σ-adaptation schedule)."""
    eval_episodes: DerivedInt = None
    """deterministic evaluation episodes per seed at each evaluation (default: 10; 5 for brax/<name>)."""
    coverage_steps: int = 0
    """histogram the states visited in the first this many env steps on the env's 2-D state plane (0: off)."""
    coverage_bins: int = 40
    """cells per axis of that coverage histogram."""
    brax_backend: BraxBackend = catalog.BRAX_DEFAULT_BACKEND
    """physics pipeline of a brax/<name> env (gymnax envs ignore it)."""

    def _validate(self) -> None:
        validate(self)

    def _hparams_type(self) -> type[HParams]:
        return HParams


@dataclasses.dataclass(frozen=True)
class TD3Config(DDPGConfig):
    """TD3: every :class:`DDPGConfig` field, plus target-policy smoothing and the delayed actor.

    Twin critics (the minimum of their targets in the TD target); the actor and all target
    networks move every ``policy_delay`` critic updates. Exploration is DDPG's, unchanged.
    """

    algo: ClassVar[str] = "td3"

    policy_noise: float = 0.2
    """std of the Gaussian noise on the target action (normalised units)."""
    noise_clip: float = 0.5
    """that noise is clipped to ±noise_clip."""
    policy_delay: int = 2
    """update the actor and the target networks every this many critic updates."""

    def _validate(self) -> None:
        validate(self)
        _require(
            _is_int(self.policy_delay) and 0 < self.policy_delay <= 1000,
            "policy_delay",
            f"must be a positive integer, got {self.policy_delay!r}",
        )
        for name in ("policy_noise", "noise_clip"):
            value = getattr(self, name)
            _require(_is_real(value) and value >= 0, name, f"must be >= 0, got {value!r}")


class DQNHParams(NamedTuple):
    """Dynamic hyper-parameters of :class:`DQNConfig`, each a float32 array (scalar or ``[G]``)."""

    lr: jax.Array
    tau: jax.Array
    gamma: jax.Array
    sigma_init: jax.Array
    adapt_alpha: jax.Array
    resample_every: jax.Array
    epsilon_start: jax.Array
    epsilon_end: jax.Array
    epsilon_decay_steps: jax.Array
    param_epsilon: jax.Array


@dataclasses.dataclass(frozen=True)
class DQNConfig(_Schedule):
    """DQN with parameter noise or ε-greedy; defaults learn CartPole-v1 (200k steps, see RESULTS.md).

    Step counts are environment steps per seed, summed over the num_envs parallel copies.
    """

    algo: ClassVar[str] = "dqn"
    # The learner's name (not a field): ``--algo`` and the ``"algo"`` of metrics.json.
    BASE_LEARNING_STARTS: ClassVar[int] = 5_000  # learning_starts and adapt_every when not given
    BASE_ADAPT_EVERY: ClassVar[int] = 20

    env: str = "CartPole-v1"
    """gymnax environment with discrete actions (DeepSea-<N>: the chain of length N with a fixed action map;
    DeepSeaRandom-<N>[-<K>]: a random map drawn from fold_in(jax.random.key(K), 0x6D6170)), or your own as
    package.module:callable (the callable returns the env, or (env, env_params))."""
    exploration: DQNExploration = "param"
    """the exploration strategy: parameter noise (with a small ε-greedy) or ε-greedy."""
    total_steps: int = 200_000
    """environment steps per seed (all parallel envs together)."""
    num_envs: int = 1
    """parallel environments; under parameter noise each acts with its own perturbed Q-network."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """hidden layer widths of the Q-network."""
    layer_norm: bool = True
    """LayerNorm after each hidden layer (never perturbed)."""
    obs_norm: DerivedBool = None
    """normalise every network input by running observation statistics, clipped at ±5 (default: off)."""
    double_dqn: bool = True
    """double-DQN targets: the online network picks the next action, the target network values it."""
    batch_size: int = 128
    """replay batch size for each update and for σ adaptation."""
    buffer_size: int = 50_000
    """replay capacity in transitions."""
    learning_starts: DerivedInt = None
    """uniform random actions and no updates for this many steps (default: 5000; half the run when the
    run is at most 5000 steps)."""
    lr: float = 1e-4
    """Adam learning rate (gradients clipped to global norm 10)."""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the run's updates."""
    tau: float = 0.005
    """Polyak coefficient of the target network."""
    gamma: float = 0.99
    """discount."""
    sigma_init: float = 0.1
    """initial parameter-noise σ."""
    adapt_alpha: float = 1.01
    """σ ← σ/α when the KL distance exceeds δ, σ·α below (1 keeps σ fixed)."""
    adapt_every: DerivedInt = None
    """adapt σ every this many update rounds (default: 20, or the nearest count within 2× whose blocks
    divide total_steps)."""
    resample_every: int = 0
    """0: new perturbation at each episode end; K > 0: every K steps of that env."""
    noise_pool: bool = True
    """resamples read ε from a noise pool redrawn every adaptation block (fast); False: a fresh draw per resample."""
    epsilon_start: float = 1.0
    """ε of the linear schedule at step 0 (ε-greedy acts with it; parameter noise sets δ from it)."""
    epsilon_end: float = 0.05
    """ε after epsilon_decay_steps."""
    epsilon_decay_steps: DerivedInt = None
    """env steps over which ε anneals linearly (default: a quarter of total_steps, 50000 of the default 200000)."""
    param_epsilon: float = 0.01
    """small ε-greedy kept alongside parameter noise."""
    updates_per_step: float = 0.25
    """learner updates per vector step: an integer k ≥ 1, or 1/U (one update every U vector steps)."""
    eval_every: DerivedInt = None
    """evaluate the greedy unperturbed Q-network every this many steps (default: about 10 evaluations
    per run, at most 20: a divisor of total_steps that fits the σ-adaptation schedule)."""
    eval_episodes: DerivedInt = None
    """greedy evaluation episodes per seed at each evaluation (default: 10)."""
    coverage_steps: int = 0
    """histogram the states visited in the first this many env steps on the env's 2-D state plane (0: off)."""
    coverage_bins: int = 40
    """cells per axis of that coverage histogram."""

    def _validate(self) -> None:
        validate_dqn(self)

    def _hparams_type(self) -> type[DQNHParams]:
        return DQNHParams


PPOExploration = Literal[PPO_EXPLORATIONS]


class PPOHParams(NamedTuple):
    """Dynamic hyper-parameters of :class:`PPOConfig`, each a float32 array (scalar, or ``[G]`` for a grid)."""

    lr: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    clip_eps: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array
    sigma_init: jax.Array
    target_distance: jax.Array
    adapt_alpha: jax.Array


@dataclasses.dataclass(frozen=True)
class PPOConfig(_Schedule):
    """PPO with its own sampling or on-policy parameter noise; defaults learn Pendulum-v1 in 150k steps.

    Defaults are rejax's PPO configuration for gymnax ``Pendulum-v1`` (``configs/gymnax/pendulum.yaml``
    of keraJLi/rejax: 100 envs × 100 steps per rollout, 10 epochs of 10 minibatches, lr 1e-3,
    gradient norm 10, γ 0.995, λ 0.95, clip 0.2, no entropy bonus, value coefficient 0.5,
    observation normalisation, 150k steps, 64×64 networks), with a ReLU MLP with LayerNorm as the
    policy's mean network (rejax: swish, no LayerNorm), the log-std in normalised action units
    (initially 0, PureJaxRL's value) and no value clipping.

    Measured on Pendulum-v1 (8 seeds, median of the final deterministic evaluations, 10 episodes
    each): −172 with these defaults; −236 with value clipping (``clip_value=True``, rejax's loss);
    −363 with ``init_log_std = ln 0.5`` (rejax's std of 1 torque unit; −728 with clipping too).
    ``exploration="param"`` (σ₀ 0.03, δ 0.02, α 1.1, whole-env minibatches): −187, the rollouts' KL
    holding at 0.021–0.023 (``pn-onpolicy --env Pendulum-v1``; PPO's own sampling with whole-env
    minibatches: −223).

    Step counts are environment steps per seed, summed over the num_envs parallel copies. One
    rollout of ``num_envs × num_steps`` steps is followed by its update and, under parameter noise,
    one σ adaptation: it is the run's adaptation block (``steps_per_block``).
    """

    algo: ClassVar[str] = "ppo"
    # The learner's name (not a field): ``--algo`` and the ``"algo"`` of metrics.json.

    env: str = "Pendulum-v1"
    """gymnax environment with continuous (Gaussian policy) or discrete actions (categorical policy), or
    your own as package.module:callable (the callable returns the env, or (env, env_params))."""
    exploration: PPOExploration = "gaussian"
    """gaussian: sample from the policy (PPO's own exploration; categorical for a discrete env); param: sample
    from a policy whose mean network is perturbed per env and episode (Plappert et al. 2018, on-policy)."""
    total_steps: int = 150_000
    """environment steps per seed (all parallel envs together); a multiple of num_envs × num_steps."""
    num_envs: int = 100
    """parallel environments; under parameter noise each acts with its own perturbed policy."""
    num_steps: int = 100
    """steps of each env per rollout (one update per rollout)."""
    update_epochs: int = 10
    """passes over each rollout."""
    num_minibatches: int = 10
    """minibatches per epoch; num_envs × num_steps must be a multiple of it (and num_envs too with minibatch_by_env)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer widths of the policy's mean network and of the value network."""
    layer_norm: bool = True
    """LayerNorm after each hidden layer of the policy's mean network (never perturbed)."""
    obs_norm: bool = True
    """normalise every network input by running observation statistics, clipped at ±5."""
    lr: float = 1e-3
    """Adam learning rate (one optimiser for policy, log-std and value)."""
    anneal_lr: bool = False
    """decay the learning rate linearly to 0 over the run's gradient steps."""
    gamma: float = 0.995
    """discount."""
    gae_lambda: float = 0.95
    """λ of generalized advantage estimation."""
    clip_eps: float = 0.2
    """PPO's ratio clip ε (and the value clip, with clip_value)."""
    clip_value: bool = False
    """clip the value loss around the rollout's values with clip_eps (PPO2, PureJaxRL and rejax do; off here:
    with Pendulum's returns in the thousands it holds the value back: 8 seeds ended at a median of −236 with it,
    −172 without)."""
    ent_coef: float = 0.0
    """entropy bonus coefficient."""
    vf_coef: float = 0.5
    """value loss coefficient."""
    max_grad_norm: float = 10.0
    """gradients are clipped to this global norm."""
    init_log_std: float = 0.0
    """initial log-std of the Gaussian policy, in normalised action units ([-1, 1]); discrete envs ignore it."""
    learn_log_std: bool = True
    """learn the log-std; False keeps it at init_log_std (e.g. a larger fixed std as a control)."""
    sigma_init: float = 0.03
    """initial parameter-noise σ (exploration param; on Pendulum-v1's first policy it gives a KL of about 0.015)."""
    target_distance: float = 0.02
    """δ: desired KL(π_θ ‖ π_θ+σε) on the rollout's observations; σ adapts once per rollout to track it."""
    adapt_alpha: float = 1.1
    """σ ← σ/α when the measured KL exceeds δ, σ·α below (1 keeps σ fixed). Larger than the off-policy
    learners' 1.01: σ adapts once per rollout, 15 times in the default run, and must follow the KL as the
    policy's std shrinks (KL ∝ σ²/std²)."""
    resample_every: int = 0
    """0: a new perturbation after each episode end, when the rollout it ended in is over; K > 0 (a multiple of
    num_steps): every K steps of that env."""
    minibatch_by_env: DerivedBool = None
    """minibatches of whole envs (all num_steps steps of num_envs / num_minibatches envs) rather than of shuffled
    transitions; default (none): on under parameter noise, where it lets an update apply one perturbed copy per env
    (off there, each transition reads its own ε: several times slower), off otherwise."""
    eval_every: DerivedInt = None
    """evaluate the unperturbed mean policy every this many steps (default: about 10 evaluations per run,
    at most 20: a divisor of total_steps that is a multiple of num_envs × num_steps)."""
    eval_episodes: DerivedInt = None
    """deterministic evaluation episodes per seed at each evaluation (default: 10)."""
    brax_backend: BraxBackend = catalog.BRAX_DEFAULT_BACKEND
    """physics pipeline of a brax/<name> env (gymnax envs ignore it)."""

    def _validate(self) -> None:
        validate_ppo(self)

    def _hparams_type(self) -> type[PPOHParams]:
        return PPOHParams

    @property
    def adapt_every(self) -> int:
        """Update rounds per adaptation block: 1 (a round is one rollout and its update)."""
        return 1

    @property
    def update_period(self) -> int:
        """Vector steps per update round: ``num_steps`` (one rollout)."""
        return self.num_steps

    @property
    def updates_per_round(self) -> int:
        """Gradient steps after each rollout: ``update_epochs × num_minibatches``."""
        return self.update_epochs * self.num_minibatches

    @property
    def rollout_steps(self) -> int:
        """Environment steps per rollout: ``num_envs × num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def num_rollouts(self) -> int:
        """Rollouts (and updates) per seed over the whole run."""
        return self.total_steps // self.rollout_steps

    @property
    def num_updates(self) -> int:
        """Gradient steps per seed over the whole run (what ``anneal_lr`` decays over)."""
        return self.num_rollouts * self.updates_per_round

    @property
    def minibatch_size(self) -> int:
        """Transitions per minibatch: ``num_envs × num_steps / num_minibatches``."""
        return self.rollout_steps // self.num_minibatches


def validate_ppo(config: PPOConfig) -> None:
    """Raises ``ValueError`` naming the first invalid field of a :class:`PPOConfig` and what it accepts."""
    _validate_env(config.env)
    _validate_brax_backend(config.brax_backend)
    if config.exploration == "none":
        _require(
            False,
            "exploration",
            "PPO has no 'none': it must sample its actions to have a policy gradient; its own sampling is "
            f"'gaussian' (categorical for a discrete env); choose one of {', '.join(PPO_EXPLORATIONS)}",
        )
    _require(
        config.exploration in PPO_EXPLORATIONS,
        "exploration",
        f"unknown PPO strategy {config.exploration!r}; choose one of {', '.join(PPO_EXPLORATIONS)}",
    )
    for name in ("total_steps", "num_envs", "num_steps", "update_epochs", "num_minibatches", "eval_every"):
        value = getattr(config, name)
        _require(
            _is_int(value) and 0 < value <= MAX_COUNT,
            name,
            f"must be a positive integer up to 2³¹−1, got {value!r}",
        )
    _require(
        _is_int(config.eval_episodes) and 0 < config.eval_episodes <= 10_000,
        "eval_episodes",
        f"must be a positive integer up to 10000, got {config.eval_episodes!r}",
    )
    _require(
        _is_int(config.resample_every) and 0 <= config.resample_every <= MAX_COUNT,
        "resample_every",
        f"must be an integer in [0, 2³¹−1] (0: at each episode end), got {config.resample_every!r}",
    )
    _require(
        isinstance(config.hidden_sizes, tuple)
        and len(config.hidden_sizes) > 0
        and all(_is_int(h) and h > 0 for h in config.hidden_sizes),
        "hidden_sizes",
        f"must be a non-empty tuple of positive integers, got {config.hidden_sizes!r}",
    )
    for name in ("layer_norm", "obs_norm", "anneal_lr", "clip_value", "learn_log_std", "minibatch_by_env"):
        _require(isinstance(getattr(config, name), bool), name, f"must be a bool, got {getattr(config, name)!r}")
    for name in ("lr", "clip_eps", "max_grad_norm", "sigma_init", "target_distance"):
        value = getattr(config, name)
        _require(_is_real(value) and value > 0, name, f"must be > 0, got {value!r}")
    for name in ("gamma", "gae_lambda"):
        value = getattr(config, name)
        _require(_is_real(value) and 0 <= value <= 1, name, f"must be in [0, 1], got {value!r}")
    for name in ("ent_coef", "vf_coef"):
        value = getattr(config, name)
        _require(_is_real(value) and value >= 0, name, f"must be >= 0, got {value!r}")
    _require(
        _is_real(config.init_log_std) and -5 <= config.init_log_std <= 2,
        "init_log_std",
        f"must be in [-5, 2] (std e^-5 ≈ 0.007 to e² ≈ 7.4 in normalised action units), got {config.init_log_std!r}",
    )
    _require(
        _is_real(config.adapt_alpha) and config.adapt_alpha >= 1,
        "adapt_alpha",
        f"must be >= 1 (1 keeps σ fixed), got {config.adapt_alpha!r}",
    )
    rollout = config.rollout_steps
    _require(
        rollout <= MAX_COUNT and rollout % config.num_minibatches == 0 and rollout // config.num_minibatches >= 2,
        "num_minibatches",
        f"({config.num_minibatches}) must divide num_envs × num_steps ({config.num_envs} × {config.num_steps} = "
        f"{rollout}) into minibatches of at least 2 transitions",
    )
    _require(
        not config.minibatch_by_env or config.num_envs % config.num_minibatches == 0,
        "num_minibatches",
        f"({config.num_minibatches}) must divide num_envs ({config.num_envs}) with minibatch_by_env (minibatches of "
        "whole envs, the default under parameter noise); or set minibatch_by_env=False",
    )
    _require(
        config.exploration != "param" or config.resample_every % config.num_steps == 0,
        "resample_every",
        f"({config.resample_every}) must be a multiple of num_steps ({config.num_steps}) under parameter noise: "
        "an env's ε is renewed between rollouts",
    )
    _require(
        config.total_steps % rollout == 0,
        "total_steps",
        f"({config.total_steps}) must be a multiple of num_envs × num_steps ({config.num_envs} × {config.num_steps} "
        f"= {rollout}): e.g. {_nearest_multiples(config.total_steps, rollout)}",
    )
    valid = valid_eval_intervals(config)
    _require(
        config.eval_every in valid,
        "eval_every",
        f"({config.eval_every}) must divide total_steps ({config.total_steps}) and be a multiple of num_envs × "
        f"num_steps ({rollout}); nearest valid: {_nearest(valid, config.eval_every)} (or leave it out: about "
        f"{EVALUATIONS} evaluations)",
    )


def _validate_brax_backend(backend: object) -> None:
    _require(
        backend in catalog.BRAX_BACKENDS,
        "brax_backend",
        f"unknown physics pipeline {backend!r}; choose one of {', '.join(catalog.BRAX_BACKENDS)}",
    )


def _validate_env(name: object) -> None:
    """A non-empty string; a ``module:callable`` one must import, a ``brax/<name>`` one must be available.

    Any other string is accepted here (a built-in gymnax name, one registered later, or the label
    of an env object); building the run refuses an unknown one. PPO takes either kind of actions.
    """
    _require(isinstance(name, str) and name != "", "env", f"must be a non-empty string, got {name!r}")
    if catalog.is_brax(name):
        from pn_jax.envs import brax_envs  # (imports JAX, and brax when installed)

        problem = brax_envs.problem(name, catalog.BRAX_DEFAULT_BACKEND)
        _require(problem is None, "env", str(problem))
    elif catalog.is_entry_point(name):
        catalog.entry_point(name)  # raises "env: cannot import …" / "has no attribute …"


CONFIGS: dict[str, type[DDPGConfig] | type[DQNConfig] | type[PPOConfig]] = {
    "ddpg": DDPGConfig,
    "td3": TD3Config,
    "dqn": DQNConfig,
    "ppo": PPOConfig,
}
"""The config class of each learner, by its ``--algo`` name."""


class Preset(NamedTuple):
    """A named set of config values (:data:`PRESETS`): a starting point every field of which can be overridden."""

    algo: str  # the learner it was written for (``--algo``); another learner takes it if it has every field
    summary: str  # one line: where the values come from
    differs: str  # what our loop cannot match of the original setup, and why
    fields: dict  # field name -> value; the env is not part of a preset


PRESETS: dict[str, Preset] = {
    "plappert2018": Preset(
        algo="ddpg",
        summary="the defaults of OpenAI baselines' DDPG, the published code behind the result plots of Plappert "
        "et al. (2018): 0.5 updates per env step, batch 64, τ 0.01, actor lr 1e-4, critic lr 1e-3, critic L2 "
        "1e-2, 64×64 LayerNorm actor and critic (the action joins the critic after its first layer), "
        "observation normalisation, adaptive parameter noise σ₀ = δ = 0.2 adapted every 50 updates",
        differs="one update after every 2 env steps instead of 50 updates after every 100 (the same ratio), and σ "
        "adapted after each 50 updates rather than before them; 100 uniform random steps before the first "
        "update, where baselines acts with the perturbed initial actor at once; time-limit truncations "
        "bootstrap (baselines treats them as terminal); the critic L2 leaves the output layer alone (the "
        "baselines code of the paper's time regularised it too: its filter on the name 'output' matched no "
        "layer); flax's initialisers (LeCun normal; baselines: Glorot uniform); about 10 evaluations, of 5 "
        "episodes on brax, 10 elsewhere (the paper: 20 episodes every 10k steps); the paper's appendix may "
        "list values other than these code defaults",
        fields=dict(
            exploration="param",
            total_steps=1_000_000,
            num_envs=1,
            hidden_sizes=(64, 64),
            layer_norm=True,
            critic_layer_norm=True,
            critic_action_layer=1,
            obs_norm=True,
            batch_size=64,
            buffer_size=1_000_000,
            learning_starts=100,
            actor_lr=1e-4,
            critic_lr=1e-3,
            critic_l2=1e-2,
            tau=0.01,
            gamma=0.99,
            sigma_init=0.2,
            target_distance=0.2,
            adapt_alpha=1.01,
            adapt_every=50,
            resample_every=0,
            updates_per_step=0.5,
            action_noise_std=0.2,
        ),
    ),
    "fujimoto2018": Preset(
        algo="td3",
        summary="TD3 as the reference implementation of Fujimoto et al. (2018) runs it since 2019, and CleanRL: "
        "256×256, batch 256, lr 3e-4, one update per env step, 25k uniform random steps, Gaussian action noise "
        "0.1, target smoothing 0.2 clipped at 0.5, actor every 2nd update, τ 0.005",
        differs="the 2018 paper itself used 400×300 networks, batch 100, lr 1e-3 and 10k random steps; the actor "
        "keeps a LayerNorm per hidden layer (the paper's has none) so that parameter noise, with δ = 0.1 to "
        "match the Gaussian std, can be compared on the same network; no observation normalisation, as in the "
        "paper",
        fields=dict(
            exploration="gaussian",
            total_steps=1_000_000,
            num_envs=1,
            hidden_sizes=(256, 256),
            layer_norm=True,
            critic_layer_norm=False,
            obs_norm=False,
            batch_size=256,
            buffer_size=1_000_000,
            learning_starts=25_000,
            actor_lr=3e-4,
            critic_lr=3e-4,
            critic_l2=0.0,
            tau=0.005,
            gamma=0.99,
            updates_per_step=1.0,
            action_noise_std=0.1,
            sigma_init=0.1,
            target_distance=0.1,
            policy_noise=0.2,
            noise_clip=0.5,
            policy_delay=2,
        ),
    ),
}
"""Named configurations: ``preset("plappert2018", env="brax/halfcheetah")``, or on the command line
``pn-train --preset plappert2018 --env brax/halfcheetah`` (any flag given overrides its value)."""


def preset(name: str, algo: str | None = None, **overrides) -> DDPGConfig | DQNConfig:
    """The validated config of preset ``name`` (:data:`PRESETS`) with some fields changed.

    Args:
      name: a key of :data:`PRESETS`.
      algo: the learner (``ddpg``, ``td3``, ``dqn``); default: the one the preset was written for.
        TD3 takes a DDPG preset's values; a learner without one of the preset's fields is refused.
      **overrides: config fields that replace the preset's (e.g. ``env``, ``exploration``, ``total_steps``).

    Raises:
      ValueError: an unknown preset or learner, a preset field the learner lacks, or an invalid result.
    """
    _require(name in PRESETS, "preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    chosen = PRESETS[name]
    algo = chosen.algo if algo is None else algo
    _require(algo in CONFIGS, "algo", f"unknown algorithm {algo!r}; choose one of {', '.join(CONFIGS)}")
    cls = CONFIGS[algo]
    missing = sorted(set(chosen.fields) - {f.name for f in dataclasses.fields(cls)})
    _require(
        not missing,
        "preset",
        f"{name} is a {chosen.algo} preset{' (td3 takes it too)' if chosen.algo == 'ddpg' else ''}; "
        f"{algo} has no field for its {', '.join(missing)}",
    )
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
    _require(not unknown, unknown[0] if unknown else "preset", f"not a field of {cls.__name__}")
    return cls(**{**chosen.fields, **overrides})


def _validate_env_name(config: DDPGConfig | DQNConfig, discrete: bool) -> None:
    """A built-in ``env`` must have the learner's kind of actions; a ``module:callable`` one must import.

    Any other string is accepted here: it may be a name given to :func:`pn_jax.envs.register` later,
    or the label of an environment object passed to :func:`pn_jax.make_train`; building the run
    (``make_train`` without ``env=``) refuses an unknown one.
    """
    _require(isinstance(config.env, str) and config.env != "", "env", f"must be a non-empty string, got {config.env!r}")
    if catalog.is_entry_point(config.env):
        catalog.entry_point(config.env)  # raises "env: cannot import …" / "has no attribute …"
    elif catalog.has_continuous_actions(config.env) == discrete:
        other, needs = (
            ("DDPG or TD3 (--algo ddpg / td3)", "DQN needs") if discrete else ("DQN (--algo dqn)", "DDPG and TD3 need")
        )
        kind = "continuous" if discrete else "discrete"
        valid = catalog.DISCRETE_ENVS if discrete else catalog.CONTINUOUS_ENVS
        _require(False, "env", f"{config.env!r} has {kind} actions, for {other}; {needs} one of {', '.join(valid)}")


def validate_dqn(config: DQNConfig) -> None:
    """Raises ``ValueError`` naming the first invalid field of a :class:`DQNConfig`."""
    _validate_env_name(config, discrete=True)
    _require(
        config.exploration in DQN_EXPLORATIONS,
        "exploration",
        f"unknown DQN strategy {config.exploration!r}; choose one of {', '.join(DQN_EXPLORATIONS)}",
    )
    _require(isinstance(config.double_dqn, bool), "double_dqn", f"must be a bool, got {config.double_dqn!r}")
    _require(isinstance(config.anneal_lr, bool), "anneal_lr", f"must be a bool, got {config.anneal_lr!r}")
    _validate_schedule(config)
    for name in ("lr", "sigma_init"):
        value = getattr(config, name)
        _require(_is_real(value) and value > 0, name, f"must be > 0, got {value!r}")
    for name in ("epsilon_start", "epsilon_end", "param_epsilon"):
        value = getattr(config, name)
        _require(_is_real(value) and 0 <= value <= 1, name, f"must be in [0, 1], got {value!r}")
    _require(
        _is_int(config.epsilon_decay_steps) and 0 < config.epsilon_decay_steps <= MAX_COUNT,
        "epsilon_decay_steps",
        f"must be a positive integer up to 2³¹−1, got {config.epsilon_decay_steps!r}",
    )


MAX_COUNT = 2**31 - 1  # step counters and sizes are int32 inside the jitted run

EVALUATIONS = 10
"""How many evaluations a run gets when ``eval_every`` is not given."""


def _positive_ints(config, names: tuple[str, ...]) -> bool:
    return all(_is_int(getattr(config, name)) and 0 < getattr(config, name) <= MAX_COUNT for name in names)


def default_adapt_every(config, base: int) -> int:
    """The ``adapt_every`` a run gets when it is not given: ``base``, unless ``total_steps`` is not a
    whole number of its blocks; then the count within ``[base/2, 2·base]`` nearest ``base`` in ratio
    (ties: the larger) whose blocks divide ``total_steps``. ``base`` when none does or the other
    fields are invalid, so that validation names the field at fault."""
    try:
        if not _positive_ints(config, ("total_steps", "num_envs")):
            return base
        unit = config.update_period * config.num_envs
        if config.total_steps % unit or config.total_steps % (base * unit) == 0:
            return base
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return base
    rounds = config.total_steps // unit
    fits = [count for count in range(max(1, base // 2), 2 * base + 1) if rounds % count == 0]
    return min(fits, key=lambda count: (abs(math.log(count / base)), -count)) if fits else base


def default_learning_starts(config, base: int) -> int:
    """The ``learning_starts`` a run gets when it is not given: ``base``, or half of ``total_steps``
    when ``base`` would not leave any of the run to learn in (but at least ``batch_size``), rounded up
    to a multiple of ``num_envs``."""
    if not _positive_ints(config, ("total_steps", "num_envs", "batch_size")):
        return base
    steps = base if base < config.total_steps else max(config.total_steps // 2, config.batch_size)
    return -(-steps // config.num_envs) * config.num_envs


def default_eval_episodes(env: str) -> int:
    """Evaluation episodes when ``eval_episodes`` is not given: 10, or 5 for brax's 1000-step episodes.

    Ten evaluations of five brax episodes are 50k env steps, played side by side and without updates.
    """
    return 5 if catalog.is_brax(env) else 10


def valid_eval_intervals(config) -> list[int]:
    """Every ``eval_every`` that ``config``'s schedule allows: the divisors of ``total_steps`` that
    are multiples of ``steps_per_block``, ascending (empty when ``total_steps`` is not such a multiple)."""
    total, block = config.total_steps, config.steps_per_block
    if total % block:
        return []
    blocks = total // block
    small = [d for d in range(1, math.isqrt(blocks) + 1) if blocks % d == 0]
    return sorted({block * d for d in small} | {block * (blocks // d) for d in small})


MAX_EVALUATIONS = 20
"""A derived ``eval_every`` never gives more evaluations than this, unless checkpoints ask for it
(:func:`fit_checkpoint_every`)."""


def default_eval_every(config, divides: int = 0) -> int:
    """The ``eval_every`` a run gets when it is not given: about ``EVALUATIONS`` evaluations.

    Among the intervals the schedule allows (:func:`valid_eval_intervals`) that give at most
    ``MAX_EVALUATIONS`` evaluations, the one whose count is nearest to ``EVALUATIONS`` in ratio
    (ties: more evaluations). When ``total_steps`` has no divisor near that (e.g. a prime number of
    adaptation blocks) a run gets fewer, at worst one at its end. Falls back to ``total_steps`` (or 1)
    when the schedule fields are themselves invalid, so that validation names the field at fault.

    ``divides`` > 0 (a checkpoint interval) keeps only the intervals that divide it; if all of those
    give more than ``MAX_EVALUATIONS`` evaluations, the longest of them.
    """
    total = config.total_steps
    fallback = total if _is_int(total) and 0 < total <= MAX_COUNT else 1
    try:
        if fallback != total or not all(
            _is_int(getattr(config, name)) and 0 < getattr(config, name) <= MAX_COUNT
            for name in ("num_envs", "adapt_every")
        ):
            return fallback
        valid = valid_eval_intervals(config)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return fallback
    valid = [every for every in valid if divides % every == 0] if divides > 0 else valid
    few = [every for every in valid if total // every <= MAX_EVALUATIONS]
    if not few:
        return max(valid, default=fallback)
    return min(few, key=lambda every: (abs(math.log(total / every / EVALUATIONS)), every))


def fit_checkpoint_every(config, checkpoint_every: int):
    """``config`` with an ``eval_every`` that ``checkpoint_every`` is a multiple of (checkpoints are
    saved between evaluation chunks, see :mod:`pn_jax.runner`).

    A derived ``eval_every`` that does not divide ``checkpoint_every`` is derived again among the
    intervals that do (:func:`default_eval_every`) and kept as given in the copy returned, so that it
    is reported as the value the run used. ``config`` itself when ``eval_every`` was given, the
    derived one fits already, or ``checkpoint_every`` is not a positive integer (0: no checkpoints;
    anything else is for :func:`pn_jax.runner.validate_checkpoint_every` to refuse).

    Raises:
      ValueError: naming ``checkpoint_every`` when no interval the schedule allows divides it.
    """
    if not (_is_int(checkpoint_every) and checkpoint_every > 0) or "eval_every" not in config.derived_fields:
        return config
    if checkpoint_every % config.eval_every == 0:
        return config
    every = default_eval_every(config, divides=checkpoint_every)
    block = config.steps_per_block
    _require(
        checkpoint_every % every == 0,
        "checkpoint_every",
        f"({checkpoint_every}) must be a multiple of an evaluation interval, and every one is a multiple of "
        f"adapt_every × update period × num_envs ({config.adapt_every} × {config.update_period} × "
        f"{config.num_envs} = {block}): e.g. {_nearest_multiples(checkpoint_every, block)}",
    )
    return config.replace(eval_every=every)


def default_obs_norm(env: str) -> bool:
    """``obs_norm`` when it is not given: on for brax locomotion (raw joint velocities reach tens, and
    a weight perturbation's effect on the actions scales with the input), off for gymnax's
    classic-control observations, which are of order one already. Measured (RESULTS.md): HalfCheetah
    with the plappert2018 preset ends at an IQM of 2355 with it and 1772 without (4 paired seeds,
    p = 0.25); on Pendulum-v1 it moved the main job's final returns by +2 on average (8 paired seeds,
    p = 0.16)."""
    return catalog.is_brax(env)


EPSILON_DECAY_SHARE = 4
"""A derived ``epsilon_decay_steps`` is ``total_steps`` divided by this (DQN's 50k of 200k steps)."""


def default_epsilon_decay_steps(config) -> int:
    """The ``epsilon_decay_steps`` a DQN run gets when it is not given: a quarter of ``total_steps``
    (at least 1; 1 when ``total_steps`` is invalid, which validation then names)."""
    total = config.total_steps
    return max(1, total // EPSILON_DECAY_SHARE) if _is_int(total) and 0 < total <= MAX_COUNT else 1


def _require(ok: bool, field: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{field}: {message}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(config: DDPGConfig) -> None:
    """Raises ``ValueError`` naming the first invalid field and what it accepts."""
    _validate_brax_backend(config.brax_backend)
    if catalog.is_brax(config.env):  # every brax environment has continuous actions
        from pn_jax.envs import brax_envs  # (imports JAX, and brax when installed)

        problem = brax_envs.problem(config.env, config.brax_backend)
        _require(problem is None, "env", str(problem))
    else:
        _validate_env_name(config, discrete=False)
    _require(
        config.exploration in EXPLORATIONS,
        "exploration",
        f"unknown strategy {config.exploration!r}; choose one of {', '.join(EXPLORATIONS)}",
    )
    _validate_schedule(config)
    _require(
        isinstance(config.critic_layer_norm, bool),
        "critic_layer_norm",
        f"must be a bool, got {config.critic_layer_norm!r}",
    )
    _require(
        _is_int(config.critic_action_layer) and 0 <= config.critic_action_layer <= len(config.hidden_sizes),
        "critic_action_layer",
        f"must be an integer in [0, {len(config.hidden_sizes)}] (the number of hidden layers), "
        f"got {config.critic_action_layer!r}",
    )
    _require(
        _is_real(config.critic_l2) and config.critic_l2 >= 0, "critic_l2", f"must be >= 0, got {config.critic_l2!r}"
    )
    for name in ("actor_lr", "critic_lr", "sigma_init", "target_distance"):
        value = getattr(config, name)
        _require(_is_real(value) and value > 0, name, f"must be > 0, got {value!r}")
    _require(
        _is_real(config.sigma_spread) and config.sigma_spread >= 1,
        "sigma_spread",
        f"must be >= 1 (1: one shared σ), got {config.sigma_spread!r}",
    )
    _require(
        _is_real(config.action_noise_std) and config.action_noise_std >= 0,
        "action_noise_std",
        f"must be >= 0, got {config.action_noise_std!r}",
    )
    _require(_is_real(config.ou_theta) and config.ou_theta > 0, "ou_theta", f"must be > 0, got {config.ou_theta!r}")


def _validate_schedule(config) -> None:
    """Checks the fields both configs share: sizes, step counts and how they divide."""
    for name in (
        "total_steps",
        "num_envs",
        "batch_size",
        "buffer_size",
        "adapt_every",
        "eval_every",
        "eval_episodes",
        "coverage_bins",
    ):
        value = getattr(config, name)
        _require(
            _is_int(value) and 0 < value <= MAX_COUNT, name, f"must be a positive integer up to 2³¹−1, got {value!r}"
        )
    for name in ("learning_starts", "resample_every", "coverage_steps"):
        value = getattr(config, name)
        _require(_is_int(value) and 0 <= value <= MAX_COUNT, name, f"must be an integer in [0, 2³¹−1], got {value!r}")
    _require(
        config.coverage_bins <= 1024, "coverage_bins", f"must be at most 1024 per axis, got {config.coverage_bins}"
    )
    _require(
        isinstance(config.hidden_sizes, tuple)
        and len(config.hidden_sizes) > 0
        and all(_is_int(h) and h > 0 for h in config.hidden_sizes),
        "hidden_sizes",
        f"must be a non-empty tuple of positive integers, got {config.hidden_sizes!r}",
    )
    _require(isinstance(config.layer_norm, bool), "layer_norm", f"must be a bool, got {config.layer_norm!r}")
    _require(isinstance(config.obs_norm, bool), "obs_norm", f"must be a bool, got {config.obs_norm!r}")
    _require(isinstance(config.noise_pool, bool), "noise_pool", f"must be a bool, got {config.noise_pool!r}")
    _require(_is_real(config.tau) and 0 < config.tau <= 1, "tau", f"must be in (0, 1], got {config.tau!r}")
    _require(_is_real(config.gamma) and 0 <= config.gamma <= 1, "gamma", f"must be in [0, 1], got {config.gamma!r}")
    _require(
        _is_real(config.adapt_alpha) and config.adapt_alpha >= 1,
        "adapt_alpha",
        f"must be >= 1 (1 keeps σ fixed), got {config.adapt_alpha!r}",
    )
    ups = config.updates_per_step
    _require(
        _is_real(ups)
        and 0 < ups < 1e6
        and (abs(ups - round(ups)) < 1e-9 if ups >= 1 else abs(1 / ups - round(1 / ups)) < 1e-6),
        "updates_per_step",
        f"must be a positive integer k or a fraction 1/U (e.g. 0.0625 = 1/16), got {ups!r}",
    )
    _require(
        config.batch_size <= config.buffer_size,
        "batch_size",
        f"({config.batch_size}) must not exceed buffer_size ({config.buffer_size})",
    )
    _require(
        config.learning_starts >= config.batch_size,
        "learning_starts",
        f"({config.learning_starts}) must be at least batch_size ({config.batch_size}) so the first update "
        "samples a full batch",
    )
    block = (
        f"adapt_every × update period × num_envs ({config.adapt_every} × {config.update_period} × "
        f"{config.num_envs} = {config.steps_per_block})"
    )
    total, block_steps = config.total_steps, config.steps_per_block
    _require(
        total % block_steps == 0,
        "total_steps",
        f"({total}) must be a multiple of {block}: e.g. {_nearest_multiples(total, block_steps)}",
    )
    valid = valid_eval_intervals(config)
    _require(
        config.eval_every in valid,
        "eval_every",
        f"({config.eval_every}) must divide total_steps ({total}) and be a multiple of {block}; "
        f"nearest valid: {_nearest(valid, config.eval_every)} (or leave it out: about {EVALUATIONS} evaluations)",
    )
    _require(
        config.learning_starts % config.num_envs == 0,
        "learning_starts",
        f"({config.learning_starts}) must be a multiple of num_envs ({config.num_envs}): "
        f"e.g. {_nearest_multiples(config.learning_starts, config.num_envs)}",
    )
    _require(
        config.learning_starts < config.total_steps,
        "learning_starts",
        f"({config.learning_starts}) must be below total_steps ({config.total_steps})",
    )


def _nearest_multiples(value: int, step: int) -> str:
    """``"a or b"``: the multiples of ``step`` just below and above ``value`` (positive ones only)."""
    below, above = value // step * step, -(-value // step) * step
    return " or ".join(str(v) for v in dict.fromkeys((below, above)) if v > 0)


def _nearest(valid: list[int], value: int) -> str:
    """The valid values just below and above ``value``, as ``"a or b"``."""
    below = [v for v in valid if v <= value][-1:]
    above = [v for v in valid if v >= value][:1]
    return " or ".join(str(v) for v in dict.fromkeys(below + above))


def _is_real(value) -> bool:
    """A finite int or float (not a bool, NaN or ±inf)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
