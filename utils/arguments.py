"""ppo()'s arguments, each declared once: its default, its one-line doc, whether it is a flag,
whether a resume must keep it, what a run saved before it existed had, and its check.

`PPOArgs` is the one place (CleanRL's `Args`). From it come ppo()'s signature and the Args section
of its docstring (`help(ppo.ppo)`), the flags of `python ppo.py` (utils/cli.py), the checks
(`check`), the resume rules (utils/checkpoint.py) and config.json. This module imports neither
torch nor gymnasium: the launcher reads it before any rank starts.
"""

from __future__ import annotations

import difflib
import inspect
import textwrap
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

# How a resume treats an argument: it must keep the run's value (what the checkpoint holds or
# progress.txt's columns depend on it), may change it with a record in config.json, or may
# change it freely (how long, where, what is printed).
MATCH, RECORD, FREE = "match", "record", "free"
# Checks of a single value; the checks that relate arguments are in check().
POSITIVE, NON_NEGATIVE, ABOVE_ZERO, FRACTION = "positive", "non_negative", "above_zero", "fraction"
RULES = {
    POSITIVE: (lambda v: isinstance(v, int) and v > 0, "must be a positive integer"),
    NON_NEGATIVE: (lambda v: v >= 0, "must be >= 0"),
    ABOVE_ZERO: (lambda v: v > 0, "must be greater than 0"),
    FRACTION: (lambda v: 0 < v <= 1, "must be in (0, 1]"),
}
LOSSES = ("clip", "penalty")


def arg(
    default: Any,
    doc: str,
    *,
    flag: bool = True,
    on_resume: str = RECORD,
    before: Any = MISSING,
    check: str | None = None,
    aliases: tuple[str, ...] = (),
):
    """One argument: its default and doc; whether it is a flag; MATCH, RECORD or FREE on resume;
    `before`, the value of runs saved before it existed; its check; more flags of its own."""
    info = dict(
        doc=doc, flag=flag, on_resume=on_resume, before=before, check=check, aliases=aliases
    )
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=info)
    return field(default=default, metadata=info)


@dataclass
class PPOArgs:
    """ppo()'s arguments after env_fn, in Spinning Up's order, then ours (docs/algorithm.md gives
    the reasons; where a default differs from Spinning Up's, its doc names Spinning Up's)."""

    actor_critic: Any = arg(
        None,
        "The constructor of the actor-critic, called as ``actor_critic(obs_space, act_space, "
        "normalize_obs=..., log_std_init=..., **ac_kwargs)`` (docs: API); None: "
        "core.MLPActorCritic for a Box observation space, core.CNNActorCritic for a Dict.",
        flag=False,
    )
    ac_kwargs: dict = arg(
        {},
        "More keyword arguments of actor_critic, e.g. ``dict(hidden_sizes=(64, 64))`` (flags "
        "--hid and --l).",
        flag=False,
    )
    seed: int = arg(0, "Seed of every random stream: each rank's and env's is drawn from it.")
    steps_per_epoch: int = arg(
        2000,
        "Env steps per epoch over all ranks and envs, a multiple of num_envs (Spinning Up: 4000).",
        on_resume=MATCH,
        check=POSITIVE,
        aliases=("--steps",),
    )
    epochs: int = arg(
        50, "Number of epochs, each one policy update.", on_resume=FREE, check=POSITIVE
    )
    gamma: float = arg(0.99, "Discount factor, in (0, 1].", check=FRACTION)
    clip_ratio: float = arg(
        0.2, "The clip range epsilon of the policy objective, usually 0.1 to 0.3.", check=ABOVE_ZERO
    )
    pi_lr: float = arg(3e-4, "Learning rate of the policy's Adam.", check=ABOVE_ZERO)
    vf_lr: float = arg(1e-3, "Learning rate of the value function's Adam.", check=ABOVE_ZERO)
    train_pi_iters: int = arg(
        10,
        "Passes over the epoch's data for the policy, each of `minibatches` steps; early "
        "stopping may cut them short (Spinning Up: 80 full-batch steps).",
        check=POSITIVE,
    )
    train_v_iters: int = arg(
        10,
        "Passes over the epoch's data for the value function (Spinning Up: 80 full-batch steps).",
        check=POSITIVE,
    )
    lam: float = arg(0.95, "Lambda of GAE-lambda, in (0, 1] (Spinning Up: 0.97).", check=FRACTION)
    max_ep_len: int = arg(
        1000,
        "Longest episode in env steps, in training and evaluation, on top of the env's own time "
        "limit; a cut-off is bootstrapped from V.",
        check=POSITIVE,
    )
    target_kl: float = arg(
        0.03,
        "The KL between old and new policy at which the clip loss stops early (at 1.5 x it), "
        "and the penalty loss's target (Spinning Up: 0.01).",
        check=ABOVE_ZERO,
    )
    logger_kwargs: dict = arg(
        {},
        "Arguments of EpochLogger, e.g. ``dict(output_dir=..., exp_name=...)``; by default "
        "``data/NAME/NAME_s<seed>``, NAME from the env (docs: CLI), never over a run.",
        flag=False,
        on_resume=FREE,
    )
    save_freq: int = arg(
        10, "Epochs between checkpoints; the last epoch is always saved.", check=POSITIVE
    )
    loss: str = arg(
        "clip",
        'The policy objective: "clip" (clipped surrogate, KL early stopping) or "penalty" '
        "(adaptive KL penalty).",
        on_resume=MATCH,
    )
    kl_beta: float = arg(1.0, 'Initial coefficient of the KL penalty with loss="penalty".')
    minibatches: int = arg(
        8,
        "Minibatches per pass over the epoch's data; 1 is one full-batch step per pass "
        "(Spinning Up).",
        check=POSITIVE,
    )
    max_grad_norm: float = arg(
        0.5,
        "Clip each network's gradient norm, averaged over ranks, to this; 0 turns clipping off "
        "(Spinning Up).",
        check=NON_NEGATIVE,
    )
    adam_eps: float = arg(
        1e-8,
        "Adam's epsilon (CleanRL and Stable-Baselines3: 1e-5).",
        on_resume=MATCH,
        before=1e-8,
        check=ABOVE_ZERO,
    )
    anneal_lr: bool = arg(
        False,
        "Lower both learning rates linearly to 0 over the epochs (CleanRL's default; Spinning "
        "Up: off).",
    )
    lambda_returns: bool = arg(
        True,
        "Fit V to the GAE-lambda returns; off, to the discounted rewards-to-go (Spinning Up).",
        before=False,
    )
    log_std_init: float = arg(-0.5, "Initial log std of the Gaussian policy, learned from there.")
    num_envs: int = arg(
        40,
        "Environments over all ranks, a multiple of the ranks; each rank steps its share as one "
        "batch, one policy call per step.",
        on_resume=MATCH,
        check=POSITIVE,
    )
    normalize_obs: bool = arg(
        True,
        "Normalize observations by running statistics merged over ranks, clipped to [-10, 10] "
        "(Spinning Up: off).",
        on_resume=MATCH,
    )
    normalize_rew: bool = arg(
        True,
        "Scale rewards by the running std of the discounted return, clipped to [-10, 10]; "
        "EpRet stays the env's (Spinning Up: off).",
        on_resume=MATCH,
        before=False,
    )
    warmup_normalizers: bool = arg(
        True,
        "Run one epoch of the untrained policy only to give the normalizers their first "
        "statistics; it counts in TotalEnvInteracts (Spinning Up: off).",
        before=False,
    )
    ortho_init: bool = arg(
        True,
        "Orthogonal initialization as CleanRL and Stable-Baselines3 do (Spinning Up: "
        "PyTorch's default).",
    )
    privileged_critic: bool = arg(
        True,
        'Where a Dict-observation env gives its full state in ``info["state"]``, the critic '
        "learns from that instead (an asymmetric critic).",
        on_resume=MATCH,
    )
    state_loss_coef: float = arg(
        1.0,
        "Weight of the actor's auxiliary loss of guessing that state from its own inputs (with "
        "privileged_critic); 0 turns it off.",
        on_resume=MATCH,
        check=NON_NEGATIVE,
    )
    eval_freq: int = arg(
        0,
        "Epochs between evaluations of the deterministic policy on seeds that training never "
        "uses; 0 turns evaluation off.",
        check=NON_NEGATIVE,
    )
    eval_episodes: int = arg(
        50,
        "Episodes per evaluation, over all ranks, and of the final policy's at the end.",
        check=POSITIVE,
    )
    resume: str | None = arg(
        None,
        "A run directory to continue from its last checkpoint, with the run's own arguments "
        "and number of ranks; epochs may be raised.",
        on_resume=FREE,
    )
    quiet: bool = arg(False, "Print nothing per epoch; files are written as usual.", on_resume=FREE)
    tensorboard: bool = arg(
        False, "Also write every progress column to RUN_DIR/tb for TensorBoard.", on_resume=FREE
    )


ARGUMENTS = {f.name: f for f in fields(PPOArgs)}


def make(kwargs: dict) -> PPOArgs:
    """ppo()'s keyword arguments as PPOArgs; a name ppo() does not take is a one-line error."""
    for name in kwargs:
        if name not in ARGUMENTS:
            close = difflib.get_close_matches(name, list(ARGUMENTS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"ppo() takes no argument {name!r}{hint}; help(ppo.ppo) lists them.")
    return PPOArgs(**kwargs)


def from_config(config: dict) -> PPOArgs:
    """The arguments a run's config.json records (as utils.logx.load_config reads it)."""
    return PPOArgs(**{name: config[name] for name in ARGUMENTS if name in config})


def defaults() -> dict[str, Any]:
    """Every argument's default."""
    return vars(PPOArgs())


def names(on_resume: str) -> list[str]:
    """The arguments that a resume treats as `on_resume` (MATCH, RECORD or FREE)."""
    return [name for name, f in ARGUMENTS.items() if f.metadata["on_resume"] == on_resume]


def saved_before() -> dict[str, Any]:
    """The value a run saved before an argument existed had, for each argument added later."""
    return {
        name: f.metadata["before"]
        for name, f in ARGUMENTS.items()
        if f.metadata["before"] is not MISSING
    }


def documented(ppo):
    """ppo(env_fn, **kwargs) with the signature and the docstring of every argument, for
    help(ppo.ppo), an IDE and the docs: its docstring's `**kwargs:` entry becomes the list."""
    positional = inspect.Parameter("env_fn", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    keywords = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value)
        for name, value in defaults().items()
    ]
    ppo.__signature__ = inspect.Signature([positional, *keywords])
    head, entry, tail = ppo.__doc__.partition("        **kwargs:")  # one line, indented 8
    entries = []
    for name, f in ARGUMENTS.items():
        entries += textwrap.wrap(
            f"{name} ({f.type}): {f.metadata['doc']}",
            width=100,
            initial_indent=" " * 8,
            subsequent_indent=" " * 12,
        )
    ppo.__doc__ = head + "\n".join(entries) + "\n" + tail.split("\n", 1)[1]
    return ppo


def check(args: PPOArgs, ranks: int) -> None:
    """Reject values that cannot work, with the value, the rule and what to do."""
    for name, f in ARGUMENTS.items():
        rule = f.metadata["check"]
        value = getattr(args, name)
        if rule is not None and not RULES[rule][0](value):
            raise ValueError(f"{name}={value!r} {RULES[rule][1]}.")
    if args.loss not in LOSSES:
        raise ValueError(f"loss={args.loss!r} is not one of {LOSSES}.")
    if args.resume is not None and not str(args.resume).strip():
        raise ValueError(f"resume={args.resume!r} is empty: give the run directory to continue.")
    if args.num_envs % ranks != 0:
        raise ValueError(
            f"num_envs={args.num_envs} must be a multiple of the MPI ranks ({ranks}), so that "
            "every rank steps the same number of envs; change one of them."
        )
    if args.steps_per_epoch % args.num_envs != 0:
        raise ValueError(
            f"steps_per_epoch={args.steps_per_epoch} must be a multiple of num_envs "
            f"({args.num_envs}), so that every environment collects the same number of steps; "
            "change one of them."
        )
    local_batch = args.steps_per_epoch // ranks
    if args.minibatches > local_batch:
        raise ValueError(
            f"minibatches={args.minibatches} is more than the {local_batch} transitions each of "
            f"the {ranks} ranks collects per epoch (steps_per_epoch / ranks); use fewer "
            "minibatches or more steps_per_epoch."
        )
