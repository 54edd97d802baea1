"""The Ray path (GENMODELS_RAY_ADDRESS): hosts are actors spread over a cluster's nodes, and a node that
stops costs its runs only the steps since their last state (issue 12).

The test starts a two-node cluster on this machine (`ray start --head`, then a second node with
its own CPU), and stops it at the end. The second node runs in its own process group, so killing
that group is a node lost mid-run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genmodels.hosting.handle import RunHandle
from genmodels.hosting.pool import Pool, spec_for
from genmodels.setup import Setup

RAY = str(Path(sys.executable).with_name("ray"))
ROOT = Path(__file__).resolve().parents[1]
SESSIONS = 10  # the issue: 10 sessions spread over both nodes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_cli(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    return subprocess.Popen([RAY, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)


@pytest.fixture(scope="module")
def cluster():
    assert shutil.which(RAY), "ray is pinned in requirements.txt: `make test` installs it"
    address = f"127.0.0.1:{free_port()}"
    head = ray_cli("start", "--head", f"--port={address.split(':')[1]}", "--num-cpus=1", "--include-dashboard=false")
    assert head.wait(timeout=120) == 0, "ray start --head failed"
    node = ray_cli("start", f"--address={address}", "--num-cpus=1", "--block", start_new_session=True)
    try:
        yield address, node
    finally:
        import ray

        ray.shutdown()
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def wait_for(condition, handles, timeout: float = 240.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for h in handles:
            h.heartbeat()
        time.sleep(0.1)


def test_runs_spread_over_two_nodes_and_survive_losing_one(cluster):
    import ray

    from genmodels.hosting.ray_hosts import RayHost, connect

    address, node = cluster
    deadline = time.monotonic() + 120
    while connect(address) < 2:  # the second node joins
        assert time.monotonic() < deadline, "the second Ray node did not join"
        ray.shutdown()
        time.sleep(1)
    pool = Pool(lambda i: RayHost(i, slots=1, time_slice=0.5), 2)
    try:
        assert len({link.host.where["pid"] for link in pool._links}) == 2 and len(ray.nodes()) == 2
        setup = Setup.from_query({"data": "moons", "model": "realnvp", "layers": "2", "hidden": "16",
                                  "batch_size": "64", "steps": "100000"})
        handles = [RunHandle(pool, spec_for(setup, None)) for _ in range(SESSIONS)]
        for h in handles:
            h.start()
        wait_for(lambda: all(h._state is not None and h._state.step > 0 for h in handles), handles,
                 what="a state from every run")
        head = next(n["NodeID"] for n in ray.nodes() if "node:__internal_head__" in n["Resources"])
        doomed = next(link for link in pool._links if link.host.where["node_id"] != head)  # on the second node
        on_it = [h for h in handles if h.link is doomed]
        assert 0 < len(on_it) < SESSIONS
        os.killpg(node.pid, signal.SIGKILL)  # the second node stops
        wait_for(lambda: all(h.link is not doomed and h.snapshot().message.startswith("resumed") for h in on_it),
                 handles, what="the lost node's runs to resume")
        before = {h.id: h.snapshot().step for h in handles}
        wait_for(lambda: all(h.snapshot().step > before[h.id] for h in handles), handles,
                 what="every run to train on the surviving node")
        for h in on_it:  # each went on from a state it had, not from scratch
            assert int(re.match(r"resumed from step (\d+)", h.snapshot().message).group(1)) > 0
        for h in handles:
            h.close()
    finally:
        pool.shutdown()
