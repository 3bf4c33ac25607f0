"""The epoch logger: a table on the terminal, progress.txt, config.json and checkpoints.

As in Spinning Up: `store()` values during an epoch on every rank, `log_tabular()` reduces them
over all ranks, `dump_tabular()` writes one row. Only rank 0 writes files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from utils.mpi import broadcast, mpi_statistics_scalar, proc_id

PROGRESS_FILE = "progress.txt"
CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.pt"


def setup_logger_kwargs(exp_name: str, seed: int | None = None, data_dir: str = "data") -> dict:
    """Spinning Up's run directory: `data_dir/exp_name/exp_name_s<seed>`."""
    subdir = exp_name if seed is None else f"{exp_name}_s{seed}"
    return dict(output_dir=str(Path(data_dir) / exp_name / subdir), exp_name=exp_name)


def unused_run_dir(output_dir: str) -> Path:
    """`output_dir`, or `output_dir_1`, `_2`, ... if a run already lives there: never overwrite."""
    path, n = Path(output_dir), 0
    while (path / PROGRESS_FILE).exists() or (path / CHECKPOINT_FILE).exists():
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


def atomic_torch_save(obj, path: Path) -> None:
    """Write to a temporary file and rename it over the target: a kill at any instant leaves
    either the old file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Logger:
    """Writes a tab-separated progress file and the terminal table, on rank 0 only."""

    def __init__(self, output_dir: str | None = None, exp_name: str | None = None, resume=False):
        if proc_id() == 0:
            if output_dir is None:
                output_dir = setup_logger_kwargs(exp_name or "ppo")["output_dir"]
            run_dir = Path(output_dir) if resume else unused_run_dir(output_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir = Path(broadcast(str(run_dir) if proc_id() == 0 else None))
        self.exp_name = exp_name
        self.first_row = True
        self.log_headers: list[str] = []
        self.log_current_row: dict[str, float] = {}
        self.output_file = None
        if proc_id() == 0:
            progress = self.output_dir / PROGRESS_FILE
            self.first_row = not (resume and progress.exists() and progress.stat().st_size > 0)
            self.output_file = open(progress, "a" if resume else "w")  # noqa: SIM115

    def log(self, msg: str) -> None:
        """A line on the terminal, from rank 0."""
        if proc_id() == 0:
            print(msg, flush=True)

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
        """Print the row, append it to progress.txt, and return it."""
        row = {k: self.log_current_row.get(k, np.nan) for k in self.log_headers}
        if proc_id() == 0:
            width = max(15, *(len(k) for k in self.log_headers))
            lines = [f"| {k:>{width}} | {_fmt(v):>15} |" for k, v in row.items()]
            bar = "-" * (width + 22)
            print("\n".join([bar, *lines, bar]), flush=True)
            if self.first_row:
                self.output_file.write("\t".join(self.log_headers) + "\n")
            self.output_file.write("\t".join(_fmt(v, tsv=True) for v in row.values()) + "\n")
            self.output_file.flush()
        self.log_current_row.clear()
        self.first_row = False
        return row

    def close(self) -> None:
        if self.output_file is not None:
            self.output_file.close()
            self.output_file = None


class EpochLogger(Logger):
    """A Logger that collects values during an epoch and logs their statistics over all ranks.

    `store(EpRet=..., EpLen=...)` on any rank, any number of times; then
    `log_tabular("EpRet", with_min_and_max=True)` logs AverageEpRet, StdEpRet, MaxEpRet, MinEpRet.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch_dict: dict[str, list] = {}

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

    def get_stats(self, key: str):
        values = self.epoch_dict.get(key, [])
        flat = np.concatenate([np.ravel(v) for v in values]) if values else np.zeros(0)
        return mpi_statistics_scalar(flat)


def _fmt(v, tsv: bool = False) -> str:
    if isinstance(v, float | np.floating):
        return repr(float(v)) if tsv else f"{v:.4g}"
    return str(v)
