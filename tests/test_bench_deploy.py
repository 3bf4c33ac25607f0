"""Smoke test: bench/deploy_latency.py runs with a tiny budget and prints a row per policy and
mode (ONNX first, the ratios' reference), positive latencies, and the command that reproduces it."""

import re
import sys

from tests.helpers import assert_ok, run

NUMBER = r"\s*([0-9]+(?:\.[0-9]+)?)\s*"


def test_deploy_latency_bench_prints_onnx_torch_and_torchscript_rows_per_mode_and_its_command():
    args = ["--calls", "200", "--episodes", "1", "--threads", "1"]
    result = run([sys.executable, "bench/deploy_latency.py", *args], timeout=120)
    assert_ok(result)
    assert "torch threads 1; 200 calls back-to-back, 50 in the 25 Hz loop" in result.stdout
    rows = re.findall(
        rf"^\| ((?:ONNX|torch|TorchScript)[^|]*?)\s*\|{NUMBER}\|{NUMBER}\|{NUMBER}\|{NUMBER}\|$",
        result.stdout,
        re.MULTILINE,
    )
    names = [(name.split()[0].rstrip(","), name.split(", ")[-1]) for name, *_ in rows]
    assert names == [
        (policy, mode)
        for mode in ("back-to-back", "25 Hz loop")
        for policy in ("ONNX", "torch", "TorchScript")
    ], result.stdout
    for _, p50, p99, p50_ratio, p99_ratio in rows:
        assert 0 < float(p50) <= float(p99), result.stdout
        assert float(p50_ratio) > 0 and float(p99_ratio) > 0, result.stdout
    assert rows[0][3:] == rows[3][3:] == ("1.00", "1.00"), result.stdout
    assert f"command: python bench/deploy_latency.py {' '.join(args)}\n" in result.stdout
