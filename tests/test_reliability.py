"""Bad input, failing ranks, Ctrl-C, NaNs, reproducibility and where runs write (real processes)."""

import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
import torch

import core
import ppo
from tests.faulty_envs import arm_reach_with_fault
from tests.helpers import REPO, assert_ok, default_run_dir, run, run_mpi
from tests.test_ppo import read_progress

BAD_FLAGS = [
    (["--env", "ArmRech-v0"], "close matches: ArmReach-v0"),
    (["--env", "ArmRech-v0"], "registered by `import envs`"),
    (["--env", "Blackjack-v1"], "needs a flat Box observation space"),
    (
        ["--steps", "2"],
        "steps_per_epoch=2 must be a multiple of num_envs (40)",
    ),
    (["--steps", "0"], "steps_per_epoch=0 must be a positive integer"),
    (["--epochs", "0"], "epochs=0 must be a positive integer"),
    (["--train_pi_iters", "-1"], "train_pi_iters=-1 must be a positive integer"),
    (["--pi_lr", "0"], "pi_lr=0.0 must be greater than 0"),
    (["--vf_lr=-1e-3"], "vf_lr=-0.001 must be greater than 0"),
    (["--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
    (["--gamma", "0"], "gamma=0.0 must be in (0, 1]"),
    (["--lam", "1.5"], "lam=1.5 must be in (0, 1]"),
    (["--clip_ratio", "0"], "clip_ratio=0.0 must be greater than 0"),
    (["--target_kl", "-0.01"], "target_kl=-0.01 must be greater than 0"),
    (["--resume", "/nonexistent/run"], "run directory /nonexistent/run does not exist"),
    (["--data_dir", ""], "--data_dir is empty; give a folder"),
    (["--exp_name", " "], "--exp_name is empty; give a name"),
    (["--resume", ""], "--resume is empty; give a run directory"),
    (["--cpu", "3"], "num_envs=40 must be a multiple of the MPI ranks (3)"),
]


def assert_one_line_error(result, message):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if "pybullet build time" not in line]
    assert len(lines) == 1, result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", BAD_FLAGS)
def test_bad_command_line_input_is_one_line_on_stderr_and_a_nonzero_exit(tmp_path, args, message):
    result = run([sys.executable, "ppo.py", "--data_dir", str(tmp_path), "--epochs", "1", *args])
    assert_one_line_error(result, message)


def test_unwritable_data_dir_is_one_line(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    result = run([sys.executable, "ppo.py", "--data_dir", str(blocker / "data")])
    assert_one_line_error(result, f"cannot write in {blocker / 'data'}")


def test_bad_input_under_mpirun_is_one_line_from_rank_0_and_no_hang(tmp_path):
    result = run_mpi(2, ["ppo.py", "--steps", "12", "--data_dir", str(tmp_path)], timeout=60)
    assert_one_line_error(result, "steps_per_epoch=12 must be a multiple of num_envs (40)")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(steps_per_epoch=2), "steps_per_epoch=2 must be a multiple of num_envs (40)"),
        (dict(num_envs=0), "num_envs=0 must be a positive"),
        (dict(gamma=1.5), "gamma=1.5 must be in (0, 1]"),
        (dict(pi_lr=0.0), "pi_lr=0.0 must be greater than 0"),
        (dict(clip_ratio=-0.2), "clip_ratio=-0.2 must be greater than 0"),
        (dict(resume="/nonexistent/run"), "run directory /nonexistent/run does not exist"),
    ],
)
def test_notebook_api_raises_value_error_with_the_same_words(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ppo.ppo(
            lambda: gym.make("ArmReach-v0"), logger_kwargs=dict(output_dir=str(tmp_path)), **kwargs
        )


def test_unsupported_spaces_raise_value_error_naming_the_space(tmp_path):
    with pytest.raises(ValueError, match="flat Box observation space or a Dict .*, got Tuple"):
        ppo.ppo(lambda: gym.make("Blackjack-v1"), logger_kwargs=dict(output_dir=str(tmp_path)))


class SharedTrunkActorCritic(core.MLPActorCritic):
    """A user's actor-critic whose value network reuses the policy's first layer."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.v.v_net[0] = self.pi.mu_net[0]


def test_an_actor_critic_whose_networks_share_parameters_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="pi and v share 2 parameter tensors"):
        ppo.ppo(
            lambda: gym.make("ArmReach-v0"),
            actor_critic=SharedTrunkActorCritic,
            logger_kwargs=dict(output_dir=str(tmp_path)),
        )


def test_a_failing_rank_brings_the_whole_job_down_within_seconds_with_its_message():
    start = time.time()
    result = run_mpi(2, ["-m", "tests.mpi_checks", "failing_rank_stops_the_job"], timeout=60)
    assert result.returncode != 0
    assert "[rank 1]" in result.stderr and "the simulated arm exploded" in result.stderr
    assert time.time() - start < 30


def test_ctrl_c_stops_every_rank_after_saving_the_epoch_it_interrupts(tmp_path):
    # No periodic checkpoint before epoch 1000: the one after Ctrl-C is the interrupt's own.
    args = [sys.executable, "ppo.py", "--cpu", "2", "--epochs", "1000", "--steps", "400"]
    args += ["--save_freq", "1000", "--quiet", "--data_dir", str(tmp_path)]
    proc = subprocess.Popen(
        args, cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    run_dir = default_run_dir(tmp_path)
    checkpoint = run_dir / "checkpoint.pt"
    deadline = time.time() + 120
    progress = run_dir / "progress.txt"
    try:
        while time.time() < deadline and not (
            progress.exists() and progress.read_text().count("\n") >= 3
        ):
            time.sleep(0.1)  # until the header and two epochs' rows are written
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            stdout, stderr = (text.decode() for text in proc.communicate(timeout=20))
        except subprocess.TimeoutExpired:
            pytest.fail("ranks still running 20 s after Ctrl-C")
        assert subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True).stdout == b""
    finally:  # the ranks have their own process groups: a failed test leaves none behind
        subprocess.run(["pkill", "-9", "-f", str(tmp_path)])
    assert proc.returncode == 130, stderr  # as a single process ends on Ctrl-C
    assert "Traceback" not in stderr and "[rank" not in stderr and "Abort" not in stderr, stderr
    resume = f"ppo.py --resume {checkpoint.parent.resolve()}"
    assert stdout.count("Interrupted; to go on from the last checkpoint: ") == 1, stdout
    assert resume in stdout and f"cd {REPO} && {sys.executable} " in stdout
    saved = torch.load(checkpoint, weights_only=True)
    assert all(torch.isfinite(t).all() for t in saved["ac"].values())
    assert saved["epoch"] == read_progress(run_dir)[1][-1]["Epoch"]  # nothing trained is lost


def test_nan_observation_stops_with_epoch_and_quantity_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(
        FloatingPointError, match=r"NaN or inf in an observation of the environment \(epoch 2\)"
    ):
        ppo.ppo(
            # 100 steps per env per epoch; the first 100 are the normalizers' warm-up
            arm_reach_with_fault("nan", 3 * 400 // 4 + 10),
            steps_per_epoch=400,
            num_envs=4,
            epochs=5,
            save_freq=1,
            quiet=True,
            logger_kwargs=dict(output_dir=str(tmp_path)),
        )
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in saved["ac"].values())


def test_overflowing_loss_stops_before_the_model_takes_a_nan(tmp_path):
    # Rewards of 3e38 overflow float32 sums. Scaled, they would be clipped to 10 and not
    # overflow; unscaled, the value targets become inf.
    with pytest.raises(FloatingPointError, match="epoch 0: NaN or inf in the value targets"):
        ppo.ppo(
            arm_reach_with_fault("huge", 20),
            normalize_rew=False,
            steps_per_epoch=400,
            num_envs=4,
            epochs=2,
            quiet=True,
            logger_kwargs=dict(output_dir=str(tmp_path)),
        )
    assert not (tmp_path / "checkpoint.pt").exists()


def test_nan_on_the_command_line_is_one_line(tmp_path):
    code = (
        "import sys; sys.argv = ['ppo.py', '--epochs', '3', '--steps', '400', "
        "'--num_envs', '4', '--quiet', '--no-normalize_rew', "
        f"'--data_dir', {str(tmp_path)!r}]; import gymnasium as gym, ppo; "
        "from tests.faulty_envs import FaultAfter; make = gym.make; "
        "gym.make = lambda *a, **k: FaultAfter(make(*a, **k), 'huge', 20); ppo.main()"
    )
    result = run([sys.executable, "-c", code])
    assert_one_line_error(result, "epoch 0: NaN or inf in the value targets")


REPRODUCIBLE_COLUMNS_EXCLUDED = {"Time", "StepsPerSec", "EvalTime"}


def progress_without_timings(run_dir):
    columns, rows = read_progress(run_dir)
    keep = [c for c in columns if c not in REPRODUCIBLE_COLUMNS_EXCLUDED]
    return np.array([[r[c] for c in keep] for r in rows])


@pytest.mark.parametrize("ranks", [1, 2])
def test_same_seed_and_ranks_give_identical_progress(tmp_path, ranks):
    tables = []
    for attempt in ("a", "b"):
        args = ["ppo.py", "--epochs", "2", "--steps", "800", "--seed", "3", "--quiet"]
        args += ["--data_dir", str(tmp_path / attempt)]
        result = run_mpi(2, args) if ranks == 2 else run([sys.executable, *args])
        assert_ok(result)
        tables.append(progress_without_timings(default_run_dir(tmp_path / attempt, seed=3)))
    np.testing.assert_array_equal(tables[0], tables[1])


def test_runs_write_only_inside_their_run_directory_and_never_overwrite(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    for _ in range(2):
        args = [sys.executable, str(REPO / "ppo.py"), "--epochs", "1", "--steps", "400"]
        args += ["--quiet", "--data_dir", str(tmp_path / "data")]
        assert_ok(run(args, cwd=cwd))
    assert list(cwd.iterdir()) == []
    first = default_run_dir(tmp_path / "data")
    runs = sorted(p.name for p in first.parent.iterdir())
    assert runs == [first.name, f"{first.name}_1"]
    for name in runs:
        files = {p.name for p in (first.parent / name).iterdir()}
        assert files == {"config.json", "progress.txt", "checkpoint.pt"}


def test_more_ranks_than_cores_works_without_extra_flags(tmp_path):
    """Also as root, which is how CI runs it: MPICH, unlike Open MPI, needs no flag for either."""
    ranks = (os.cpu_count() or 1) + 1
    args = [sys.executable, "ppo.py", "--cpu", str(ranks), "--num_envs", str(ranks)]
    args += ["--epochs", "1"]
    args += ["--steps", str(40 * ranks), "--quiet", "--data_dir", str(tmp_path)]
    assert_ok(run(args, timeout=180))
    _, rows = read_progress(default_run_dir(tmp_path))
    assert rows[0]["TotalEnvInteracts"] == 2 * 40 * ranks  # the warm-up, then epoch 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "both infinities"])
def test_check_finite_finds_one_bad_element_in_a_tensor(bad):
    value = torch.zeros(10_000)
    value[-1] = 3e38  # large but finite elements are no error: the check sums in float64
    value[0] = 3e38
    core.check_finite("the gradients", value)
    if bad == "both infinities":  # +inf + -inf is NaN: still caught
        value[7], value[8] = float("inf"), -float("inf")
    else:
        value[5000] = bad
    with pytest.raises(FloatingPointError, match="NaN or inf in the gradients"):
        core.check_finite("the gradients", value)
