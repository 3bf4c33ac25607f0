"""Training across hosts, with two network namespaces on a bridge standing in for two hosts.

Each namespace has its own address on a private /24 that exists only on this test's bridge.
MPICH's hydra launches the ranks as it would over ssh, from a hostfile; the "ssh" is
tests/multihost_netns_ssh.sh, which runs the command inside the namespace named by the host
instead. Hydra's proxies reach mpirun's control port over the bridge (`-iface`), and the ranks
exchange their data over it too. Creating namespaces needs root (CAP_NET_ADMIN): elsewhere these
tests skip, but under CI (which runs as root) a refusal is a failure, not a silent skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO, assert_ok, default_run_dir, run
from tests.test_ppo import read_progress
from utils.mpi import find_mpirun

LAUNCHER = REPO / "tests" / "multihost_netns_ssh.sh"
PREFIX = "mhost"  # every namespace, bridge and veth of these tests: mhost<pid>{br,h1,h2}
OWN_NAME = re.compile(rf"^{PREFIX}(\d+)(br|h1|h2)$")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def why_no_namespaces() -> str | None:
    """The reason this machine cannot run the tests, or None if it can."""
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` on PATH (Debian: apt-get install iproute2)"
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN) to create network namespaces; CI runs it as root"
    probe = f"{PREFIX}{os.getpid()}h1"
    ip("netns", "del", probe, check=False)
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return (
            f"cannot create a network namespace: `ip netns add` was refused: {made.stderr.strip()}"
        )
    ip("netns", "del", probe)
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def kill_processes_in(netns: str) -> None:
    # Only processes this test started live in its namespaces; a namespace holding a process
    # would outlive `ip netns del`.
    deadline = time.time() + 5
    while (
        pids := ip("netns", "pids", netns, check=False).stdout.split()
    ) and time.time() < deadline:
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def kill_job_using(bridge: str) -> None:
    """mpirun itself runs outside the namespaces: the job of a run killed before its teardown
    would wait forever for proxies that are gone. It is found by its own command line."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0") if proc.name.isdigit() else []
        except OSError:
            continue
        if (b"-iface", bridge.encode()) in zip(argv, argv[1:], strict=False):
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def remove_leftovers(only_pid: int | None = None) -> None:
    """Delete namespaces and links of a run that was killed before its teardown (its pid is
    gone) or, with only_pid, those of that run."""

    def stale(name: str) -> bool:
        match = OWN_NAME.match(name)
        if match is None:
            return False
        pid = int(match.group(1))
        return pid == only_pid if only_pid is not None else not pid_alive(pid)

    links = [
        line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link").stdout.splitlines()
    ]
    for bridge in (name for name in links if stale(name) and name.endswith("br")):
        kill_job_using(bridge)
    for netns in [line.split()[0] for line in ip("netns", "list").stdout.splitlines()]:
        if stale(netns):
            kill_processes_in(netns)
            ip("netns", "del", netns, check=False)
    for name in filter(stale, links):
        ip("link", "del", name, check=False)


def free_subnet() -> str:
    """A 10.213.N.0/24 that no interface or route of this machine uses yet."""
    in_use = ip("-4", "addr").stdout + ip("-4", "route").stdout
    for i in range(254):
        n = (os.getpid() + i) % 254 + 1
        if f"10.213.{n}." not in in_use:
            return f"10.213.{n}"
    raise RuntimeError("no free 10.213.N.0/24 for the test's bridge")


@dataclass
class Hosts:
    names: list[str]  # the namespaces, which are also the host names given to mpirun
    addresses: list[str]
    bridge: str
    bridge_address: str

    def veth(self, i: int) -> str:
        """The bridge's end of host i's cable (its traffic counters are host i's traffic)."""
        return self.names[i]

    def traffic_bytes(self, i: int) -> tuple[int, int]:
        stats = Path("/sys/class/net") / self.veth(i) / "statistics"
        return int((stats / "rx_bytes").read_text()), int((stats / "tx_bytes").read_text())


@pytest.fixture
def two_hosts():
    reason = why_no_namespaces()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the multi-host tests, but: {reason}")
        pytest.skip(reason)
    remove_leftovers()
    remove_leftovers(only_pid=os.getpid())
    tag, subnet = f"{PREFIX}{os.getpid()}", free_subnet()
    hosts = Hosts(
        names=[f"{tag}h1", f"{tag}h2"],
        addresses=[f"{subnet}.2", f"{subnet}.3"],
        bridge=f"{tag}br",
        bridge_address=f"{subnet}.1",
    )
    try:
        ip("link", "add", hosts.bridge, "type", "bridge")
        ip("addr", "add", f"{hosts.bridge_address}/24", "dev", hosts.bridge)
        ip("link", "set", hosts.bridge, "up")
        for i, (netns, address) in enumerate(zip(hosts.names, hosts.addresses, strict=True)):
            ip("netns", "add", netns)
            ip("link", "add", hosts.veth(i), "type", "veth", "peer", "name", "eth0", "netns", netns)
            ip("link", "set", hosts.veth(i), "master", hosts.bridge, "up")
            ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
            ip("-n", netns, "link", "set", "lo", "up")  # MPI and hydra use loopback too
        yield hosts
    finally:
        remove_leftovers(only_pid=os.getpid())


def mpirun_across(hosts: Hosts, tmp_path: Path, ppo_args: list[str]) -> list[str]:
    """The command that starts one rank on each host, as docs/hosts.md gives it."""
    hostfile = tmp_path / "hosts"
    hostfile.write_text("".join(f"{name}:1\n" for name in hosts.names))
    return [
        find_mpirun(),
        *("-launcher", "ssh", "-launcher-exec", str(LAUNCHER)),
        *("-f", str(hostfile), "-iface", hosts.bridge),
        # The two "hosts" share one kernel: UCX would pass the ranks' data through shared
        # memory, and the test would prove nothing about the network. Real hosts need no such flag.
        *("-genv", "UCX_TLS", "tcp,self"),
        *("-np", "2", sys.executable, "-m", "tests.multihost_rank", str(tmp_path / "reports")),
        *("--env", "ArmReach-v0", "--steps", "2000", "--quiet"),
        *("--data_dir", str(tmp_path / "data"), *ppo_args),
    ]


def read_reports(tmp_path: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "reports").glob("rank*.json"))]


def test_ppo_trains_across_two_hosts_with_identical_weights_on_both(two_hosts, tmp_path):
    (tmp_path / "reports").mkdir()
    before = [two_hosts.traffic_bytes(i) for i in range(2)]
    result = run(mpirun_across(two_hosts, tmp_path, ["--epochs", "2"]), timeout=80)
    assert_ok(result)

    reports = read_reports(tmp_path)
    assert [r["rank"] for r in reports] == [0, 1]
    assert [r["netns_name"] for r in reports] == two_hosts.names
    assert [r["addresses"] for r in reports] == [[a] for a in two_hosts.addresses]
    own_netns = os.readlink("/proc/self/ns/net")
    assert len({r["netns"] for r in reports} | {own_netns}) == 3, "two hosts, neither this one"

    _, rows = read_progress(default_run_dir(tmp_path / "data"))
    assert [r["Epoch"] for r in rows] == [0, 1]
    assert [r["TotalEnvInteracts"] for r in rows] == [4000, 6000]  # 2000: the warm-up
    assert all(r["KL"] != 0 for r in rows), "the policy should have been updated every epoch"
    assert reports[0]["params_sha256"] == reports[1]["params_sha256"]

    # Averaging gradients of about 12k parameters, 80 value steps per epoch and more: megabytes
    # through each host's cable, both ways, unless the ranks found another path.
    for i in range(2):
        received, sent = (a - b for a, b in zip(two_hosts.traffic_bytes(i), before[i], strict=True))
        assert received > 1_000_000 and sent > 1_000_000, (i, received, sent)


def test_a_rank_killed_on_one_host_brings_the_whole_job_down_with_a_message(two_hosts, tmp_path):
    (tmp_path / "reports").mkdir()
    log = tmp_path / "mpirun.log"
    with open(log, "w") as out:
        job = subprocess.Popen(
            mpirun_across(two_hosts, tmp_path, ["--epochs", "1000"]),
            cwd=REPO,
            # Ends the job even if pytest itself is killed before the teardown.
            env=dict(os.environ, MPIEXEC_TIMEOUT="300"),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        progress = default_run_dir(tmp_path / "data") / "progress.txt"
        deadline = time.time() + 60
        while not (progress.exists() and len(progress.read_text().splitlines()) >= 2):
            assert job.poll() is None, f"exit {job.returncode} before training:\n{log.read_text()}"
            assert time.time() < deadline, f"no epoch after 60 s:\n{log.read_text()}"
            time.sleep(0.2)
        victim = next(r for r in read_reports(tmp_path) if r["rank"] == 1)["pid"]
        assert ip("netns", "identify", str(victim)).stdout.strip() == two_hosts.names[1]

        os.kill(victim, signal.SIGKILL)
        killed_at = time.time()
        try:
            job.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the job still ran 60 s after rank 1 was killed:\n{log.read_text()}")
        took = time.time() - killed_at
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()

    output = log.read_text()
    assert job.returncode != 0, output
    assert "BAD TERMINATION" in output and f"RUNNING AT {two_hosts.names[1]}" in output, output
    assert "EXIT CODE: 9" in output, output  # the signal that killed it
    assert took < 60, f"the job ended {took:.0f} s after rank 1 was killed"
    # Rank 0 and both proxies go too, moments after mpirun, which does not wait for them.
    while (left := processes_in(two_hosts.names)) and time.time() < killed_at + 60:
        time.sleep(0.1)
    assert left == [], f"still running {time.time() - killed_at:.0f} s after the kill: {left}"


def processes_in(namespaces: list[str]) -> list[str]:
    commands = []
    for netns in namespaces:
        for pid in ip("netns", "pids", netns).stdout.split():
            try:
                commands.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
            except OSError:
                pass  # exited meanwhile
    return commands
