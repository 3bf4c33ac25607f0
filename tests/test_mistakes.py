"""A new user's mistakes and the faults of a real machine, caused for real: env keyword typos,
runs that fail before their first epoch, run names that are paths, damaged run files, packages
an env needs that are not installed, a disk that fills up."""

import errno
import re
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import ppo
from tests.helpers import REPO, assert_ok, default_run_dir, run
from tests.test_reliability import assert_one_line_error
from utils.cli import key_value
from utils.logx import setup_logger_kwargs

ENV_MISTAKES = [
    ("ArmReach-v1", ["robt=franka_panda"], "takes no keyword 'robt' (did you mean robot?); its "
     "keywords: robot, ee_link"),
    ("ArmReach-v1", ["robot=panda"], "robot='panda' is neither a shipped arm nor an existing file"),
    ("ArmReach-v1", ["success_distance=-1"], "success_distance=-1 must be > 0"),
    ("ArmReach-v1", ["success_distance=near"], "success_distance='near' is a str, but "
     "ArmReach-v1 wants a float"),
    ("ArmReach-v0", ["foo=1"], "ArmReach-v0 takes no keyword 'foo'"),
]  # fmt: skip


@pytest.mark.parametrize("env_id, env_kwargs, message", ENV_MISTAKES)
@pytest.mark.parametrize("cpu", ["1", "2"])
def test_an_env_keyword_mistake_is_one_line_once_and_leaves_no_run_behind(
    tmp_path, env_id, env_kwargs, message, cpu
):
    cmd = [sys.executable, "ppo.py", "--env", env_id, "--env_kwargs", *env_kwargs, "--cpu", cpu]
    result = run([*cmd, "--data_dir", str(tmp_path / "data")], timeout=60)
    assert result.returncode == 2
    assert_one_line_error(result, message)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("env_id, env_kwargs, message", ENV_MISTAKES)
def test_an_env_keyword_mistake_from_python_is_a_value_error_and_leaves_no_run(
    tmp_path, env_id, env_kwargs, message
):
    kwargs = dict(key_value(text) for text in env_kwargs)
    data = tmp_path / "data"
    with pytest.raises(ValueError, match=re.escape(message)):
        ppo.ppo(lambda: gym.make(env_id, **kwargs), logger_kwargs=dict(output_dir=str(data)))
    assert not data.exists()


def test_a_run_that_fails_before_its_first_epoch_leaves_nothing_and_takes_no_name(tmp_path):
    def exploding_env():
        raise ValueError("the arm is not plugged in")

    with pytest.raises(ValueError, match="not plugged in"):
        ppo.ppo(exploding_env, logger_kwargs=setup_logger_kwargs("ppo", 0, str(tmp_path)))
    assert list(tmp_path.iterdir()) == []
    cmd = [sys.executable, "ppo.py", "--epochs", "1", "--quiet", "--data_dir", str(tmp_path)]
    assert_ok(run(cmd))
    assert [p.name for p in tmp_path.glob("*/*")] == [default_run_dir(tmp_path).name]  # no _1


@pytest.mark.parametrize("name", ["../x", "/tmp/elsewhere", "a/b", "..", ""])
def test_a_run_name_is_a_name_never_a_path(tmp_path, name):
    data = tmp_path / "data"
    result = run([sys.executable, "ppo.py", "--exp_name", name, "--data_dir", str(data)])
    empty = "--exp_name is empty; give a name"  # the command line's words for ''
    assert_one_line_error(result, empty if name == "" else f"exp_name={name!r} must be a name")
    sweep = [sys.executable, "-m", "utils.sweep", "--name", name, "--data_dir", str(data)]
    assert_one_line_error(run(sweep), f"name={name!r} must be a name, not a path")
    with pytest.raises(ValueError, match="must be a name, not a path"):
        ppo.ppo(lambda: gym.make("ArmReach-v0"), logger_kwargs=dict(exp_name=name))
    assert not data.exists() and not (tmp_path / "x").exists()


def test_ppo_from_python_names_its_run_as_the_command_line_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ppo.ppo(lambda: gym.make("ArmReach-v0"), seed=3, epochs=1, quiet=True)
    cli = [sys.executable, str(REPO / "ppo.py"), "--seed", "3", "--epochs", "1", "--quiet"]
    assert_ok(run(cli, cwd=tmp_path))
    name = "ppo-ArmReach-v0"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "data").glob("*/*")) == [
        f"data/{name}/{name}_s3",  # from Python
        f"data/{name}/{name}_s3_1",  # the same name from the command line
    ]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two finished one-epoch runs of ArmReach-v0, seeds 0 and 1, in data/ppo."""
    data = tmp_path_factory.mktemp("runs")
    for seed in (0, 1):
        ppo.ppo(
            lambda: gym.make("ArmReach-v0"), seed=seed, epochs=1, quiet=True,
            logger_kwargs=setup_logger_kwargs("ppo", seed, str(data)),
        )  # fmt: skip
    return data / "ppo"


def damage(path):
    path.write_text(path.read_text()[:13])  # cut mid-way, as a full disk or a kill leaves it


def test_tools_name_a_run_they_cannot_read_and_go_on_with_the_rest(two_runs, tmp_path):
    runs = tmp_path / "sw" / "sw"  # where `utils.sweep --name sw` keeps its runs
    for run_dir in two_runs.iterdir():
        copy = runs / run_dir.name.replace("ppo", "sw")
        copy.mkdir(parents=True)
        for file in run_dir.iterdir():
            (copy / file.name).write_bytes(file.read_bytes())
    damage(runs / "sw_s1" / "config.json")
    out = tmp_path / "curves.png"
    result = run([sys.executable, "-m", "utils.plot", str(runs), "--out", str(out)])
    assert_ok(result)
    assert out.exists()
    assert f"{runs / 'sw_s1'} skipped: its config.json is not valid JSON" in result.stderr

    result = run([sys.executable, "-m", "utils.test_policy", str(runs)])
    assert_one_line_error(result, f"give one of them: {runs / 'sw_s0'}; skipped: ")
    assert f"{runs / 'sw_s1'} (config.json is unreadable" in result.stderr

    # The sweep started again: the damaged run is named with its reason, the other goes on.
    sweep = [sys.executable, "-m", "utils.sweep", "--env", "ArmReach-v0", "--name", "sw"]
    sweep += ["--seeds", "0", "1", "--epochs", "1", "--data_dir", str(tmp_path)]
    result = run(sweep)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"sw_s1: failed: .*config.json is missing or not valid JSON", result.stdout)
    assert re.search(r"sw_s0: skipped", result.stdout), result.stdout


def test_a_renderer_that_needs_a_missing_package_is_one_line(tmp_path):
    pytest.importorskip("gymnasium.envs.classic_control")
    try:
        import pygame  # noqa: F401

        pytest.skip("pygame is installed: the fault cannot be caused")
    except ImportError:
        pass
    ppo.ppo(
        lambda: gym.make("Pendulum-v1"), epochs=1, quiet=True,
        logger_kwargs=setup_logger_kwargs("ppo", 0, str(tmp_path)),
    )  # fmt: skip
    run_dir = tmp_path / "ppo" / "ppo_s0"  # setup_logger_kwargs("ppo", 0, ...)
    video = tmp_path / "v.gif"
    result = run([sys.executable, "-m", "utils.test_policy", str(run_dir), "--video", str(video)])
    assert_one_line_error(result, "Pendulum-v1's renderer needs a package that is not installed")
    assert "pygame" in result.stderr and not video.exists()


def test_an_env_that_needs_a_missing_package_is_one_line_naming_it(tmp_path):
    try:
        import Box2D  # noqa: F401

        pytest.skip("Box2D is installed: the fault cannot be caused")
    except ImportError:
        pass
    result = run([sys.executable, "ppo.py", "--env", "LunarLander-v3", "--data_dir", str(tmp_path)])
    assert_one_line_error(result, "needs a package that is not installed")
    assert "box2d" in result.stderr.lower()
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path):
    """A real 4 MB tmpfs (mounting needs root, as CI runs)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                           capture_output=True, text=True)  # fmt: skip
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (root needed): {mount.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file, to free the space again."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def test_a_disk_that_fills_up_stops_the_run_in_one_line_and_resume_goes_on(small_disk):
    cmd = [sys.executable, "ppo.py", "--steps", "400", "--save_freq", "1", "--quiet"]
    run_dir = default_run_dir(small_disk)
    proc = subprocess.Popen([*cmd, "--epochs", "1000", "--data_dir", str(small_disk)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 60
    while not (run_dir / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    filler = fill(small_disk)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run went on with a full disk")
    assert proc.returncode == 2
    lines = [line for line in stderr.splitlines() if "pybullet build time" not in line]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert f"the disk that holds {run_dir} is full (No space left on device)" in lines[0]
    assert "--resume" in lines[0]
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []  # no torn file
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)  # whole and loadable
    epochs = saved["epoch"] + 3

    filler.unlink()
    resume = [sys.executable, "ppo.py", "--resume", str(run_dir), "--epochs", str(epochs)]
    assert_ok(run(resume))
    rows = (run_dir / "progress.txt").read_text().splitlines()[1:]
    assert [int(float(row.split("\t")[0])) for row in rows] == list(range(epochs))
