"""Seeing a run: the progress bar on a terminal (and only there), TensorBoard scalars."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from tests.helpers import REPO, assert_ok, default_run_dir, run
from utils.mpi import find_mpirun

TINY_RUN = ["--epochs", "2", "--steps", "400", "--num_envs", "4", "--eval_episodes", "4"]


def run_on_a_terminal(args: list[str], timeout: float = 120, launcher: list[str] = ()) -> str:
    """Run ppo.py (under `launcher`, e.g. mpirun) with stdout on a pseudo-terminal, as in an
    interactive shell."""
    leader, follower = pty.openpty()
    # A terminal of 24 x 120 characters: a new pty has 0 columns, too narrow for any bar.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(
        [*launcher, sys.executable, "ppo.py", *args],
        cwd=REPO,
        stdout=follower,
        stderr=subprocess.DEVNULL,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=timeout)
    os.close(leader)
    assert proc.returncode == 0
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("launch", ["one process", "--cpu 2", "mpirun -np 2"])
def test_progress_bar_shows_on_a_terminal_with_return_and_success_rate(tmp_path, launch):
    args = [*TINY_RUN, "--data_dir", str(tmp_path)]
    if launch == "--cpu 2":
        out = run_on_a_terminal([*args, "--cpu", "2"])
    elif launch == "mpirun -np 2":  # ranks print into mpirun's pipes; mpirun's own is the tty
        out = run_on_a_terminal(args, launcher=[find_mpirun(), "-np", "2"])
    else:
        out = run_on_a_terminal(args)
    assert "2/2" in out and "epoch" in out
    assert "AverageEpRet=" in out and "SuccessRate=" in out


def test_quiet_or_a_pipe_shows_no_progress_bar(tmp_path):
    out = run_on_a_terminal([*TINY_RUN, "--quiet", "--data_dir", str(tmp_path / "quiet")])
    assert "2/2" not in out and "AverageEpRet" not in out
    piped = run([sys.executable, "ppo.py", *TINY_RUN, "--data_dir", str(tmp_path / "pipe")])
    assert_ok(piped)
    assert "AverageEpRet" in piped.stdout and "2/2" not in piped.stdout  # the table, no bar


def test_tensorboard_gets_every_progress_column(tmp_path):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    args = [sys.executable, "ppo.py", *TINY_RUN, "--tensorboard", "--quiet"]
    assert_ok(run([*args, "--data_dir", str(tmp_path)]))
    run_dir = default_run_dir(tmp_path)
    events = event_accumulator.EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    columns = (run_dir / "progress.txt").read_text().splitlines()[0].split("\t")
    assert set(events.Tags()["scalars"]) == set(columns)
    steps = [event.step for event in events.Scalars("AverageEpRet")]
    assert steps == [800, 1200]  # x axis: TotalEnvInteracts (the first 400: the warm-up)


def test_tensorboard_missing_is_one_clear_line(tmp_path):
    code = (
        "import sys; sys.modules['torch.utils.tensorboard'] = None; "  # as if not installed
        f"sys.argv = ['ppo.py', '--tensorboard', '--data_dir', {str(tmp_path)!r}]; "
        "import ppo; ppo.main()"
    )
    result = run([sys.executable, "-c", code])
    assert result.returncode == 2
    assert "--tensorboard needs the tensorboard package" in result.stderr
    assert "Traceback" not in result.stderr
