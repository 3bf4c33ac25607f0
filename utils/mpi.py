"""MPI plumbing: launching ranks, averaging numbers and gradients, and failing as one job.

Without mpirun every function here sees a world of one process, so ppo() runs unchanged in a
notebook. The MPI implementation is MPICH from PyPI (`pip install mpich`), found next to the
Python interpreter, so no system MPI is needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from mpi4py import MPI

if TYPE_CHECKING:  # torch is only annotated here: the launching process never imports it
    import torch

# Environment variables that the process managers of MPICH, Open MPI and Intel MPI set in ranks.
_LAUNCHED_BY_MPIRUN = (
    "PMI_RANK",
    "PMI_SIZE",
    "OMPI_COMM_WORLD_SIZE",
    "PMIX_RANK",
    "MPI_LOCALNRANKS",
)


def launched_by_mpirun() -> bool:
    return any(var in os.environ for var in _LAUNCHED_BY_MPIRUN)


def environ_without_mpi() -> dict[str, str]:
    """This process's environment without its MPI world's variables: a child started with it
    (a benchmark's run, a sweep's run, a test's mpirun) starts a world of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}


def find_mpirun() -> str:
    """The mpirun next to this interpreter (the venv's MPICH) first, then the one on PATH."""
    beside_python = Path(sys.executable).parent / "mpirun"
    if beside_python.exists():
        return str(beside_python)
    on_path = shutil.which("mpirun") or shutil.which("mpiexec")
    if on_path is None:
        raise FileNotFoundError(
            "mpirun not found next to this Python or on PATH; install the project's MPI with "
            "`pip install -r requirements.txt` (it includes the mpich package)."
        )
    return on_path


def mpi_fork(n: int, argv: list[str] | None = None) -> None:
    """Re-launch the current script under `mpirun -np n`, then exit with its status.

    Does nothing for n <= 1 or when the process already runs inside mpirun, so that
    `mpirun -np 4 python ppo.py --cpu 4` does not start 16 processes.
    """
    if n <= 1 or launched_by_mpirun():
        return
    env = os.environ.copy()
    # One BLAS/OpenMP thread per rank: the ranks themselves fill the cores.
    env.update(MKL_NUM_THREADS="1", OMP_NUM_THREADS="1")
    argv = sys.argv if argv is None else argv
    # MPICH runs as root and with more ranks than cores without extra flags.
    cmd = [find_mpirun(), "-np", str(n), sys.executable, *argv]
    job = subprocess.Popen(cmd, env=env)
    try:
        sys.exit(job.wait())
    except KeyboardInterrupt:
        # Ctrl-C reached mpirun, which passes it to the ranks: they stop together at the end of
        # their epoch (ppo()'s CtrlC), rank 0 says how to resume. Wait for that, without a
        # traceback; a second Ctrl-C stops them at once.
        try:
            sys.exit(job.wait())
        except KeyboardInterrupt:
            job.kill()
            sys.exit(130)


class Interrupted(KeyboardInterrupt):
    """Raised on every rank at the same point after a Ctrl-C that CtrlC noted: no rank is left
    waiting in a collective, so the job can end as a single process does (exit status 130)."""


class CtrlC:
    """Within the block, a first Ctrl-C (SIGINT) is noted in `pressed`, not raised: the caller
    agrees on it over all ranks and stops every rank at the same point, where none can be left
    waiting in a collective (a rank raising on its own is killed by the others' MPI_Abort before
    it says anything). A second Ctrl-C raises KeyboardInterrupt at once. Outside the main thread,
    or when SIGINT already has a handler of its own, it changes nothing."""

    def __init__(self):
        self.pressed = False
        self.previous = None

    def __enter__(self) -> CtrlC:
        in_main = threading.current_thread() is threading.main_thread()
        if in_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self.note)
        return self

    def note(self, signum, frame) -> None:
        self.pressed = True
        signal.signal(signal.SIGINT, self.previous)  # the next one raises

    def __exit__(self, *exc_info) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def proc_id() -> int:
    return MPI.COMM_WORLD.Get_rank()


def num_procs() -> int:
    return MPI.COMM_WORLD.Get_size()


def broadcast(x, root: int = 0):
    return MPI.COMM_WORLD.bcast(x, root=root)


def gather(x, root: int = 0):
    """A list of every rank's x on the root rank, None on the others."""
    return MPI.COMM_WORLD.gather(x, root=root)


def allgather(x) -> list:
    """Every rank's x, on every rank."""
    return MPI.COMM_WORLD.allgather(x)


def scatter(xs, root: int = 0):
    return MPI.COMM_WORLD.scatter(xs, root=root)


def mpi_op(x, op):
    x = np.asarray(x, dtype=np.float64)
    buff = np.zeros_like(x)
    MPI.COMM_WORLD.Allreduce(x, buff, op=op)
    return buff[()] if buff.ndim == 0 else buff


def mpi_sum(x):
    return mpi_op(x, MPI.SUM)


def mpi_avg(x):
    """Average a number or an array over all ranks."""
    return mpi_sum(x) / num_procs()


def mpi_statistics_scalar(x, with_min_and_max: bool = False):
    """Mean and std (and min and max) of all values of x over all ranks.

    An empty x on every rank gives NaN, not an error: an epoch may end with no finished episode.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    global_sum, global_n = mpi_sum([np.sum(x), len(x)])
    mean = global_sum / global_n if global_n > 0 else np.nan
    global_sum_sq = mpi_sum(np.sum((x - mean) ** 2)) if global_n > 0 else np.nan
    std = np.sqrt(global_sum_sq / global_n) if global_n > 0 else np.nan
    if with_min_and_max:
        global_min = mpi_op(np.min(x) if len(x) > 0 else np.inf, op=MPI.MIN)
        global_max = mpi_op(np.max(x) if len(x) > 0 else -np.inf, op=MPI.MAX)
        if global_n == 0:
            global_min = global_max = np.nan
        return mean, std, global_min, global_max
    return mean, std


def sync_params(module: torch.nn.Module) -> None:
    """Make every rank's parameters and buffers equal to rank 0's."""
    if num_procs() == 1:
        return
    for tensor in [*module.parameters(), *module.buffers()]:
        array = tensor.data.numpy()
        MPI.COMM_WORLD.Bcast(array, root=0)


def mpi_avg_grads(module: torch.nn.Module) -> None:
    """Average the gradients of `module` over all ranks with ONE Allreduce on a flat buffer.

    One collective call per backward pass instead of one per parameter tensor. The buffer is
    persistent and each parameter's .grad is a view into it, so there is nothing to gather
    before the call or scatter after it; autograd accumulates into the views as long as the
    gradients are zeroed in place (`zero_grad(set_to_none=False)`, or the flat buffer's
    `zero_()`, as ppo.py does).
    """
    mpi_avg_inplace(flat_grad_buffer([module])[0])


def mpi_avg_inplace(flat: torch.Tensor) -> None:
    """Average a contiguous float tensor over all ranks, in place, with one Allreduce."""
    if num_procs() == 1:
        return
    MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, flat.numpy(), op=MPI.SUM)
    flat /= num_procs()


def flat_grad_buffer(
    modules: list[torch.nn.Module], extra: int = 0
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The gradients of `modules` as one contiguous tensor, module after module, whose slices
    are the .grad tensors (made, as zeros, for parameters that have none yet), followed by
    `extra` free slots (numbers to average in the same Allreduce: ppo.py's KL); and each
    module's part of it (its gradient, flat: a norm or a scaling of it is one op).

    Autograd accumulates into the views as long as the gradients are zeroed in place (the
    flat tensor's `zero_()`, or `zero_grad(set_to_none=False)`). Built on first use, and again
    whenever a .grad was replaced (set to None and recreated) or `extra` changed.
    """
    per_module = [[p for p in m.parameters() if p.requires_grad] for m in modules]
    params = [p for part in per_module for p in part]

    def key() -> tuple:
        grads = [-1 if p.grad is None else p.grad.data_ptr() for p in params]
        return [id(m) for m in modules], grads, extra

    cached = getattr(modules[0], "_flat_grad", None)
    if cached is not None and cached[2] == key():
        return cached[0], cached[1]
    sizes = [sum(p.numel() for p in part) for part in per_module]
    flat = params[0].new_zeros(sum(sizes) + extra)
    offset = 0
    for p in params:
        if p.grad is not None:
            flat[offset : offset + p.numel()] = p.grad.reshape(-1)
        p.grad = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
    parts = list(flat[: sum(sizes)].split(sizes))
    modules[0]._flat_grad = (flat, parts, key())
    return flat, parts


def mpi_avg_grads_per_parameter(module: torch.nn.Module) -> None:
    """The textbook way, one Allreduce per parameter: kept as the reference for tests and bench."""
    if num_procs() == 1:
        return
    for p in module.parameters():
        if p.grad is not None:
            grad = p.grad.numpy()
            MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, grad, op=MPI.SUM)
            grad /= num_procs()


def abort_all_ranks_on_error() -> None:
    """Make an uncaught exception on any rank stop the whole MPI job with its message.

    Without this, the failing rank exits while the others wait forever in their next collective
    call. MPI_Abort kills every rank of the job; the message is printed first, prefixed by the rank.
    """
    if num_procs() == 1:
        return

    def excepthook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            message = "interrupted"
        elif issubclass(exc_type, ValueError | FloatingPointError):  # our checks say it all
            message = f"error: {exc}"
        else:
            message = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.flush()
        os.write(2, f"[rank {proc_id()}] {message}\n".encode())
        # mpirun forwards each rank's output through a pipe; give it a moment to pass the
        # message on before MPI_Abort tears every process down (seen lost on a busy machine).
        time.sleep(1.0)
        MPI.COMM_WORLD.Abort(1)

    sys.excepthook = excepthook


# Installed on import, before anything else can fail: an error while importing the
# environment's modules on one rank must bring the job down too.
abort_all_ranks_on_error()
