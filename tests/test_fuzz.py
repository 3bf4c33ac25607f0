"""A command line nobody wrote by hand: Hypothesis draws flags and values of every kind (empty,
negative, huge, NaN, unicode, paths that do not exist or cannot be written), and every case
must exit 0 or 2 with at most one line on stderr, in bounded time, leaving no litter."""

import contextlib
import os
import sys
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import run
from utils import export, plot, test_policy
from utils.cli import build_parser

PPO_FLAGS = sorted(
    option
    for action in build_parser()[0]._actions
    for option in action.option_strings[:1]
    if option
    not in ("-h", "--cpu", "--resume", "--data_dir", "--epochs", "--quiet", "--tensorboard")
)
VALUES = st.one_of(
    st.sampled_from(["", "-1", "0", "1", "0.5", "1e308", "-1e308", "nan", "inf", "-inf", "true"]),
    st.sampled_from(["ü", "日本", "x" * 300, "/nonexistent/dir", "/proc/1/x", "..", "a=b", "--"]),
    st.text(max_size=8),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
FUZZ = settings(
    max_examples=5,
    deadline=None,  # each example is a real process
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same cases on every run: a failure is reproducible
)
# A real training run ends within this; a hang never does.
TIME_BOUND = 120


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "pybullet build time" not in line]


def assert_clean_exit(result, data_dir, cmd):
    assert result.returncode in (0, 2), (cmd, result.returncode, result.stderr)
    lines = stderr_lines(result)
    assert len(lines) <= 1 and "Traceback" not in result.stderr, (cmd, result.stderr)
    if result.returncode == 2:  # a refused command makes no run
        assert not data_dir.exists() or not any(data_dir.rglob("*")), (
            cmd,
            list(data_dir.rglob("*")),
        )


@pytest.mark.parametrize("part", ["flag", "env_kwargs"])
@FUZZ
@given(data=st.data())
def test_ppo_command_line_exits_0_or_2_with_one_line_and_no_litter(tmp_path_factory, part, data):
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    if part == "flag":
        flag = data.draw(st.sampled_from(PPO_FLAGS), label="flag")
        args = [flag, data.draw(VALUES, label="value")]
    else:
        key = data.draw(st.sampled_from(["reward_type", "success_distance", "robot", "foo", ""]))
        args = ["--env", "ArmReach-v1", "--env_kwargs", f"{key}={data.draw(VALUES)}"]
    cmd = [sys.executable, "ppo.py", "--epochs", "1", "--steps", "40", "--num_envs", "1"]
    cmd += ["--quiet", "--data_dir", str(data_dir), *args]
    assert_clean_exit(run(cmd, timeout=TIME_BOUND), data_dir, cmd)


@pytest.mark.parametrize("tool", [plot, test_policy, export], ids=lambda m: m.__name__)
@FUZZ
@given(path=VALUES, extra=st.lists(VALUES, max_size=2))
def test_tools_refuse_odd_arguments_in_one_line(capsys, tool, path, extra):
    # In this process (the tools' main(argv)): a new process per case would cost torch's import.
    capsys.readouterr()
    with tempfile.TemporaryDirectory() as where, contextlib.chdir(where):
        with pytest.raises(SystemExit) as exit_:
            tool.main([path, *extra])
        assert os.listdir(where) == [], (path, extra)  # nothing written where it ran
    err = capsys.readouterr().err
    assert exit_.value.code == 2, (path, extra, exit_.value.code, err)
    lines = [line for line in err.splitlines() if "pybullet build time" not in line]
    assert len(lines) == 1 and "Traceback" not in err, (path, extra, err)
