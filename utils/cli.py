"""The command line of ppo.py: flags generated from ppo()'s signature, their checks, the launch.

Every argument of ppo() with a number, string or boolean default becomes a flag of the same name
(`--pi_lr`, with the alias `--pi-lr`), typed and defaulted by the signature and documented by the
docstring, so a flag can never drift from the function it sets.

The process you start (`python ppo.py --cpu 2 ...`) only parses and checks the flags, then starts
the MPI ranks; it never imports torch, which only the ranks need (bench/startup.py measures it).
So the signature is read from ppo.py's source (with `ast`), not from the imported function.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
from pathlib import Path

import gymnasium as gym

import envs  # noqa: F401  (registers the ArmReach envs, without loading PyBullet)
from utils.env_check import check_env
from utils.logx import check_run_name, check_writable, default_exp_name, load_config
from utils.mpi import allgather, launched_by_mpirun, mpi_fork, num_procs, proc_id

PPO_SOURCE = Path(__file__).resolve().parent.parent / "ppo.py"
LOSSES = ("clip", "penalty")
# ppo() arguments that are not flags: objects, or set from other flags (--hid, --l, --exp_name).
NOT_FLAGS = ("env_fn", "actor_critic", "ac_kwargs", "logger_kwargs")

# "    name (type): description" at the first indentation level of an "Args:" section.
_ARG_LINE = re.compile(r"^(?P<indent>\s+)(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<text>.*)$")


def read_signature(path: Path = PPO_SOURCE, name: str = "ppo") -> tuple[dict, str]:
    """({argument: default} for the literal defaults of function `name`, its docstring)."""
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    args = [*fn.args.args, *fn.args.kwonlyargs]
    default_nodes = [None] * (len(fn.args.args) - len(fn.args.defaults))
    default_nodes += [*fn.args.defaults, *fn.args.kw_defaults]
    defaults = {}
    for arg, node in zip(args, default_nodes, strict=True):
        try:
            defaults[arg.arg] = ast.literal_eval(node) if node is not None else None
        except ValueError:  # dict(), core.MLPActorCritic: not a flag
            continue
    return defaults, ast.get_docstring(fn) or ""


def docstring_arguments(doc: str) -> dict[str, str]:
    """Each argument's entry in a docstring's "Args:" section, on one line, by name."""
    lines = doc.split("Args:", 1)[-1].splitlines()
    entries: dict[str, list[str]] = {}
    current, indent = None, None
    for line in lines:
        match = _ARG_LINE.match(line)
        if match and (indent is None or len(match["indent"]) == indent):
            indent = len(match["indent"])
            current = match["name"]
            entries[current] = [match["text"]]
        elif current is not None and line.strip():
            entries[current].append(line.strip())
    return {name: " ".join(text) for name, text in entries.items()}


def add_arguments_from_signature(
    parser: argparse.ArgumentParser,
    defaults: dict,
    doc: str,
    skip: tuple[str, ...] = (),
    aliases: dict[str, list[str]] | None = None,
) -> list[str]:
    """Add a flag for each simple keyword argument; return the names added.

    `aliases` adds further flags for an argument, e.g. Spinning Up's `--steps` for
    `steps_per_epoch`.
    """
    docs = docstring_arguments(doc)
    added = []
    for name, default in defaults.items():
        if name in skip:
            continue
        flags = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
        flags += (aliases or {}).get(name, [])
        help_text = docs.get(name, "")
        if isinstance(default, bool):
            parser.add_argument(
                *flags, default=default, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif isinstance(default, int | float | str):
            parser.add_argument(*flags, type=type(default), default=default, help=help_text)
        elif default is None:
            parser.add_argument(*flags, type=str, default=None, help=help_text)
        else:
            continue
        added.append(name)
    return added


def positive_int(text: str) -> int:
    if not re.fullmatch(r"\s*\+?\d+\s*", text) or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def key_value(text: str) -> tuple[str, object]:
    """KEY=VALUE -> (KEY, VALUE parsed as JSON where it parses, else the string)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def add_env_arguments(parser: argparse.ArgumentParser) -> None:
    """--env and --env_kwargs, as ppo.py and utils.sweep take them."""
    parser.add_argument("--env", type=str, default="ArmReach-v0", help="Gymnasium env id.")
    parser.add_argument(
        "--env_kwargs",
        "--env-kwargs",
        type=key_value,
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="Keyword arguments of gym.make, e.g. robot=franka_panda (values parsed as JSON).",
    )


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its help, but not a None: those flags say in words what
    happens without them."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser of ppo.py, and the names of its flags that are ppo() arguments."""
    parser = argparse.ArgumentParser(
        prog="ppo.py",
        description="Train a policy with PPO on a Gymnasium environment (see ppo.ppo for details).",
        formatter_class=DefaultsHelpFormatter,
        allow_abbrev=False,
    )
    add_env_arguments(parser)
    parser.add_argument("--hid", type=positive_int, default=64, help="Units per hidden layer.")
    parser.add_argument("--l", type=positive_int, default=2, help="Number of hidden layers.")
    parser.add_argument(
        "--cpu", type=positive_int, default=None, help="MPI ranks to launch (default: 1)."
    )
    parser.add_argument(
        "--exp_name",
        "--exp-name",
        type=str,
        default=None,
        help="The run's name (default: ppo-ENV[-KEY=VALUE...] from --env and --env_kwargs).",
    )
    parser.add_argument("--data_dir", "--data-dir", type=str, default="data")
    defaults, doc = read_signature()
    ppo_flags = add_arguments_from_signature(
        parser, defaults, doc, skip=NOT_FLAGS, aliases=dict(steps_per_epoch=["--steps"])
    )
    one_line_errors(parser)
    return parser, ppo_flags


def one_line(message: str) -> str:
    """The message on one line: a newline or another control character (in a path someone
    typed, say) is shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))


def one_line_errors(parser: argparse.ArgumentParser) -> None:
    """A mistake on the command line ends in one line and status 2, not argparse's usage block:
    the message already names the flag."""
    command = parser.prog if parser.prog.startswith("python") else f"python {parser.prog}"
    parser.error = lambda message: parser.exit(
        2, f"{parser.prog}: error: {one_line(message)} ({command} --help lists the flags)\n"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The flags; with --resume RUN, the run's saved arguments, overridden by the flags given.

    The namespace also carries `ppo_kwargs` (the ppo() arguments) and `hidden_sizes`.
    """
    parser, ppo_flags = build_parser()
    args = parser.parse_args(argv)
    empty = dict(data_dir="a folder", exp_name="a name", resume="a run directory")
    for name, what in empty.items():  # '' would mean the current folder
        value = getattr(args, name)
        if value is not None and not value.strip():
            parser.error(f"--{name} is empty; give {what}, or leave the flag out")
    if args.resume is not None:
        try:
            saved = load_config(args.resume)
        except ValueError as e:
            fail(str(e))
        parser.set_defaults(
            **{name: saved[name] for name in ppo_flags if name in saved and name != "resume"},
            env=saved.get("env_id"),
            env_kwargs=list(saved.get("env_kwargs", {}).items()),
            exp_name=saved.get("exp_name"),
            cpu=saved.get("mpi_ranks"),
        )
        args = parser.parse_args(argv)  # given flags win: --epochs 100 trains longer
        args.hidden_sizes = saved["ac_kwargs"].get("hidden_sizes", [args.hid] * args.l)
    else:
        args.hidden_sizes = [args.hid] * args.l
    args.env_kwargs = dict(args.env_kwargs)
    if args.exp_name is None:
        args.exp_name = default_exp_name(args.env, args.env_kwargs)
    args.cpu = 1 if args.cpu is None else args.cpu
    args.ppo_kwargs = {name: getattr(args, name) for name in ppo_flags}
    return args


def check_arguments(ranks: int, **kwargs) -> None:
    """Reject ppo() arguments that cannot work, with the value, the rule and what to do."""
    resume = kwargs["resume"]
    if resume is not None and not str(resume).strip():
        raise ValueError(f"resume={resume!r} is empty: give the directory of the run to continue.")
    for name in (
        "steps_per_epoch",
        "epochs",
        "train_pi_iters",
        "train_v_iters",
        "minibatches",
        "max_ep_len",
        "save_freq",
    ):
        if kwargs[name] <= 0:
            raise ValueError(f"{name}={kwargs[name]} must be a positive integer.")
    if kwargs["eval_freq"] < 0 or kwargs["eval_episodes"] <= 0:
        raise ValueError(
            f"eval_freq={kwargs['eval_freq']} must be >= 0 (0: no evaluation) and "
            f"eval_episodes={kwargs['eval_episodes']} positive."
        )
    for name in ("pi_lr", "vf_lr", "clip_ratio", "target_kl", "adam_eps"):
        if not kwargs[name] > 0:
            raise ValueError(f"{name}={kwargs[name]} must be greater than 0.")
    for name in ("gamma", "lam"):
        if not 0 < kwargs[name] <= 1:
            raise ValueError(f"{name}={kwargs[name]} must be in (0, 1].")
    if kwargs["max_grad_norm"] < 0:
        raise ValueError(f"max_grad_norm={kwargs['max_grad_norm']} must be >= 0 (0: no clipping).")
    if kwargs["loss"] not in LOSSES:
        raise ValueError(f"loss={kwargs['loss']!r} is not one of {LOSSES}.")
    num_envs = kwargs["num_envs"]
    if num_envs <= 0 or num_envs % ranks != 0:
        raise ValueError(
            f"num_envs={num_envs} must be a positive multiple of the MPI ranks ({ranks}), so that "
            "every rank steps the same number of envs; change one of them."
        )
    if kwargs["steps_per_epoch"] % num_envs != 0:
        raise ValueError(
            f"steps_per_epoch={kwargs['steps_per_epoch']} must be a multiple of num_envs "
            f"({num_envs}), so that every environment collects the same number of steps; "
            "change one of them."
        )
    local_batch = kwargs["steps_per_epoch"] // ranks
    if kwargs["minibatches"] > local_batch:
        raise ValueError(
            f"minibatches={kwargs['minibatches']} is more than the {local_batch} transitions each "
            f"of the {ranks} ranks collects per epoch (steps_per_epoch / ranks); use fewer "
            "minibatches or more steps_per_epoch."
        )


def first_error(args: argparse.Namespace, ranks: int) -> str | None:
    """What is wrong with the flags, in one line, or None: checked before any training starts."""
    try:
        gym.spec(args.env)
        check_arguments(ranks=ranks, **args.ppo_kwargs)
        if proc_id() == 0:  # the same env on every rank: one check, not one per rank
            check_env(args.env, args.env_kwargs)
        if args.resume is None:
            check_run_name(args.exp_name)
            check_writable(args.data_dir)
            return None
        # Only a resume reads a checkpoint, and only then does this process need torch.
        from utils.checkpoint import check_resume, load_checkpoint

        config = dict(args.ppo_kwargs, ac_kwargs=dict(hidden_sizes=args.hidden_sizes))
        check_resume(config, load_config(args.resume), load_checkpoint(args.resume), ranks)
    except gym.error.Error:
        close = difflib.get_close_matches(args.env, list(gym.registry), n=3, cutoff=0.5)
        return (
            f"--env {args.env} is not a registered Gymnasium environment"
            + (f"; close matches: {', '.join(close)}" if close else "")
            + ". ArmReach-v0 and ArmReachSparse-v0 are registered by `import envs`."
        )
    except ValueError as e:
        return str(e)
    return None


def trained_already(args: argparse.Namespace) -> bool:
    """With --resume: has the run reached --epochs already? (Then say so and how to go on.)"""
    if args.resume is None:
        return False
    from utils.checkpoint import load_checkpoint

    trained = load_checkpoint(args.resume)["epoch"] + 1
    if trained < args.epochs:
        return False
    if proc_id() == 0:
        print(
            f"ppo.py: {args.resume} is trained to {trained} epochs already (--epochs "
            f"{args.epochs}): nothing to do. To train it longer: python ppo.py --resume "
            f"{args.resume} --epochs N, with N > {trained}.",
            flush=True,
        )
    return True


def check_or_exit(args: argparse.Namespace) -> None:
    """Exit with one line and status 2 if the flags cannot work; every rank checks, and all exit
    if any rank found an error. With nothing left to train, exit 0 without starting ranks."""
    ranks = num_procs() if launched_by_mpirun() else args.cpu
    errors = [e for e in allgather(first_error(args, ranks)) if e is not None]
    if errors:
        fail(errors[0])
    if launched_by_mpirun() and args.cpu > 1 and args.cpu != num_procs():
        fail(
            f"--cpu {args.cpu} but this job already runs under mpirun with {num_procs()} "
            "ranks; drop --cpu or make the two agree."
        )
    if trained_already(args):
        sys.exit(0)


def launch(argv: list[str]) -> None:
    """The process started by `python ppo.py ...`: check the flags, then with --cpu N > 1 run
    this script under `mpirun -np N` and exit with its status. Returns to train in this process
    for --cpu 1, and at once under an mpirun started by the user (each rank checks in main)."""
    if launched_by_mpirun():
        return
    args = parse_args(argv)
    check_or_exit(args)
    mpi_fork(args.cpu)


def fail(message: str) -> None:
    if proc_id() == 0:
        sys.stderr.write(f"ppo.py: error: {one_line(message)}\n")
    sys.exit(2)
