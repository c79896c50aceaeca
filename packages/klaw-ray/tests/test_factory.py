"""``channel()``: argument checks, configuration defaults, and starting Ray on demand."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from klaw_config import ChannelDefaults, KlawConfig
from klaw_ray import LocalReceiver, LocalSender, channel

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"capacity": 0}, "invalid capacity 0: Expected `int` >= 1"),
        ({"capacity": 1_000_001}, "invalid capacity"),
        ({"capacity": 4, "unbounded": True}, "not both"),
        ({"backend": "carrier-pigeon"}, "backend must be"),
        ({"name": "has space"}, "invalid channel name"),
        ({"namespace": "klaw"}, "Ray backend only"),
        ({"namespace": "Not_Valid"}, "invalid namespace"),
    ],
)
async def test_bad_arguments_are_rejected_clearly(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await channel(config=KlawConfig(), **kwargs)  # type: ignore[call-overload]


async def test_capacity_defaults_to_the_configuration() -> None:
    config = KlawConfig(channels=ChannelDefaults(capacity=3))
    tx, _rx = await channel(config=config)
    assert (await tx.stats()).capacity == 3


async def test_configuration_is_loaded_when_not_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "klaw.toml"
    path.write_text("[channels]\ncapacity = 5\n")
    monkeypatch.setenv("KLAW_CONFIG", str(path))
    tx, rx = await channel()
    assert isinstance(tx, LocalSender)
    assert isinstance(rx, LocalReceiver)
    assert (await rx.stats()).capacity == 5


async def test_unbounded_local_channel() -> None:
    tx, _rx = await channel(unbounded=True, config=KlawConfig())
    assert (await tx.stats()).capacity is None


def test_importing_klaw_ray_does_not_import_ray() -> None:
    code = (
        "import json, sys, klaw_ray\n"
        "loaded = [m for m in sys.modules if m == 'ray' or m.startswith('ray.')]\n"
        "print(json.dumps(sorted(loaded)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(completed.stdout) == []


def test_ray_backend_starts_an_embedded_loopback_instance_when_none_runs(tmp_path: Path) -> None:
    script = tmp_path / "embedded.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, json, subprocess
            import ray
            from klaw_config import KlawConfig, RayConfig
            from klaw_ray import channel

            async def main() -> dict[str, object]:
                config = KlawConfig(ray=RayConfig(namespace="klaw-embedded"))
                tx, rx = await channel(4, backend="ray", value_type=int, config=config)
                await tx.send(5)
                value = await rx.recv()
                port = ray.get_runtime_context().gcs_address.rsplit(":", 1)[1]
                listening = subprocess.run(
                    ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True
                ).stdout.split()
                return {
                    "value": value,
                    "gcs": ray.get_runtime_context().gcs_address,
                    "nodes": [node["NodeManagerAddress"] for node in ray.nodes()],
                    "gcs_listens_on": [part for part in listening if port in part],
                }

            print(json.dumps(asyncio.run(main())))
            ray.shutdown()
            """
        )
    )
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=180, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["value"] == 5
    assert report["gcs"].startswith("127.0.0.1:")
    assert report["nodes"] == ["127.0.0.1"]
    assert report["gcs_listens_on"], "the GCS port was not found listening"
    assert all("127.0.0.1" in address for address in report["gcs_listens_on"])
