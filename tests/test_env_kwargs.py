"""--env_kwargs: one run on another arm with the pose goal, and every tool rebuilds that env from
config.json."""

import json
import sys

import numpy as np

from tests.helpers import assert_ok, default_run_dir, run
from utils import sweep
from utils.cli import key_value
from utils.test_policy import load_policy_and_env

KWARGS = ["robot=xarm6", "collision_penalty=0.25", "reward_type=dense", "goal=pose"]
TINY = ["--epochs", "1", "--steps", "400", "--num_envs", "4", "--eval_episodes", "4", "--quiet"]


def test_env_kwargs_reach_gym_make_config_and_every_tool(tmp_path):
    args = ["ppo.py", "--env", "ArmReach-v1", "--env_kwargs", *KWARGS, *TINY]
    assert_ok(run([sys.executable, *args, "--data_dir", str(tmp_path)]))
    run_dir = default_run_dir(tmp_path, "ArmReach-v1", **dict(map(key_value, KWARGS)))
    config = json.loads((run_dir / "config.json").read_text())
    # JSON where it parses (0.25 is a number), a string where it does not (xarm6).
    assert config["env_kwargs"] == dict(
        robot="xarm6", collision_penalty=0.25, reward_type="dense", goal="pose"
    )

    env, get_action = load_policy_and_env(run_dir)  # the xArm6: 6 joints, not the iiwa's 7
    assert env.unwrapped.robot == "xarm6" and env.action_space.shape == (6,)
    assert env.unwrapped.collision_penalty == 0.25 and env.unwrapped.goal == "pose"
    observations = [env.reset(seed=s)[0] for s in range(5)]
    assert get_action(observations[0]).shape == (6,)
    env.close()

    video = run_dir / "pose.gif"
    assert_ok(run([sys.executable, "-m", "utils.test_policy", str(run_dir), "-n", "1",
                   "--video", str(video)]))  # fmt: skip
    assert video.stat().st_size > 0
    assert_ok(
        run([sys.executable, "-m", "utils.plot", str(run_dir), "--out", str(run_dir / "c.png")])
    )
    assert (run_dir / "c.png").stat().st_size > 0

    result = run([sys.executable, "-m", "utils.export", str(run_dir)])
    assert_ok(result)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(run_dir / "policy.onnx"))
    meta = session.get_modelmeta()
    assert json.loads(meta.custom_metadata_map["env_kwargs"])["goal"] == "pose"
    name = session.get_inputs()[0].name
    for obs in observations:
        onnx_act = session.run(None, {name: obs[None].astype(np.float32)})[0][0]
        np.testing.assert_allclose(onnx_act, get_action(obs), atol=1e-5)
    deploy = [sys.executable, "examples/deploy_onnx.py", str(run_dir / "policy.onnx")]
    assert_ok(run([*deploy, "--episodes", "1", "--no-realtime"]))

    # --resume alone takes the env and its kwargs from config.json.
    assert_ok(run([sys.executable, "ppo.py", "--resume", str(run_dir), "--epochs", "2"]))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env_kwargs"]["robot"] == "xarm6" and config["epochs"] == 2


def test_sweep_passes_env_kwargs_to_every_run(tmp_path):
    results = sweep.sweep(
        "ArmReach-v1",
        [0],
        name="arm",
        data_dir=tmp_path,
        env_kwargs=dict(robot="franka_panda", goal="pose"),
        epochs=1,
        steps_per_epoch=400,
        num_envs=4,
        verbose=False,
    )
    assert [r["status"] for r in results] == ["trained"]
    config = json.loads((results[0]["run_dir"] / "config.json").read_text())
    assert config["env_kwargs"] == {"robot": "franka_panda", "goal": "pose"}
    assert np.isfinite(results[0]["AverageEpRet"])


def test_env_kwargs_values_read_as_json_then_as_python_literals_then_as_strings():
    parsed = dict(map(key_value, ["a=false", "b=False", "c=None", "d=(0, 0.03, 0)", "e=[1, 2]",
                                  "f=franka_panda", "g=/tmp/arm.urdf", "h=2.5"]))  # fmt: skip
    assert parsed == dict(a=False, b=False, c=None, d=(0, 0.03, 0), e=[1, 2], f="franka_panda",
                          g="/tmp/arm.urdf", h=2.5)  # fmt: skip
