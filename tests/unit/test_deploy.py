"""The deployment files agree with the code they deploy.

``docker-compose.yml`` is valid for Compose, keeps the worker scalable and
gives every service what it needs; the ``Dockerfile`` installs every package,
with the dependencies pip resolves from ``pyproject.toml`` and no list of its
own; ``pyproject.toml`` declares every module the product imports; and every
setting in ``listen_service.config.SETTINGS`` is documented, since
a setting nobody can find is one nobody can use.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from listen_service.cli import build_parser
from listen_service.config import SETTINGS
from listen_service.run import worker_command
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
IMAGE_SERVICES = ("web", "worker", "readers", "flower")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        pytest.fail("PyYAML is required to read docker-compose.yml; it is in the dev extras")
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services[name]


def environment(svc: dict[str, Any]) -> dict[str, str]:
    """A service's environment, in either of Compose's two spellings."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def mounts(svc: dict[str, Any]) -> dict[str, str]:
    """Named volume or host path → mount path, in either of Compose's two spellings."""
    found = {}
    for volume in svc.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        found[source] = target
    return found


def command(svc: dict[str, Any]) -> list[str]:
    cmd = svc["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def healthcheck(svc: dict[str, Any]) -> str:
    test = svc.get("healthcheck", {}).get("test")
    assert test, "no healthcheck"
    return test if isinstance(test, str) else " ".join(test)


def celery_target() -> str:
    """The ``-A`` app target that ``listen-service worker`` runs."""
    cmd = worker_command({"LISTEN_BROKER_URL": "redis://redis:6379/0"}, 1, "INFO")
    return cmd[cmd.index("-A") + 1]


def test_compose_file_is_valid_for_compose() -> None:
    # The same check as .ci/run; it needs no Docker engine.
    result = subprocess.run(
        [require("docker-compose"), "-f", str(COMPOSE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_runs_redis_web_workers_and_flower_from_one_image(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == {"redis", *IMAGE_SERVICES}
    images = {
        (service(compose, name).get("image"), repr(service(compose, name).get("build")))
        for name in IMAGE_SERVICES
    }
    assert len(images) == 1, images


@pytest.mark.parametrize("name", ["worker", "readers"])
def test_the_worker_can_be_scaled(compose: dict[str, Any], name: str) -> None:
    # A fixed name or published port would clash between replicas, and a fixed
    # hostname would give every replica the same Celery node name.
    worker = service(compose, name)
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "hostname" not in worker


def test_commands_are_ones_the_cli_accepts(compose: dict[str, Any]) -> None:
    parser = build_parser()
    web = command(service(compose, "web"))
    assert web[:2] == ["listen-service", "web"]
    assert parser.parse_args(web[1:]).bind.startswith("0.0.0.0:")
    worker = command(service(compose, "worker"))
    assert worker[:2] == ["listen-service", "worker"]
    assert parser.parse_args(worker[1:]).lanes == "all"
    readers = command(service(compose, "readers"))
    assert readers[:2] == ["listen-service", "worker"]
    assert parser.parse_args(readers[1:]).lanes == "interactive"
    flower = command(service(compose, "flower"))
    assert flower[:3] == ["celery", "-A", celery_target()]
    assert "flower" in flower


def test_web_and_workers_share_the_audio_volume_and_data_dir(compose: dict[str, Any]) -> None:
    assert "audio" in compose["volumes"]
    pair = ("web", "worker")
    data_dirs = {name: environment(service(compose, name)).get("LISTEN_DATA_DIR") for name in pair}
    targets = {name: mounts(service(compose, name)).get("audio") for name in pair}
    assert targets["web"] is not None
    assert data_dirs["web"] == data_dirs["worker"] == targets["web"] == targets["worker"]
    # The image's own default agrees, for anyone running it without Compose.
    assert f"LISTEN_DATA_DIR={targets['web']}" in DOCKERFILE.read_text(encoding="utf-8")


def test_every_image_service_reaches_the_compose_redis(compose: dict[str, Any]) -> None:
    for name in IMAGE_SERVICES:
        svc = service(compose, name)
        broker = environment(svc).get("LISTEN_BROKER_URL", "")
        assert broker.startswith("redis://redis:"), name
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_redis_keeps_queued_jobs_across_restarts(compose: dict[str, Any]) -> None:
    redis = service(compose, "redis")
    assert "--appendonly yes" in " ".join(command(redis))
    assert mounts(redis).get("redis") == "/data"
    assert "redis" in compose["volumes"]


def test_health_checks(compose: dict[str, Any]) -> None:
    assert "redis-cli ping" in healthcheck(service(compose, "redis"))
    # The web container's own liveness; /healthz, the service's, would fail it for the workers.
    assert "/livez" in healthcheck(service(compose, "web"))
    for name in ("worker", "readers"):
        worker = healthcheck(service(compose, name))
        # Its own node only: a ping of any node would pass while this one is dead.
        assert f"-A {celery_target()} inspect ping" in worker
        assert "HOSTNAME" in worker


def test_the_image_installs_every_package() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    project = pyproject()
    assert "flower" in project["project"]["optional-dependencies"]
    copied = set(re.findall(r"^COPY\s+(\S+)", dockerfile, flags=re.MULTILINE))
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert package in copied, f"the Dockerfile does not COPY {package}"
        assert f"!{package}" in dockerignore, f".dockerignore leaves {package} out"
    assert re.search(r"^USER\s+10001", dockerfile, flags=re.MULTILINE)


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pip_installs(dockerfile: str) -> list[list[str]]:
    """The arguments of every ``pip install`` the Dockerfile runs, continuation lines joined."""
    text = dockerfile.replace("\\\n", " ")
    found = []
    for line in re.findall(r"^RUN\s+(.*)$", text, flags=re.MULTILINE):
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        for word in [*lexer, ";"]:
            if word not in ("&&", "||", ";", "|"):
                words.append(word)
                continue
            if words[:2] == ["pip", "install"] or words[1:4] == ["-m", "pip", "install"]:
                found.append(words[words.index("install") + 1 :])
            words = []
    return found


def build_args(dockerfile: str) -> dict[str, str]:
    """The Dockerfile's ``ARG NAME=default`` lines."""
    return dict(re.findall(r"^ARG\s+(\w+)=(\S*)\s*$", dockerfile, flags=re.MULTILINE))


def test_the_image_installs_the_project_and_no_list_of_its_own() -> None:
    # What the image installs is what `pip install .` resolves from pyproject.toml,
    # so the image cannot lack a dependency that a clean install has (tests/install);
    # the one other install is of the voice packages an operator names.
    extras = pyproject()["project"]["optional-dependencies"]
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    args_default = build_args(dockerfile)
    installs = pip_installs(dockerfile)
    assert installs, "the Dockerfile runs no pip install"
    assert args_default["VOICE_PACKAGES"] == "", "the image's default has no voices"
    for args in installs:
        targets = [arg.replace("${EXTRAS}", args_default["EXTRAS"]) for arg in args]
        targets = [t for t in targets if not t.startswith("-")]
        if targets == ["${VOICE_PACKAGES}"]:
            continue
        assert targets and all(re.fullmatch(r"\.(\[[\w,-]+\])?", t) for t in targets), args
        assert not {"-r", "--requirement", "-c", "--constraint", "--no-deps"} & set(args), args
        for target in targets:
            chosen = re.findall(r"[\w-]+", target)
            assert "dev" not in chosen, "the image installs the test tools"
            assert set(chosen) <= set(extras), f"{target}: no such extra"


def test_the_image_gets_flower_as_well_as_every_runtime_dependency() -> None:
    # An extra adds to `dependencies`, never replaces them; Flower runs from this image,
    # and the neural voices only when asked for (they are GPL-3.0 and 250 MB).
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    assert build_args(dockerfile)["EXTRAS"] == "flower"
    assert any(target == ".[${EXTRAS}]" for args in pip_installs(dockerfile) for target in args)


def imported_modules() -> dict[str, Path]:
    """Top-level modules the shipped packages import, other than the stdlib and themselves."""
    ours = {p.rstrip("*") for p in pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]}
    found: dict[str, Path] = {}
    for package in ours:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in ours:
                        found.setdefault(top, path.relative_to(ROOT))
    return found


def test_every_imported_module_is_a_declared_dependency() -> None:
    project = pyproject()["project"]
    # The dependencies, and the extras the shipped code imports (neural: Piper).
    lines = [
        *project["dependencies"],
        *(
            d
            for extra, deps in project["optional-dependencies"].items()
            if extra != "dev"
            for d in deps
        ),
    ]
    declared = {canonicalize_name(Requirement(line).name) for line in lines}
    providers = importlib.metadata.packages_distributions()
    modules = imported_modules()
    assert {"flask", "celery", "redis", "pyttsx3"} <= set(modules)
    for module, where in modules.items():
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        assert dists & declared, f"{where} imports {module}, which no dependency declares"


@pytest.mark.parametrize("setting", [s.name for s in SETTINGS])
def test_setting_is_documented_in_operations_guide(setting: str) -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert f"| `{setting}` |" in text


@pytest.mark.parametrize("setting", [s.name for s in SETTINGS])
def test_setting_is_documented_in_readme(setting: str) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"| `{setting}` |" in text
