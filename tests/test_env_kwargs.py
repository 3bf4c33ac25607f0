"""--env_kwargs: one run on another arm, and every tool rebuilds that env from config.json."""

import json
import sys

import numpy as np

from tests.helpers import assert_ok, default_run_dir, run
from utils import sweep
from utils.cli import key_value
from utils.test_policy import load_policy_and_env

KWARGS = ["robot=xarm6", "collision_penalty=0.25", "reward_type=dense"]
TINY = ["--epochs", "1", "--steps", "400", "--envs_per_proc", "4", "--quiet"]


def test_env_kwargs_reach_gym_make_config_and_every_tool(tmp_path):
    args = ["ppo.py", "--env", "ArmReach-v1", "--env_kwargs", *KWARGS, *TINY]
    assert_ok(run([sys.executable, *args, "--data_dir", str(tmp_path)]))
    run_dir = default_run_dir(tmp_path, "ArmReach-v1", **dict(map(key_value, KWARGS)))
    config = json.loads((run_dir / "config.json").read_text())
    # JSON where it parses (0.25 is a number), a string where it does not (xarm6).
    assert config["env_kwargs"] == dict(robot="xarm6", collision_penalty=0.25, reward_type="dense")

    env, get_action = load_policy_and_env(run_dir)  # the xArm6: 6 joints, not the iiwa's 7
    assert env.unwrapped.robot == "xarm6" and env.action_space.shape == (6,)
    assert env.unwrapped.collision_penalty == 0.25
    assert get_action(env.reset(seed=0)[0]).shape == (6,)
    env.close()

    result = run([sys.executable, "-m", "utils.export", str(run_dir)])
    assert_ok(result)
    import onnxruntime

    meta = onnxruntime.InferenceSession(str(run_dir / "policy.onnx")).get_modelmeta()
    assert json.loads(meta.custom_metadata_map["env_kwargs"])["robot"] == "xarm6"

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
        env_kwargs=dict(robot="franka_panda"),
        epochs=1,
        steps_per_epoch=400,
        envs_per_proc=4,
        verbose=False,
    )
    assert [r["status"] for r in results] == ["trained"]
    config = json.loads((results[0]["run_dir"] / "config.json").read_text())
    assert config["env_kwargs"] == {"robot": "franka_panda"}
    assert np.isfinite(results[0]["AverageEpRet"])
