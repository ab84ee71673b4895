"""The production image and the compose file that runs it (issue #26).

No Docker engine answers on the machines that build govshare, so nothing runs `docker build`.
What the image holds is what its build stage's wheel holds (infra/Dockerfile), so this test does
what that stage does with the same files: it copies what the Dockerfile's COPY lines copy, the
way Docker would (.dockerignore applied), builds the wheel from that alone, installs it apart
from the repository, and runs it there: every module imports, and every file the service reads
at run time (schemas and their released versions, policies, migrations, topics, the dashboard's
templates, static files and catalogs) is read. And infra/compose.yaml parses, runs Kafka in
KRaft mode, PostgreSQL and each of govshare's stages as a service of its own, each a govshare
command on the image the Dockerfile builds.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest
import yaml

from events.topics import Topics
from infra.system import SYSTEM

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "infra" / "Dockerfile"
COMPOSE = REPO / "infra" / "compose.yaml"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGES = PROJECT["tool"]["setuptools"]["packages"]

# What the running service reads from files beside its modules (each a `Path(__file__)` in
# events/schemas.py, policies/files.py, migrations/upgrade.py, infra/topics.py, web/i18n.py and
# web/dashboard/routes.py): every file of the repository matching one must be in the wheel.
RUN_TIME_FILES = ("schemas/*.avsc", "schemas/history/*.json", "policies/*.toml",
                  "migrations/script.py.mako", "migrations/versions/*.py", "infra/topics.toml",
                  "web/dashboard/templates/*.html", "web/dashboard/static/*",
                  "web/locale/*/LC_MESSAGES/messages.po")
# Modules not to import by name: the CLI's `python -m` entry (it runs the command line), and
# Alembic's env.py (Alembic runs it, which `govshare migrate` below does).
NOT_IMPORTED = ("infra.cli.__main__", "migrations.env")


# --- the Dockerfile, read as Docker reads it ---------------------------------------------------

@dataclass
class Stage:
    """One FROM of the Dockerfile and its instructions, in order."""
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def arguments(self, keyword: str) -> list[str]:
        return [arguments for kind, arguments in self.steps if kind == keyword]


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for keyword, arguments in _instructions(text):
        if keyword == "FROM":  # FROM image [AS name]
            base, *name = re.split(r"\s+as\s+", arguments, maxsplit=1, flags=re.IGNORECASE)
            found.append(Stage(base, name[0] if name else None))
        else:
            found[-1].steps.append((keyword, arguments))
    return found


def _instructions(text: str):
    """Docker's reading: comment lines dropped, also inside an instruction continued over
    several lines by a trailing backslash."""
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not (line.strip() or pending):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole, pending = (pending + line).strip(), ""
        if whole:
            keyword, _, arguments = whole.partition(" ")
            yield keyword.upper(), arguments.strip()


def exec_form(arguments: str) -> list[str]:
    assert arguments.startswith("["), f"{arguments}: not the exec (JSON) form, so a shell would run it"
    return json.loads(arguments)


def ignore_rules(text: str) -> list[tuple[bool, re.Pattern]]:
    """.dockerignore's patterns, in order: (is an exception `!...`, pattern)."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keep = line.startswith("!")
            rules.append((keep, re.compile(_glob(line.lstrip("!").strip().strip("/")))))
    return rules


def _glob(pattern: str) -> str:
    """A .dockerignore pattern (Go's filepath.Match, and `**` for any run of directories)."""
    parts = re.split(r"(\*\*/?|\*|\?)", os.path.normpath(pattern))
    return "".join({"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
                   for part in parts)


def ignored(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Whether Docker leaves `path` (relative to the context) out of the build context: the last
    pattern that matches it or a directory above it decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for keep, rule in rules:
        if any(rule.fullmatch(candidate) for candidate in candidates):
            verdict = not keep
    return verdict


def copy_as_docker(stage: Stage, context: Path, root: Path, rules) -> Path:
    """Put under `root` what the stage's COPY lines put in its file system; its WORKDIR there."""
    workdir = PurePosixPath("/")
    for keyword, arguments in stage.steps:
        if keyword == "WORKDIR":
            workdir = workdir / arguments
        elif keyword == "COPY":
            *sources, target = shlex.split(arguments)
            assert not any(s.startswith("--") or "*" in s for s in sources), f"COPY {arguments}: not read here"
            destination = root / (workdir / target).relative_to("/")
            for source in sources:
                _copy(context, source.strip("/"), destination, target.endswith("/"), rules)
    return root / workdir.relative_to("/")


def _copy(context: Path, source: str, destination: Path, into: bool, rules) -> None:
    origin = context / source
    assert origin.exists() and not ignored(source, rules), f"COPY {source}: not in the build context"
    if origin.is_file():
        target = destination / origin.name if into else destination
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, target)
        return
    for path in sorted(origin.rglob("*")):  # a directory: its contents, not the directory
        relative = path.relative_to(context).as_posix()
        if path.is_file() and not ignored(relative, rules):
            target = destination / path.relative_to(origin)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


DOCKER = stages(DOCKERFILE.read_text())
FINAL = DOCKER[-1]
RULES = ignore_rules((REPO / ".dockerignore").read_text())


def _builder() -> Stage:
    """The stage whose wheels the image installs: the one its `RUN --mount=...,from=NAME` names."""
    [install] = [run for run in FINAL.arguments("RUN") if "pip install" in run]
    named = re.search(r"--mount=type=bind,from=([\w.-]+),source=(\S+),target=(\S+)", install)
    assert named, "the image installs the build stage's wheels, mounted for that step only"
    assert f"--no-index --find-links {named.group(3)}" in install, "the wheels alone, nothing from an index"
    # What the image holds is then the wheels' alone: it copies nothing of the context itself.
    assert not FINAL.arguments("COPY") and not FINAL.arguments("ADD")
    [stage] = [s for s in DOCKER if s.name == named.group(1)]
    assert f"pip wheel --wheel-dir {named.group(2)} ." in stage.arguments("RUN"), \
        "the build stage makes the wheels it mounts from its WORKDIR, where it copied the sources"
    return stage


# --- the wheel, built from what the Dockerfile copies, installed apart, run ---------------------

@dataclass
class Installed:
    wheel: Path
    site: Path
    home: Path
    report: dict


# Run by Python with the installed wheel and the virtualenv's dependencies on its path, and
# neither the repository nor the virtualenv's .pth files (-S: the editable install's finder
# would bring the repository's modules back): what the service reads, from the installed files.
SMOKE = r'''
import importlib, json, pkgutil, sys, traceback
from pathlib import Path

given = json.loads(sys.argv[1])
report = {"modules": {}, "checks": {}}

def attempt(action):
    try:
        return {"ok": action()}
    except BaseException as exc:
        return {"error": "".join(traceback.format_exception_only(exc)).strip()}

def where(name):
    return str(Path(importlib.import_module(name).__file__).resolve())

for package in given["packages"]:
    report["modules"][package] = attempt(lambda: where(package))
    if package in sys.modules:
        for info in pkgutil.iter_modules(sys.modules[package].__path__, package + "."):
            if not info.ispkg and info.name not in given["not_imported"]:
                report["modules"][info.name] = attempt(lambda: where(info.name))

def schema_versions():
    from events.registry import all_kinds
    return {kind.schema_name: kind.version for kind in all_kinds()}

def catalogs():
    from web import i18n
    return {language: [i18n.translations(language).gettext(m) for m in given["msgids"]]
            for language in i18n.LANGUAGES}

def templates():
    from web.dashboard import routes
    names = routes.templates.env.list_templates()
    for name in names:
        routes.templates.env.get_template(name)  # compiled: its extends and includes resolve
    return {"templates": sorted(names), "static": sorted(p.name for p in routes.STATIC.iterdir())}

def policies():
    from processors.profiles import load_all
    found = load_all()
    return {"profiles": sorted(found.profiles), "departments": len(found.departments)}

def topics():
    from events.topics import Topics
    from infra.topics import definitions
    return [topic.topic for topic in definitions(Topics("govshare"), 3, 3)]

def migrated():
    from infra.config import Settings
    from infra.migrate import migrate
    return [str(step) for step in migrate(Settings())]

def api_paths():
    from infra.config import Settings
    from web.app import create_app
    return sorted(create_app(Settings()).openapi()["paths"])

def console_script():
    from importlib.metadata import entry_points, version
    [script] = [e for e in entry_points(group="console_scripts") if e.name == "govshare"]
    assert callable(script.load())
    return {"target": script.value, "version": version("govshare"),
            "from": str(Path(sys.modules[script.module].__file__).resolve())}

for check in (schema_versions, catalogs, templates, policies, topics, migrated, api_paths, console_script):
    report["checks"][check.__name__] = attempt(check)
print(json.dumps(report))
'''


def _msgids() -> list[str]:
    """The catalogs' plain messages (no context, no plural), as the repository has them."""
    from babel.messages.pofile import read_po
    with open(REPO / "web/locale/zh_CN/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    return [m.id for m in catalog if m.id and isinstance(m.id, str) and not m.context]


def _pip(*arguments: str, cwd: Path) -> None:
    # The build stage's own step (`pip wheel`), with build isolation as there: setuptools comes
    # from the configured package index, or pip's cache.
    done = subprocess.run([sys.executable, "-m", "pip", *arguments], cwd=cwd, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, f"pip {' '.join(arguments)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    base = tmp_path_factory.mktemp("image")
    source = copy_as_docker(_builder(), REPO, base / "build-stage", RULES)
    _pip("wheel", "--no-deps", "--wheel-dir", str(base / "wheels"), ".", cwd=source)
    [wheel] = (base / "wheels").glob("govshare-*.whl")
    site, home = base / "site", base / "home"
    _pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel), cwd=base)
    dependencies = sysconfig.get_paths()["purelib"]
    env = {"PATH": os.environ["PATH"], "HOME": str(base), "LANG": "C.UTF-8",
           "PYTHONPATH": os.pathsep.join([str(site), dependencies]), "GOVSHARE_HOME": str(home)}
    given = {"packages": PACKAGES, "not_imported": NOT_IMPORTED, "msgids": _msgids()}
    done = subprocess.run([sys.executable, "-S", "-P", "-c", SMOKE, json.dumps(given)], cwd=base, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return Installed(wheel, site.resolve(), home, json.loads(done.stdout))


def _check(installed: Installed, name: str):
    result = installed.report["checks"][name]
    assert "error" not in result, f"{name} failed in the installed wheel: {result.get('error')}"
    return result["ok"]


def test_the_wheel_built_from_what_the_dockerfile_copies_holds_every_package_and_run_time_file(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for package in PACKAGES:
        assert f"{package.replace('.', '/')}/__init__.py" in names, f"package {package} is not in the image"
    wanted = {p.relative_to(REPO).as_posix() for pattern in RUN_TIME_FILES for p in REPO.glob(pattern)}
    assert wanted, "the patterns find the run-time files"
    missing = sorted(wanted - names)
    assert not missing, (f"the service reads these {len(missing)} files at run time and the image lacks "
                         f"them (package-data in pyproject.toml): {', '.join(missing[:5])}, ...")


def test_every_module_imports_from_the_installed_wheel_alone(installed):
    modules = installed.report["modules"]
    failed = {name: found["error"] for name, found in modules.items() if "error" in found}
    assert not failed, f"modules that do not import in the image: {failed}"
    elsewhere = {name: found["ok"] for name, found in modules.items()
                 if not Path(found["ok"]).is_relative_to(installed.site)}
    assert not elsewhere, f"imported from outside the installed wheel: {elsewhere}"
    assert len(modules) > len(PACKAGES), "the packages' modules were imported, not only the packages"


def test_the_installed_service_reads_its_schemas_policies_and_topics(installed):
    from events.registry import all_kinds
    # Each schema's version comes from schemas/history/: without it no event could be written.
    assert _check(installed, "schema_versions") == {k.schema_name: k.version for k in all_kinds()}
    assert _check(installed, "policies")["departments"] > 0
    assert _check(installed, "topics") == list(SYSTEM.all_topics(Topics("govshare")))


def test_the_installed_service_migrates_a_fresh_database_and_makes_its_keys(installed):
    steps = _check(installed, "migrated")
    assert steps and all("created at" in step for step in steps), steps
    assert (installed.home / "trail-key.pem").is_file()
    assert sorted(p.stem for p in (installed.home / "stage-keys").glob("*.pem")) == sorted(SYSTEM.signing_stages())


def test_the_installed_dashboard_has_its_templates_static_files_and_catalogs(installed):
    from web import i18n
    found = _check(installed, "templates")
    dashboard = REPO / "web" / "dashboard"
    assert found["templates"] == sorted(p.name for p in (dashboard / "templates").glob("*.html"))
    assert found["static"] == sorted(p.name for p in (dashboard / "static").iterdir())
    msgids = _msgids()
    assert _check(installed, "catalogs") == {
        language: [i18n.translations(language).gettext(m) for m in msgids] for language in i18n.LANGUAGES}
    assert "/v1/events" in _check(installed, "api_paths")


def test_the_image_runs_the_govshare_command_as_a_user_that_is_not_root(installed):
    [user] = FINAL.arguments("USER")
    name = user.split(":")[0]
    assert name not in ("root", "0"), "the image runs as root"
    added = [run for run in FINAL.arguments("RUN") if "useradd" in run]
    assert added and re.search(rf"--uid {name}\b" if name.isdigit() else rf"\b{name}\b", added[0]), \
        f"USER {user} is a user the image creates"
    assert exec_form(FINAL.arguments("ENTRYPOINT")[-1]) == ["govshare"]
    script = _check(installed, "console_script")
    assert script["target"] == PROJECT["project"]["scripts"]["govshare"]
    assert script["version"] == PROJECT["project"]["version"]
    assert Path(script["from"]).is_relative_to(installed.site)
    _parses(exec_form(FINAL.arguments("CMD")[-1]))


def test_the_build_context_leaves_out_keys_secrets_and_local_state():
    for path in ("infra/secrets/ca.pem", "infra/secrets/departments/gd-hrss.password", "var/trail-key.pem",
                 "var/stage-keys/notary.pem", ".venv/bin/python", ".git/config", "events/__pycache__/codec.pyc"):
        assert ignored(path, RULES), f"{path} would be sent to the builder"
    for path in ("pyproject.toml", "events/codec.py", "schemas/history/govshare.Envelope.v1.json",
                 "web/dashboard/static/dashboard.css"):
        assert not ignored(path, RULES), f"{path} is needed and left out"


# --- the compose file --------------------------------------------------------------------------

COMPOSED = yaml.safe_load(COMPOSE.read_text())
SERVICES = COMPOSED["services"]


def _ours(service: dict) -> bool:
    return "build" in service or str(service.get("image", "")).startswith("govshare")


def _parses(command: list[str]) -> None:
    from infra.cli import _parser
    try:
        _parser().parse_args(command)
    except SystemExit as exc:
        pytest.fail(f"`govshare {' '.join(command)}` is not a govshare command (exit {exc.code})")


def test_the_compose_file_runs_kraft_kafka_postgres_and_each_stage_as_a_service():
    nodes = {name: s["environment"] for name, s in SERVICES.items() if s.get("image", "").startswith("apache/kafka")
             and "KAFKA_NODE_ID" in s.get("environment", {})}
    assert len(nodes) >= 3
    for environment in nodes.values():  # KRaft: each node is its own controller; no ZooKeeper
        assert "controller" in environment["KAFKA_PROCESS_ROLES"].split(",")
        assert not any("ZOOKEEPER" in key for key in environment)
        assert len(environment["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == len(nodes)
    assert any(s.get("image", "").startswith("postgres:") for s in SERVICES.values())
    runs = {s["command"][1]: name for name, s in SERVICES.items() if _ours(s) and s["command"][0] == "run"}
    assert set(runs) == {*SYSTEM.names, "api"}, "one service per stage and one for the HTTP API"
    for stage in SYSTEM.names:
        service = SERVICES[runs[stage]]
        # A stage read by one instance only cannot be scaled: a fixed container name refuses it.
        assert ("container_name" in service) == (not SYSTEM.stage(stage).grouped), stage
        # Never started before its topics exist, nor before its tables and keys do.
        waits = {SERVICES[name]["command"][0] for name, when in service["depends_on"].items()
                 if when["condition"] == "service_completed_successfully"}
        assert waits == {"topics", "migrate"}, stage


def test_every_govshare_service_is_a_govshare_command_on_the_image_the_dockerfile_builds():
    ours = {name: s for name, s in SERVICES.items() if _ours(s)}
    assert ours
    for name, service in ours.items():
        built = COMPOSE.parent / service["build"]["context"]
        assert built.resolve() == REPO, f"{name}: the Dockerfile's COPY lines are relative to the repository"
        assert (built / service["build"]["dockerfile"]).resolve() == DOCKERFILE, name
        assert "entrypoint" not in service, f"{name}: the image's entrypoint is the govshare command"
        _parses(service["command"])
    for name, service in SERVICES.items():
        if not _ours(service):  # the others pin a release, never whatever is newest
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"
