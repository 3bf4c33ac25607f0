"""Exporting a policy for deployment: an ONNX graph that onnxruntime runs without torch.

Real ppo() runs (ArmReach-v0 for Box actions, CartPole-v1 for Discrete), the real exporter, real
onnxruntime, real PyBullet; the deployment example runs in a Python where `import torch` fails.
"""

import functools
import importlib.util
import json
import re
import shutil
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers ArmReach-v0)
import ppo
from tests.helpers import REPO, assert_ok
from utils import export, test_policy

EXAMPLE = REPO / "examples" / "deploy_onnx.py"
EPISODES = 40  # x 50 steps: 2000 observations of the policy's own episodes


def load_example():
    spec = importlib.util.spec_from_file_location("deploy_onnx", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deploy = load_example()


def train(run_dir, env_id: str):
    """A real, short ppo() run: the export needs the files a run writes, not a good policy."""
    ppo.ppo(
        lambda: gym.make(env_id),
        epochs=2,
        steps_per_epoch=1000,
        quiet=True,
        logger_kwargs=dict(output_dir=str(run_dir)),
    )
    return run_dir


@pytest.fixture(scope="module")
def arm_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("arm") / "arm_s0", "ArmReach-v0")


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("cartpole") / "cartpole_s0", "CartPole-v1")


@pytest.fixture(scope="module")
def arm_onnx(arm_run, tmp_path_factory):
    return export.export_policy(arm_run, tmp_path_factory.mktemp("export") / "policy.onnx")


@pytest.fixture(scope="module")
def arm_episodes(arm_run):
    """The saved policy's own episodes (seeds 0..EPISODES-1): observations, actions, stats."""
    env, get_action = test_policy.load_policy_and_env(arm_run)
    observations, actions = [], []

    def recording_get_action(obs):
        observations.append(obs)
        actions.append(get_action(obs))
        return actions[-1]

    stats = test_policy.run_policy(env, recording_get_action, episodes=EPISODES, seed=0)
    env.close()
    return np.array(observations), np.array(actions), stats


def onnx_actions(path, observations: np.ndarray) -> np.ndarray:
    session, _ = deploy.load_policy(path)
    return session.run(None, {"obs": np.asarray(observations, dtype=np.float32)})[0]


def test_onnx_actions_equal_get_action_over_the_observations_of_real_episodes(
    arm_run, arm_onnx, arm_episodes
):
    observations, expected, _ = arm_episodes
    assert observations.shape == (EPISODES * 50, 23)
    actions = onnx_actions(arm_onnx, observations)
    assert actions.dtype == np.float32 and actions.shape == expected.shape
    assert np.abs(actions - expected).max() <= 1e-5
    # The graph holds the saved normalization: the same network on raw observations differs.
    ac, env, _ = test_policy.load_actor_critic(arm_run)
    env.close()
    with torch.no_grad():
        unnormalized = ac.pi.mu_net(torch.as_tensor(observations)).clamp(-1, 1).numpy()
    assert np.abs(actions - unnormalized).max() > 1e-2


def test_onnx_normalizer_clips_far_observations_like_get_action(arm_run, arm_onnx, arm_episodes):
    far = arm_episodes[0][:200] * 50 + 30  # beyond the normalizer's +-10 std clip
    env, get_action = test_policy.load_policy_and_env(arm_run)
    env.close()
    expected = np.array([get_action(obs) for obs in far])
    assert np.abs(onnx_actions(arm_onnx, far) - expected).max() <= 1e-5


def test_onnx_discrete_policy_returns_the_same_most_likely_action_as_get_action(
    cartpole_run, tmp_path
):
    path = export.export_policy(cartpole_run, tmp_path / "cartpole.onnx")
    env, get_action = test_policy.load_policy_and_env(cartpole_run)
    observations = []
    test_policy.run_policy(env, lambda obs: observations.append(obs) or get_action(obs), 10)
    env.close()
    observations = np.array(observations)
    assert len(observations) >= 50
    actions = onnx_actions(path, observations)
    assert actions.dtype == np.int64 and actions.shape == (len(observations),)
    assert actions.tolist() == [get_action(obs) for obs in observations]


def test_onnx_box_policy_clips_its_actions_into_the_bounds(arm_run, arm_episodes, tmp_path):
    ac, env, _ = test_policy.load_actor_critic(arm_run)
    env.close()
    with torch.no_grad():
        ac.pi.mu_net[-2].weight.mul_(100)  # a policy whose mean leaves [-1, 1]
    policy = export.DeterministicPolicy(ac, env.action_space).eval()
    export.write_onnx(policy, 23, tmp_path / "wide.onnx", metadata={})
    observations = arm_episodes[0][:100]
    with torch.no_grad():
        raw = ac.pi.mu_net(torch.as_tensor(ac.obs_rms.normalize(observations))).numpy()
    assert (np.abs(raw) > 1).any()
    np.testing.assert_allclose(
        onnx_actions(tmp_path / "wide.onnx", observations), np.clip(raw, -1, 1), atol=1e-5
    )


def test_one_session_runs_a_batch_of_one_and_a_batch_of_many(arm_onnx, arm_episodes):
    session, _ = deploy.load_policy(arm_onnx)
    (obs_input,), (act_output,) = session.get_inputs(), session.get_outputs()
    assert (obs_input.name, obs_input.type) == ("obs", "tensor(float)")
    assert obs_input.shape == ["batch", 23]  # a named, dynamic batch dimension
    assert (act_output.name, act_output.shape) == ("action", ["batch", 7])
    observations = arm_episodes[0][:64]
    singles = np.concatenate([session.run(None, {"obs": obs[None]})[0] for obs in observations])
    batch = session.run(None, {"obs": observations})[0]
    assert singles.shape == batch.shape == (64, 7)
    np.testing.assert_allclose(batch, singles, atol=1e-6)
    assert session.run(None, {"obs": observations[:1]})[0].shape == (1, 7)


def test_metadata_rebuilds_the_env_and_names_the_run(arm_run, arm_onnx, tmp_path):
    _, metadata = deploy.load_policy(arm_onnx)
    assert metadata["env_id"] == "ArmReach-v0" and metadata["env_kwargs"] == {}
    assert metadata["normalize_obs"] is True
    assert metadata["run_dir"] == str(arm_run.resolve())
    assert metadata["action_space"] == dict(
        type="Box", shape=[7], low=[-1.0] * 7, high=[1.0] * 7, dtype="float32"
    )
    env = deploy.make_env(metadata)
    observation_space = metadata["observation_space"]
    assert env.observation_space == gym.spaces.Box(
        np.array(observation_space["low"], dtype=np.float32),
        np.array(observation_space["high"], dtype=np.float32),
        dtype=np.float32,
    )
    env.close()

    # A run made with env kwargs keeps them, so the deployed env is the trained one.
    run_dir = shutil.copytree(arm_run, tmp_path / "sparse")
    config = json.loads((run_dir / "config.json").read_text())
    config["env_kwargs"] = {"reward_type": "sparse"}
    (run_dir / "config.json").write_text(json.dumps(config))
    _, metadata = deploy.load_policy(export.export_policy(run_dir, tmp_path / "sparse.onnx"))
    assert metadata["env_kwargs"] == {"reward_type": "sparse"}
    env = deploy.make_env(metadata)
    assert env.unwrapped.reward_type == "sparse"
    env.close()


# Run as `python -c BLOCK_TORCH example.py ARGS...`: every later `import torch` fails.
BLOCK_TORCH = """
import importlib.abc
import runpy
import sys


class BlockTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is blocked: a deployed policy runs without torch")
        return None


sys.meta_path.insert(0, BlockTorch())
try:
    import torch  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("import torch succeeded: the blocker does not work")
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "core", "ppo", "utils"))
assert not loaded, f"the deployment imported {loaded}"
print("torch was never imported")
"""


def test_exported_policy_reaches_the_saved_success_rate_where_torch_cannot_be_imported(
    arm_onnx, arm_episodes
):
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, str(EXAMPLE), str(arm_onnx)]
        + ["--episodes", str(EPISODES), "--seed", "0", "--no-realtime"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_ok(result)
    assert result.stdout.endswith("torch was never imported\n"), result.stdout
    episodes = [line.split("\t") for line in result.stdout.splitlines() if line.startswith("Ep")]
    returns = [float(ep_ret.split()[1]) for _, ep_ret, _, _ in episodes]
    successes = [success == "Success True" for *_, success in episodes]
    lines = dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)

    _, _, saved = arm_episodes
    # Episode by episode, so that the test fails even if both policies failed every episode.
    np.testing.assert_allclose(returns, saved["returns"], rtol=1e-4)
    assert np.mean(successes) == saved["success_rate"]
    assert float(lines["SuccessRate"]) == saved["success_rate"]
    latency = lines["Latency per action"]
    pattern = rf"p50 (\S+) us\tp99 (\S+) us\t\({EPISODES * 50} actions, .*\)"
    latency = re.fullmatch(pattern, latency)
    assert latency, result.stdout
    assert 0 < float(latency[1]) <= float(latency[2])


def test_control_loop_keeps_a_25_hz_tick(arm_onnx):
    session, metadata = deploy.load_policy(arm_onnx)
    env = deploy.make_env(metadata)
    act = functools.partial(deploy.policy_action, session, discrete=False)
    stats = deploy.control_loop(act, env, episodes=1, realtime=True, verbose=False)
    env.close()
    period = 1 / deploy.CONTROL_HZ
    assert stats["lengths"] == [50] and len(stats["latencies"]) == 50
    # 50 ticks of 40 ms: never faster; slower only by the last step and a busy machine's delays.
    assert 50 * period - 1e-3 <= stats["elapsed"] <= 50 * period + 1.0
    assert max(stats["latencies"]) < period


def test_command_line_writes_policy_onnx_into_the_run_by_default(arm_run, tmp_path, capsys):
    export.main([str(arm_run)])
    out, err = capsys.readouterr()
    assert out.startswith(f"Wrote {arm_run / 'policy.onnx'}: onnxruntime.InferenceSession"), out
    assert err == ""
    session, metadata = deploy.load_policy(arm_run / "policy.onnx")
    assert metadata["env_id"] == "ArmReach-v0"


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_pt_still_writes_torchscript_and_says_once_that_it_is_deprecated(
    arm_run, arm_episodes, tmp_path, capsys
):
    export.main([str(arm_run), "--out", str(tmp_path / "policy.pt")])
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "deprecated" in err and "export to .onnx" in err, err
    extra = {export.METADATA_FILE: ""}
    module = torch.jit.load(tmp_path / "policy.pt", _extra_files=extra)
    assert json.loads(extra[export.METADATA_FILE])["env_id"] == "ArmReach-v0"
    observations, expected, _ = arm_episodes
    with torch.no_grad():
        actions = module(torch.as_tensor(observations[:200])).numpy()
    assert np.abs(actions - expected[:200]).max() <= 1e-5


def corrupt_run(arm_run, tmp_path):
    run_dir = shutil.copytree(arm_run, tmp_path / "corrupt")
    data = (run_dir / "checkpoint.pt").read_bytes()
    (run_dir / "checkpoint.pt").write_bytes(data[: len(data) // 2])  # a torn write
    return run_dir


ERROR_CASES = {
    "missing run dir": (lambda arm, tmp: [str(tmp / "nowhere")], "does not exist"),
    "corrupt checkpoint": (lambda arm, tmp: [str(corrupt_run(arm, tmp))], "not a readable"),
    "unknown suffix": (
        lambda arm, tmp: [str(arm), "--out", str(tmp / "policy.tflite")],
        "must end in .onnx (ONNX, for onnxruntime) or .pt",
    ),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_print_one_line_and_exit_2(case, arm_run, tmp_path, capsys):
    make_argv, message = ERROR_CASES[case]
    argv = make_argv(arm_run, tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        export.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not list(tmp_path.glob("policy*")), "nothing is written on an error"
