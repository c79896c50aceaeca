"""Across nodes: a real three-node Ray cluster on this machine, run in a child process.

The session's own Ray instance cannot host extra nodes, so ``cluster_scenario.py`` starts
a ``ray.cluster_utils.Cluster`` of its own and reports what it saw as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO = Path(__file__).with_name("cluster_scenario.py")


@pytest.mark.ray
@pytest.mark.slow
def test_channel_actor_on_one_node_serves_producers_and_consumers_on_others() -> None:
    completed = subprocess.run(
        [sys.executable, str(SCENARIO)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["exactly_once"]
    consumer_nodes = report["consumer_nodes"]
    assert len(set(consumer_nodes)) == 2, "consumers ran on two different nodes"
    assert report["head_node"] not in consumer_nodes
    assert report["head_node"] not in report["producer_nodes"]
    assert report["readers_per_node"] == dict.fromkeys(consumer_nodes, 1)
