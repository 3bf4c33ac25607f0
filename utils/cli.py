"""The command line of ppo.py: flags generated from ppo()'s arguments, their checks, the launch.

Every argument of ppo() that is a flag (utils/arguments.py) becomes one of the same name
(`--pi_lr`, with the alias `--pi-lr`), typed and defaulted by its declaration and documented by
its doc, so a flag can never drift from the argument it sets.

The process you start (`python ppo.py --cpu 2 ...`) only parses and checks the flags, then starts
the MPI ranks; it never imports torch, which only the ranks need (bench/startup.py measures it).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys

import gymnasium as gym

import envs  # noqa: F401  (registers the ArmReach envs, without loading PyBullet)
from utils.arguments import ARGUMENTS, check, defaults, from_config, make
from utils.env_check import check_env
from utils.logx import (
    check_run_name,
    check_writable,
    default_exp_name,
    load_config,
    setup_logger_kwargs,
)
from utils.mpi import Interrupted, allgather, launched_by_mpirun, mpi_fork, num_procs, proc_id


def flag_names(name: str) -> list[str]:
    """The flags of argument `name`: --name, its dashed alias, and any of its own (--steps)."""
    dashed = [f"--{name.replace('_', '-')}"] if "_" in name else []
    return [f"--{name}", *dashed, *ARGUMENTS[name].metadata["aliases"]]


def add_argument_flags(parser: argparse.ArgumentParser) -> list[str]:
    """A flag for each argument of ppo() that is one; returns their names."""
    added = []
    for name, default in defaults().items():
        info = ARGUMENTS[name].metadata
        if not info["flag"]:
            continue
        if isinstance(default, bool):
            action = dict(action=argparse.BooleanOptionalAction)
        else:
            action = dict(type=str if default is None else type(default))
        parser.add_argument(*flag_names(name), default=default, help=info["doc"], **action)
        added.append(name)
    return added


def positive_int(text: str) -> int:
    if not re.fullmatch(r"\s*\+?\d+\s*", text) or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def key_value(text: str) -> tuple[str, object]:
    """KEY=VALUE -> (KEY, VALUE parsed as JSON where it parses, else as a Python literal
    (False, None, (1, 2)), else the string)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        pass
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
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
    ppo_flags = add_argument_flags(parser)
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
        args.hidden_sizes = from_config(saved).ac_kwargs.get("hidden_sizes", [args.hid] * args.l)
    else:
        args.hidden_sizes = [args.hid] * args.l
    args.env_kwargs = dict(args.env_kwargs)
    if args.exp_name is None:
        args.exp_name = default_exp_name(args.env, args.env_kwargs)
    args.cpu = 1 if args.cpu is None else args.cpu
    args.ppo_kwargs = {name: getattr(args, name) for name in ppo_flags}
    return args


def first_error(args: argparse.Namespace, ranks: int) -> str | None:
    """What is wrong with the flags, in one line, or None: checked before any training starts."""
    try:
        gym.spec(args.env)
        check(make(args.ppo_kwargs), ranks)
        if proc_id() == 0:  # the same env on every rank: one check, not one per rank
            check_env(args.env, args.env_kwargs)
        if args.resume is None:
            check_run_name(args.exp_name)
            check_writable(args.data_dir)
            return None
        # Only a resume reads a checkpoint, and only then does this process need torch.
        from utils.checkpoint import check_resume, load_checkpoint

        resumed = make(dict(args.ppo_kwargs, ac_kwargs=dict(hidden_sizes=args.hidden_sizes)))
        check_resume(resumed, load_config(args.resume), load_checkpoint(args.resume), ranks)
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


def run_command_line(ppo, argv: list[str]):
    """Train with `ppo` (ppo.ppo) as the flags say; a mistake ends in one line, Ctrl-C with the
    resume command (status 130). Returns the trained actor-critic."""
    args = parse_args(argv)
    check_or_exit(args)  # collective: every rank's first error, printed once
    try:
        return ppo(
            lambda: gym.make(args.env, **args.env_kwargs),
            ac_kwargs=dict(hidden_sizes=args.hidden_sizes),
            logger_kwargs=setup_logger_kwargs(args.exp_name, args.seed, args.data_dir),
            **args.ppo_kwargs,
        )
    except (ValueError, FloatingPointError) as e:
        if num_procs() > 1:
            raise  # on one rank only, maybe: the excepthook aborts the whole job
        fail(str(e))
    except Interrupted:
        sys.exit(130)  # every rank stopped at the same point; ppo() said how to resume
    except KeyboardInterrupt:
        if num_procs() > 1:
            raise  # a rank may wait in a collective: the excepthook aborts the whole job
        sys.exit(130)
