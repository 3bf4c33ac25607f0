"""The epoch logger: a table on the terminal, a progress bar, progress.txt and config.json.

As in Spinning Up: `store()` values during an epoch on every rank, `log_tabular()` reduces them
over all ranks, `dump_tabular()` writes one row. Only rank 0 writes files.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from utils.arguments import PPOArgs, saved_before
from utils.mpi import broadcast, launched_by_mpirun, mpi_statistics_scalar, proc_id

PROGRESS_FILE = "progress.txt"
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"  # written by utils/checkpoint.py
MAX_DEFAULT_NAME = 100  # characters; run directories add _s<seed>_<n>


def check_run_name(name: str, argument: str = "exp_name") -> None:
    """A run name is a name: it never leads out of data_dir."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(
            f"{argument}={name!r} must be a name, not a path (no '/', '\\', or '..'); "
            "--data_dir (ppo(): logger_kwargs output_dir) says where runs go."
        )


def setup_logger_kwargs(exp_name: str, seed: int | None = None, data_dir: str = "data") -> dict:
    """Spinning Up's run directory: `data_dir/exp_name/exp_name_s<seed>`."""
    check_run_name(exp_name)
    subdir = exp_name if seed is None else f"{exp_name}_s{seed}"
    return dict(output_dir=str(Path(data_dir) / exp_name / subdir), exp_name=exp_name)


def shell_command(*args: str | Path) -> str:
    """A command of this repository, to print: it works as printed from any folder, with the
    interpreter that runs now (a venv needs no activating)."""
    repo = Path(__file__).resolve().parents[1]
    return f"cd {shlex.quote(str(repo))} && " + shlex.join([sys.executable, *map(str, args)])


def default_exp_name(env_id: str | None, env_kwargs: dict) -> str:
    """The run name when none is given, which tells envs and arms apart:
    ppo-<env id>[-<key>=<value>...] with the keywords that differ from the registered ones;
    "ppo" for an env made without gym.make."""
    if env_id is None:
        return "ppo"
    import gymnasium  # here, not above: the tools that only read runs start faster without it

    try:
        registered = gymnasium.spec(env_id).kwargs
    except gymnasium.error.Error:
        registered = {}
    given = sorted(
        (k, v) for k, v in env_kwargs.items() if k not in registered or registered[k] != v
    )
    name = "-".join([f"ppo-{env_id}", *(f"{k}={v}" for k, v in given)])
    name = re.sub(r"[^\w.=+-]", "-", name)  # a name, not a path: no separators
    if len(name) > MAX_DEFAULT_NAME:  # a file name has at most 255 bytes; keep it unique
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[: MAX_DEFAULT_NAME - 9]}-{digest}"
    return name


def with_run_dir(logger_kwargs: dict, seed: int, env_id: str | None, env_kwargs: dict) -> dict:
    """logger_kwargs with its output_dir: the one given, or the command line's rule,
    data/NAME/NAME_s<seed> (NAME: exp_name, by default default_exp_name() of the env)."""
    if logger_kwargs.get("output_dir") is not None:
        return logger_kwargs
    name = logger_kwargs.get("exp_name")
    if name is None:
        name = default_exp_name(env_id, env_kwargs)
    return dict(logger_kwargs, **setup_logger_kwargs(name, seed))


def unused_run_dir(output_dir: str) -> Path:
    """`output_dir`, or `output_dir_1`, `_2`, ... if a run already lives there: never overwrite."""
    path, n = Path(output_dir), 0
    while (path / PROGRESS_FILE).exists() or (path / CONFIG_FILE).exists():
        n += 1
        path = Path(f"{output_dir}_{n}")
    return path


def convert_json(obj):
    """A JSON-serializable version of obj: functions and classes by name, the rest as strings."""
    if isinstance(obj, dict):
        return {str(k): convert_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [convert_json(x) for x in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if hasattr(obj, "__name__") and not isinstance(obj, np.generic):
        return f"{getattr(obj, '__module__', '')}.{obj.__qualname__}".lstrip(".")
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def check_writable(directory: str | Path) -> None:
    """Create `directory` if needed and check that files can be written in it."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):  # a unique name: ranks may probe at once
            pass
    except OSError as e:
        raise ValueError(
            f"cannot write in {directory} ({e.strerror}); choose a writable data_dir (--data_dir)."
        ) from e


def unusable(run_dir: Path) -> str | None:
    """Why a run directory cannot be loaded (config.json not JSON, no checkpoint), or None."""
    try:
        json.loads((run_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError) as e:
        return f"{CONFIG_FILE} is unreadable: {e}"
    if not (run_dir / CHECKPOINT_FILE).exists():
        return "no checkpoint yet"
    return None


def load_config(run_dir: str | Path) -> dict:
    """The arguments a run was started with (its config.json); an argument that did not exist
    yet reads as the value the run had (utils.arguments.saved_before; num_envs from envs_per_proc),
    so an older run resumes as it was."""
    if not Path(run_dir).is_dir():
        raise ValueError(f"run directory {run_dir} does not exist; give the directory of a run.")
    path = Path(run_dir) / CONFIG_FILE
    runs_inside = sorted(p.parent for p in Path(run_dir).rglob(CONFIG_FILE))
    if not path.exists() and runs_inside:
        usable, skipped = [], []
        for run in runs_inside:
            reason = unusable(run)
            (usable if reason is None else skipped).append(
                run if reason is None else f"{run} ({reason})"
            )
        raise ValueError(
            f"{run_dir} is a folder of runs, not a run; give one of them: "
            + (", ".join(str(run) for run in usable[:8]) or "none is usable")
            + (f" (and {len(usable) - 8} more)" if len(usable) > 8 else "")
            + (f"; skipped: {', '.join(skipped[:8])}" if skipped else "")
        )
    try:
        config = {**saved_before(), **json.loads(path.read_text())}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path} is missing or not valid JSON ({e}).") from e
    if "envs_per_proc" in config:  # saved before num_envs, the envs over all ranks
        config.update(num_envs=config.pop("envs_per_proc") * config.get("mpi_ranks", 1))
    return config


def later_runs(run_dir: str | Path) -> list[Path]:
    """The runs started after `run_dir` under the same name, which ppo() put beside it as
    `<name>_1`, `<name>_2`, ... (it never overwrites a run): a command given `run_dir` may have
    meant the latest of them."""
    run_dir = Path(run_dir)
    base, index = run_dir.name, 0
    numbered = re.fullmatch(r"(?P<base>.+)_(?P<n>\d+)", run_dir.name)
    if numbered and (run_dir.parent / numbered["base"] / CONFIG_FILE).exists():
        base, index = numbered["base"], int(numbered["n"])
    later = []
    for sibling in run_dir.parent.glob(f"{glob.escape(base)}_*"):
        n = re.fullmatch(rf"{re.escape(base)}_(\d+)", sibling.name)
        if n and int(n[1]) > index and (sibling / CONFIG_FILE).exists():
            later.append((int(n[1]), sibling))
    return [path for _, path in sorted(later)]


class Logger:
    """Writes a tab-separated progress file and the terminal table, on rank 0 only.

    With `resume_rows=n` it continues the run in `output_dir`: progress.txt keeps its header and
    its first n rows (those the checkpoint covers) and drops the rest, which will be redone.
    """

    def __init__(
        self,
        output_dir: str | None = None,
        exp_name: str | None = None,
        resume_rows: int | None = None,
        quiet: bool = False,
        tensorboard: bool = False,
    ):
        run_dir, error = None, None
        self.made: Path | None = None
        if proc_id() == 0:
            if output_dir is None:
                output_dir = setup_logger_kwargs(exp_name or "ppo")["output_dir"]
            run_dir = Path(output_dir) if resume_rows is not None else unused_run_dir(output_dir)
            if resume_rows is None:  # what this run makes, and removes if it fails before a row
                self.made = next((p for p in [*run_dir.parents][::-1] + [run_dir]
                                  if not p.exists()), None)  # fmt: skip
            try:
                check_writable(run_dir)
            except ValueError as e:
                error = str(e)
        # Every rank learns the directory, or the error: no rank may wait for a failed one.
        run_dir, error = broadcast((run_dir, error))
        if error is not None:
            raise ValueError(error)
        self.output_dir = Path(run_dir)
        self.exp_name = exp_name
        self.quiet = quiet
        self.first_row = True
        self.log_headers: list[str] = []
        self.log_current_row: dict[str, float] = {}
        self.output_file = None
        self.progress_bar = None
        self.tb_writer = None
        if proc_id() != 0:
            return
        progress = self.output_dir / PROGRESS_FILE
        if resume_rows is not None and progress.exists():
            header, *rows = progress.read_text().splitlines(keepends=True)
            complete = [row for row in rows if row.endswith("\n")][:resume_rows]
            tmp = progress.with_name(f".{PROGRESS_FILE}.tmp")
            tmp.write_text(header + "".join(complete))
            os.replace(tmp, progress)
            self.log_headers = header.rstrip("\n").split("\t")
            self.first_row = False
        self.output_file = open(progress, "a")  # noqa: SIM115  (open for the whole run)
        if tensorboard:
            self.tb_writer = tensorboard_writer(self.output_dir / "tb")

    def start_progress_bar(self, total: int, initial: int = 0) -> None:
        """A bar over epochs on rank 0, only when its output reaches a terminal and the run is
        not quiet."""
        if proc_id() == 0 and not self.quiet and output_reaches_a_terminal():
            self.progress_bar = tqdm(
                total=total, initial=initial, unit="epoch", dynamic_ncols=True, file=sys.stdout
            )

    def log(self, msg: str) -> None:
        """A line on the terminal, from rank 0 (above the progress bar, if any)."""
        if not self.quiet:
            self.announce(msg)

    def announce(self, msg: str) -> None:
        """A line on the terminal from rank 0 that shows even when quiet (the run directory)."""
        if proc_id() == 0:
            (self.progress_bar.write if self.progress_bar else print)(msg)
            sys.stdout.flush()

    def save_config(self, config: dict) -> None:
        if proc_id() == 0:
            config = convert_json(config)
            if self.exp_name is not None:
                config["exp_name"] = self.exp_name
            (self.output_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))

    def log_tabular(self, key: str, val) -> None:
        if self.first_row:
            self.log_headers.append(key)
        elif key not in self.log_headers:
            raise KeyError(f"{key} was not logged in the first epoch; columns cannot change")
        self.log_current_row[key] = val

    def dump_tabular(self) -> dict[str, float]:
        """Print the row, append it to progress.txt (and TensorBoard), and return it."""
        row = {k: self.log_current_row.get(k, np.nan) for k in self.log_headers}
        if proc_id() == 0:
            width = max(15, *(len(k) for k in self.log_headers))
            lines = [f"| {k:>{width}} | {_fmt(v):>15} |" for k, v in row.items()]
            bar = "-" * (width + 22)
            self.log("\n".join([bar, *lines, bar]))
            if self.first_row:
                self.output_file.write("\t".join(self.log_headers) + "\n")
            self.output_file.write("\t".join(_fmt(v, tsv=True) for v in row.values()) + "\n")
            self.output_file.flush()
            step = int(row.get("TotalEnvInteracts", row.get("Epoch", 0)))
            if self.tb_writer is not None:
                for key, value in row.items():
                    self.tb_writer.add_scalar(key, value, step)
                self.tb_writer.flush()
            if self.progress_bar is not None:
                shown = {k: _fmt(row[k]) for k in ("AverageEpRet", "SuccessRate") if k in row}
                self.progress_bar.set_postfix(shown, refresh=False)
                self.progress_bar.update(1)
        self.log_current_row.clear()
        self.first_row = False
        return row

    def close(self) -> None:
        for handle in (self.output_file, self.tb_writer, self.progress_bar):
            if handle is not None:
                handle.close()
        self.output_file = self.tb_writer = self.progress_bar = None

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        try:
            self.close()
        except OSError:
            if exc_type is None:
                raise  # after another error (a full disk), that error is the one to tell
        # A run that fails before its first row leaves nothing behind, and no name taken.
        if exc_type is not None and self.first_row and self.made is not None:
            shutil.rmtree(self.made, ignore_errors=True)


class EpochLogger(Logger):
    """A Logger that collects values during an epoch and logs their statistics over all ranks.

    `store(EpRet=..., EpLen=...)` on any rank, any number of times; then
    `log_tabular("EpRet", with_min_and_max=True)` logs AverageEpRet, StdEpRet, MaxEpRet, MinEpRet.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch_dict: dict[str, list] = {}

    @classmethod
    def for_run(cls, config: dict, args: PPOArgs, resume_rows: int | None) -> EpochLogger:
        """The logger of a ppo() run: in logger_kwargs' output_dir, the run's own on resume, else
        data/NAME/NAME_s<seed> for the env in `config`; it writes config.json (the run's
        directory in it) and prints the directory. Collective."""
        logger_kwargs = args.logger_kwargs
        if args.resume is not None:
            logger_kwargs = dict(logger_kwargs, output_dir=args.resume)
        logger_kwargs = with_run_dir(
            logger_kwargs, args.seed, config["env_id"], config["env_kwargs"]
        )
        logger = cls(**logger_kwargs, resume_rows=resume_rows, quiet=args.quiet,
                     tensorboard=args.tensorboard)  # fmt: skip
        output_dir = str(logger.output_dir)
        logger.save_config(dict(config, logger_kwargs=dict(logger_kwargs, output_dir=output_dir)))
        logger.announce(f"Run directory: {logger.output_dir.resolve()}")
        return logger

    def store(self, **kwargs) -> None:
        for k, v in kwargs.items():
            self.epoch_dict.setdefault(k, []).append(v)

    def log_tabular(self, key, val=None, with_min_and_max=False, average_only=False) -> None:
        if val is not None:
            super().log_tabular(key, val)
            return
        values = self.epoch_dict.get(key, [])
        flat = np.concatenate([np.ravel(v) for v in values]) if values else np.zeros(0)
        stats = mpi_statistics_scalar(flat, with_min_and_max=with_min_and_max)
        super().log_tabular(key if average_only else "Average" + key, stats[0])
        if not average_only:
            super().log_tabular("Std" + key, stats[1])
        if with_min_and_max:
            super().log_tabular("Max" + key, stats[3])
            super().log_tabular("Min" + key, stats[2])
        self.epoch_dict[key] = []


def output_reaches_a_terminal() -> bool:
    """Is what this process prints shown on a terminal? Under mpirun a rank's stdout is a pipe to
    the launcher, which passes every write on at once (a progress bar's carriage returns too), so
    the question is whether the launcher's own stdout is a terminal."""
    if sys.stdout.isatty():
        return True
    if not launched_by_mpirun():
        return False
    pid = os.getppid()
    for _ in range(3):  # rank <- hydra_pmi_proxy <- mpirun: look a few parents up, no further
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip().startswith(("mpirun", "mpiexec")):
                return os.readlink(f"/proc/{pid}/fd/1").startswith(("/dev/pts/", "/dev/tty"))
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # no /proc (not Linux), or the parent is gone
            return False
    return False


def warnings_as_notes(prog: str) -> None:
    """Show warnings as one line each on stderr, `prog: note: ...`: on a command line the file and
    line that raised them are noise."""

    def show(message, *args, **kwargs) -> None:
        print(f"{prog}: note: {message}", file=sys.stderr, flush=True)

    warnings.showwarning = show


def tensorboard_writer(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ValueError(
            "--tensorboard needs the tensorboard package, which is not installed: "
            "pip install tensorboard (the version in requirements.txt)."
        ) from e
    return SummaryWriter(log_dir=str(log_dir))


def _fmt(v, tsv: bool = False) -> str:
    if isinstance(v, float | np.floating):
        return repr(float(v)) if tsv else f"{v:.4g}"
    return str(v)
