"""The example alert rules and Grafana dashboard in ``deploy/`` name only metrics Listen exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from listen_service import create_app
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "listen-dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"
NAME = re.compile(r"\blisten_[a-z_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Sample names Listen can export: the web's and the worker's metric objects
    (by type: a counter's ``_total``…, labelled or not yet moved) and what a
    real ``/metrics`` shows, with the live-worker gauge wired as documented."""
    import workers.metrics  # noqa: F401  (its metric objects join the registry)

    app = create_app({"LISTEN_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    names = {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }
    app.extensions["listen_live_workers"] = lambda: 1
    text = app.test_client().get("/metrics").get_data(as_text=True)
    names |= {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    return {n for n in names if n.startswith("listen_")}


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_every_alert_names_exported_metrics(exported: set[str]) -> None:
    assert rules()
    for rule in rules():
        assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), rule
        used = set(NAME.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_operations_md_lists_every_alert_with_its_severity() -> None:
    table = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(Listen\w+)` \| .+ \| (\w+) \|$", OPERATIONS.read_text(), re.M)
    }
    assert table == {rule["alert"]: rule["labels"]["severity"] for rule in rules()}


def test_every_dashboard_panel_names_exported_metrics(exported: set[str]) -> None:
    exprs = dashboard_exprs()
    assert exprs
    for expr in exprs:
        used = set(NAME.findall(expr))
        assert used and used <= exported, (expr, used - exported)
    # And every metric is on the dashboard somewhere, histograms by their buckets or sums.
    shown = {n for e in exprs for n in NAME.findall(e)}
    bases = {re.sub(r"_(bucket|sum|count|total)$", "", n) for n in shown}
    missing = {n for n in exported if re.sub(r"_(bucket|sum|count|total)$", "", n) not in bases}
    assert not missing - {"listen_broker_quarantined"}, missing


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = require("promtool")  # Debian's prometheus package; .ci/run installs it
    done = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
