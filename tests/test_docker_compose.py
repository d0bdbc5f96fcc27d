"""Static checks of the Docker setup: docker-compose.yml, Dockerfile, .env.example.

No Docker engine is needed. The checks catch what `docker compose up` would
only reveal later (or never): a service depending on a service that does not
exist, a bind mount of a folder that is not in the repo, a secret written into
the compose file, a variable missing from .env.example, an image whose Airflow
differs from the pinned one, a DAG pool that nobody creates.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.specifiers import SpecifierSet

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
PYPROJECT = REPO_ROOT / "pyproject.toml"
LOCK_FILE = REPO_ROOT / "requirements.lock"

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
REQUIRED_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "warehouse-postgres"}
WAREHOUSE_POOL = "nurture_warehouse"

# Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
# ${VAR?error}, ${VAR:+alt}. `$${...}` is an escaped literal for the container.
INTERPOLATION = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|^AIRFLOW_CONN_", re.IGNORECASE)


# --- helpers -----------------------------------------------------------------


def _env(service: dict) -> dict[str, str]:
    """A service's environment as a dict (compose allows a mapping or a list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _depends_on(service: dict) -> list[str]:
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, (list, dict)) else [deps]


def _volumes(service: dict) -> list[tuple[str | None, str]]:
    """(source, target) of each volume; source is None for anonymous volumes."""
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append((entry.get("source"), entry["target"]))
        else:
            parts = entry.split(":")
            mounts.append((parts[0], parts[1]) if len(parts) > 1 else (None, parts[0]))
    return mounts


def _is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~", "$"))


def _blank_interpolations(text: str) -> str:
    return INTERPOLATION.sub("x", text)


def _url_password(url: str) -> str | None:
    """The password part of a URL, with any ${...} in it kept as written."""
    originals: dict[str, str] = {}

    def mark(match: re.Match) -> str:
        marker = f"interpolation{len(originals)}"
        originals[marker] = match[0]
        return marker

    password = urlsplit(INTERPOLATION.sub(mark, url)).password
    return originals.get(password, password) if password else password


def _is_env_interpolation(value: str) -> bool:
    """True if value is one ${VAR} without a non-empty default."""
    match = INTERPOLATION.fullmatch(value.strip())
    return bool(match) and not (match["op"] in {"-", ":-"} and match["arg"])


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined."""
    instructions, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and not current:
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current:
            keyword, _, args = current.partition(" ")
            instructions.append((keyword.upper(), args.strip()))
        current = ""
    return instructions


def _airflow_pin(text: str, source: str) -> str:
    match = re.search(r"^\s*\"?apache-airflow==([\w.]+)", text, re.MULTILINE)
    assert match, f"no apache-airflow==X pin in {source}"
    return match[1]


# --- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.is_file(), "docker-compose.yml is missing"
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def common(compose: dict) -> dict:
    return compose["x-airflow-common"]


@pytest.fixture(scope="module")
def common_env(common: dict) -> dict[str, str]:
    return _env(common)


# --- services and wiring -----------------------------------------------------


def test_required_services_are_defined(services):
    missing = REQUIRED_SERVICES - services.keys()
    assert not missing, f"services missing from docker-compose.yml: {sorted(missing)}"


def test_every_airflow_service_uses_the_common_image_and_environment(services, common, common_env):
    airflow_services = {name for name in services if name.startswith("airflow-")}
    assert airflow_services >= AIRFLOW_SERVICES
    for name in sorted(airflow_services):
        service = services[name]
        assert service.get("build") == common["build"], f"{name} builds a different image"
        assert service.get("image") == common["image"], f"{name} uses a different image tag"
        env = _env(service)
        differing = {k for k, v in common_env.items() if env.get(k) != v}
        assert not differing, f"{name} drops or overrides common settings: {sorted(differing)}"
        assert _volumes(service) == _volumes(common), f"{name} mounts different volumes"


def test_image_is_built_from_the_repo_dockerfile(common):
    build = common["build"]
    context = REPO_ROOT / build.get("context", ".")
    assert context.resolve() == REPO_ROOT, "build context must be the repo root"
    assert (context / build.get("dockerfile", "Dockerfile")).is_file()


def test_executor_is_celery_with_redis_broker_and_postgres_metadata_db(common_env, services):
    assert common_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = urlsplit(_blank_interpolations(common_env["AIRFLOW__CELERY__BROKER_URL"]))
    assert broker.scheme == "redis" and broker.hostname == "redis"
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        url = urlsplit(_blank_interpolations(common_env[key]))
        assert "postgresql" in url.scheme and url.hostname == "postgres", key
    assert services["airflow-worker"]["command"] == "celery worker"


def test_every_depends_on_points_at_a_defined_service(services):
    for name, service in services.items():
        unknown = set(_depends_on(service)) - services.keys()
        assert not unknown, f"{name} depends on undefined services {sorted(unknown)}"


def test_every_named_volume_is_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source, _ in _volumes(service):
            if source and not _is_bind(source):
                assert source in declared, f"{name} uses undeclared volume {source!r}"


def test_bind_mount_sources_are_folders_in_the_repo(services):
    for name, service in services.items():
        for source, _ in _volumes(service):
            if source and _is_bind(source):
                assert source.startswith("./"), f"{name}: {source!r} is not relative to the repo"
                host_path = (REPO_ROOT / source).resolve()
                assert host_path.is_relative_to(REPO_ROOT), f"{name}: {source!r} leaves the repo"
                assert host_path.exists(), f"{name}: bind mount source {source!r} does not exist"


def test_dags_folder_is_mounted_from_the_repo(common, common_env):
    dags_folder = common_env.get("AIRFLOW__CORE__DAGS_FOLDER", "/opt/airflow/dags")
    assert ("./dags", dags_folder) in _volumes(common)


def test_nurture_data_lives_on_a_volume(common, common_env):
    home = common_env["NURTURE_HOME"]
    assert home == "/opt/nurture/data"
    assert home in {target for _, target in _volumes(common)}, "NURTURE_HOME is not a mount"
    for key in ("NURTURE_LOG_DIR", "NURTURE_RAW_DIR", "NURTURE_WAREHOUSE", "NURTURE_EXPORTS_DIR"):
        assert common_env[key].startswith(home + "/"), f"{key} is outside NURTURE_HOME"


def test_airflow_settings_for_nurture(common_env):
    assert common_env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
    assert _is_env_interpolation(common_env["AIRFLOW_CONN_NURTURE_SHOP"])
    assert not common_env.get("_PIP_ADDITIONAL_REQUIREMENTS"), "install packages in the image"


def test_api_server_is_published_on_8080_and_reachable_by_workers(services, common_env):
    assert "8080:8080" in services["airflow-apiserver"]["ports"]
    url = urlsplit(common_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (url.hostname, url.port) == ("airflow-apiserver", 8080)
    assert url.path.rstrip("/") == "/execution"


def test_warehouse_postgres_is_postgres_16_with_env_credentials(services):
    warehouse = services["warehouse-postgres"]
    assert warehouse["image"].startswith("postgres:16")
    assert _is_env_interpolation(_env(warehouse)["POSTGRES_PASSWORD"])


def test_airflow_init_creates_the_warehouse_pool(services):
    command = services["airflow-init"]["command"]
    script = command if isinstance(command, str) else " ".join(command)
    assert re.search(rf"airflow pools set {WAREHOUSE_POOL} 1\b", script)


def test_pools_used_in_code_are_created_by_airflow_init(services):
    command = services["airflow-init"]["command"]
    script = command if isinstance(command, str) else " ".join(command)
    created = set(re.findall(r"airflow pools set (\S+)", script)) | {"default_pool"}
    pool_literal = re.compile(r"(?:\b|_)pool\s*=\s*[\"']([\w.-]+)[\"']", re.IGNORECASE)
    for folder in ("dags", "nurture"):
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            for pool in pool_literal.findall(path.read_text()):
                assert pool in created, f"{path.relative_to(REPO_ROOT)} uses pool {pool!r}"


# --- secrets and .env.example ------------------------------------------------


def test_no_literal_secret_in_compose_file(compose, services):
    envs = {"x-airflow-common": _env(compose["x-airflow-common"])}
    envs |= {name: _env(service) for name, service in services.items()}
    for owner, env in envs.items():
        for key, value in env.items():
            if SECRET_NAME.search(key) and value:
                assert _is_env_interpolation(value), f"{owner}: {key} must be a ${{VAR}} from .env"
            password = _url_password(value) if "://" in value else None
            if password:
                assert _is_env_interpolation(password), f"{owner}: {key} has a literal password"
    # Anywhere else (commands, healthchecks): `password: <literal>` once the
    # ${...} interpolations are removed.
    literal = re.compile(r"password\w*\s*[:=]\s*[\"']?[^\s\"']+", re.IGNORECASE)
    for number, line in enumerate(COMPOSE_FILE.read_text().splitlines(), 1):
        if not line.lstrip().startswith("#"):
            found = literal.search(INTERPOLATION.sub("", line))
            assert not found, f"docker-compose.yml:{number}: literal {found[0]!r}"


def test_variables_without_default_are_in_env_example():
    used = {m["name"]: m["op"] for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text())}
    required = {name for name, op in used.items() if op in {None, "?", ":?"}}
    documented = _read_env_file(ENV_EXAMPLE).keys()
    assert not required - documented, f"add to .env.example: {sorted(required - documented)}"
    assert not documented - used.keys(), f"unused in compose: {sorted(documented - used.keys())}"


def test_env_example_holds_placeholders_only():
    values = _read_env_file(ENV_EXAMPLE)
    for key, value in values.items():
        if SECRET_NAME.search(key) and not key.startswith("AIRFLOW_CONN_"):
            assert value in {"", "change-me"}, f".env.example: {key} must be a placeholder"
    shop = json.loads(values["AIRFLOW_CONN_NURTURE_SHOP"])
    assert shop["conn_type"] and "password" not in shop


# --- Dockerfile --------------------------------------------------------------


def test_dockerfile_copy_sources_exist_and_reach_the_build_context():
    ignored = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]
    copies = [args for keyword, args in _dockerfile_instructions() if keyword == "COPY"]
    assert copies, "the Dockerfile copies nothing"
    for args in copies:
        words = json.loads(args) if args.startswith("[") else shlex.split(args)
        if any(word.startswith("--from") for word in words):
            continue
        sources = [word for word in words if not word.startswith("--")][:-1]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY source {source!r} does not exist"
            name = source.rstrip("/").removeprefix("./")
            hits = [p for p in ignored if fnmatch.fnmatch(name, p)]
            assert not hits, f"COPY source {source!r} is excluded by .dockerignore {hits}"


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = {line.strip() for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".env", ".git", ".venv", "data"} <= ignored


def test_base_image_airflow_version_equals_the_pins():
    base = next(args for keyword, args in _dockerfile_instructions() if keyword == "FROM")
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[\w.]+)-python(?P<python>[\d.]+)", base)
    assert match, f"unexpected base image {base!r}"
    pyproject = tomllib.loads(PYPROJECT.read_text())
    project_pin = _airflow_pin("\n".join(pyproject["project"]["dependencies"]), "pyproject.toml")
    lock_pin = _airflow_pin(LOCK_FILE.read_text(), "requirements.lock")
    assert match["airflow"] == project_pin == lock_pin
    assert f"{match['python']}.0" in SpecifierSet(pyproject["project"]["requires-python"])


def test_dockerfile_installs_only_the_lock_file():
    runs = " && ".join(args for keyword, args in _dockerfile_instructions() if keyword == "RUN")
    installs = re.findall(r"pip install ([^&|;]+)", runs)
    assert installs, "the Dockerfile installs nothing"
    for install in installs:
        words = shlex.split(install)
        packages = [w for i, w in enumerate(words) if not w.startswith("-") and words[i - 1] != "-r"]
        assert "requirements.lock" in words and not packages, f"unpinned install: {install}"


def test_dockerfile_disables_telemetry():
    env = {}
    for keyword, args in _dockerfile_instructions():
        if keyword == "ENV":
            env |= dict(word.split("=", 1) for word in shlex.split(args))
    assert env.get("DO_NOT_TRACK") == "1"
    assert env.get("DBT_SEND_ANONYMOUS_USAGE_STATS") == "false"
    assert env.get("GX_ANALYTICS_ENABLED") == "False"


def test_dockerfile_provides_the_console_scripts_of_pyproject():
    scripts = tomllib.loads(PYPROJECT.read_text())["project"].get("scripts", {})
    text = DOCKERFILE.read_text()
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        assert f"from {module} import {function}" in text and f"/{name}" in text, name
