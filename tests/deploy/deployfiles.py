"""Readers of the deployment files: the Dockerfile, cloudbuild.yaml and terraform/, as plain data.

Each Cloud Run service is read from terraform and from cloudbuild.yaml into the same ``Deployment`` shape,
with substitutions and terraform references written as the same placeholders (``{project_id}``,
``{region}``...), so the tests can compare the two files with each other and with run/services.py.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


from infra.config import ROOT
from tests.support.tools import missing

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
CLOUDBUILD = ROOT / "cloudbuild.yaml"
TERRAFORM = ROOT / "terraform"

# Cloud Run's ingress values in terraform and in gcloud's words.
INGRESS_WORDS = {
    "INGRESS_TRAFFIC_ALL": "all",
    "INGRESS_TRAFFIC_INTERNAL_ONLY": "internal",
    "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER": "internal-and-cloud-load-balancing",
}

# cloudbuild.yaml substitutions and the placeholder each stands for.
SUBSTITUTIONS = {
    "_NAME_PREFIX": "{name_prefix}",
    "_FIRESTORE_DATABASE": "{firestore_database}",
    "PROJECT_ID": "{project_id}",
    "PROJECT_NUMBER": "{project_number}",
    "_REGION": "{region}",
    "_ELASTICSEARCH_URL": "{elasticsearch_url}",
    "_LOG_LEVEL": "{log_level}",
}

# terraform startup_probe fields and gcloud's --startup-probe keys.
PROBE_KEYS = {
    "initial_delay_seconds": "initialDelaySeconds",
    "period_seconds": "periodSeconds",
    "timeout_seconds": "timeoutSeconds",
    "failure_threshold": "failureThreshold",
}


def require(module: str):
    """Import a tool module the deploy checks need; skip when it is not installed, except in CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed (pyproject.toml dev extra)")


# --- Dockerfile -------------------------------------------------------------------------------------------

@dataclass
class Dockerfile:
    """The instructions of a single-stage Dockerfile, in order, and what they set."""

    instructions: list[tuple[str, str]]
    skip_comments: list[str]

    @classmethod
    def read(cls, path: Path = DOCKERFILE) -> "Dockerfile":
        """Parse ``path``: continuation lines joined, comments kept apart (checkov skips live there)."""
        instructions, skips, pending = [], [], ""
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                if stripped.startswith("#checkov:skip="):
                    skips.append(stripped)
                continue
            if not stripped and not pending:
                continue
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            full = (pending + stripped).strip()
            pending = ""
            keyword, _, rest = full.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
        return cls(instructions, skips)

    def all(self, keyword: str) -> list[str]:
        """Arguments of every ``keyword`` instruction."""
        return [args for name, args in self.instructions if name == keyword]

    def index(self, keyword: str, startswith: str = "") -> int:
        """Position of the first ``keyword`` instruction whose arguments start with ``startswith``."""
        for position, (name, args) in enumerate(self.instructions):
            if name == keyword and args.startswith(startswith):
                return position
        raise LookupError(f"no {keyword} {startswith}")

    @property
    def env(self) -> dict[str, str]:
        """Every ENV variable (``KEY=VALUE`` form), later ones winning."""
        values = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values

    def exec_form(self, keyword: str) -> list[str]:
        """The JSON (exec) form of ENTRYPOINT or CMD; empty when absent."""
        found = self.all(keyword)
        return json.loads(found[-1]) if found else []

    @property
    def command(self) -> list[str]:
        """What the container runs: ENTRYPOINT followed by CMD."""
        return self.exec_form("ENTRYPOINT") + self.exec_form("CMD")


# --- terraform --------------------------------------------------------------------------------------------

def tf_files() -> list[Path]:
    """Every .tf file of terraform/."""
    return sorted(TERRAFORM.glob("*.tf"))


def load_hcl(path: Path) -> dict:
    """Parse one HCL file: string quotes stripped, blocks as lists, comments left out."""
    hcl2 = require("hcl2")
    options = hcl2.SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=False)
    with path.open() as handle:
        return hcl2.load(handle, serialization_options=options)


@dataclass
class Terraform:
    """The blocks of every .tf file of a module, merged."""

    locals: dict = field(default_factory=dict)
    resources: dict = field(default_factory=dict)  # type -> name -> body
    variables: dict = field(default_factory=dict)
    blocks: dict = field(default_factory=dict)  # other top-level blocks (terraform, provider, output, data)

    @classmethod
    def read(cls, directory: Path = TERRAFORM) -> "Terraform":
        """Parse and merge every .tf file of ``directory``."""
        module = cls()
        for path in sorted(directory.glob("*.tf")):
            for kind, entries in load_hcl(path).items():
                for entry in entries:
                    if kind == "locals":
                        module.locals.update(entry)
                    elif kind == "resource":
                        for rtype, named in entry.items():
                            module.resources.setdefault(rtype, {}).update(named)
                    elif kind == "variable":
                        module.variables.update(entry)
                    else:
                        module.blocks.setdefault(kind, []).append(entry)
        return module

    def resource(self, address: str) -> dict:
        """The body of resource ``type.name``."""
        rtype, name = address.split(".")
        return self.resources[rtype][name]

    def resolve(self, value, each: tuple[str, dict] | None = None):
        """Write a terraform value with the placeholders of ``SUBSTITUTIONS``; ``each`` is (key, value)."""
        if not isinstance(value, str):
            return value
        whole = re.fullmatch(r"\$\{([^{}]*)\}", value)
        if whole:
            return self._reference(whole.group(1), each)
        return re.sub(r"\$\{([^{}]*)\}", lambda m: str(self._reference(m.group(1), each)), value)

    def _reference(self, expression: str, each):
        if expression == "local.name_prefix":
            return "{name_prefix}"  # the environment's prefix: cloudbuild.yaml's _NAME_PREFIX
        if expression in ("local.main_database", "google_firestore_database.default.name"):
            # (default), or ENVIRONMENT-iot: cloudbuild.yaml's _FIRESTORE_DATABASE, which its check step holds to the
            # same rule (tests/deploy/test_environments.py)
            return "{firestore_database}"
        if expression.startswith("var."):
            return "{" + expression[4:] + "}"
        if expression == "data.google_project.this.number":
            return "{project_number}"
        if expression == "each.key":
            return each[0]
        if expression.startswith("each.value."):
            return self.resolve(each[1][expression.removeprefix("each.value.")], each)
        if expression.startswith("local."):
            return self.resolve(self.locals[expression.removeprefix("local.")], each)
        account = re.fullmatch(r"google_service_account\.(\w+)(\[each\.key\])?\.email", expression)
        if account:
            account_id = self.resolve(self.resource(f"google_service_account.{account.group(1)}")["account_id"], each)
            return f"{account_id}@{{project_id}}.iam.gserviceaccount.com"
        raise ValueError(f"the deploy tests cannot read the terraform expression {expression!r}")


# --- one Cloud Run service, as either file deploys it ------------------------------------------------------

@dataclass(frozen=True)
class Deployment:
    """The settings of one Cloud Run service, in gcloud's vocabulary."""

    name: str
    port: int
    concurrency: int
    timeout: int
    cpu: str
    memory: str
    min_instances: int
    max_instances: int
    service_account: str
    env: dict
    secrets: dict  # env variable -> "secret id:version", the version as the cloudbuild.yaml substitution naming it
    ingress: str
    public: bool  # Cloud Run's invoker IAM check is off (no allUsers grant)
    startup_probe: dict
    cpu_throttling: bool
    cpu_boost: bool


def deployment_from_terraform(tf: Terraform, name: str) -> Deployment:
    """How terraform's ``google_cloud_run_v2_service.service[name]`` is configured."""
    entry = tf.locals["services"][name]
    each = (name, entry)
    body = tf.resource("google_cloud_run_v2_service.service")
    template = body["template"][0]
    container = template["containers"][0]
    plain_env, secret_env = (block["env"] for block in container["dynamic"])
    if plain_env["for_each"] != "${merge(local.common_env, {IOT_SERVICE = each.key}, each.value.env)}":
        raise AssertionError(f"unexpected env of the Cloud Run services: {plain_env['for_each']}")
    if secret_env["for_each"] != "${each.value.secrets}":
        raise AssertionError(f"unexpected secrets of the Cloud Run services: {secret_env['for_each']}")
    env = {**tf.locals["common_env"], "IOT_SERVICE": name, **entry["env"]}
    secret_ref = secret_env["content"][0]["value_source"][0]["secret_key_ref"][0]
    if secret_ref["version"] != "${local.secret_versions[env.value]}":
        raise AssertionError(f"secrets must be mounted at their pinned version, not {secret_ref['version']}")
    if secret_ref["secret"] != "${google_secret_manager_secret.secret[env.value].secret_id}":
        raise AssertionError(f"unexpected secret of the Cloud Run services: {secret_ref['secret']}")
    secret_id = tf.resource("google_secret_manager_secret.secret")["secret_id"]
    probe_block = container["startup_probe"][0]
    expected_block = {
        "initial_delay_seconds": 0,
        "period_seconds": "${each.value.probe.period_seconds}",
        "timeout_seconds": "${each.value.probe.timeout_seconds}",
        "failure_threshold": "${each.value.probe.failure_threshold}",
        "dynamic": [
            {"http_get": {"for_each": "${each.value.probe.path == null ? [] : [each.value.probe.path]}",
                          "content": [{"path": "${http_get.value}", "port": "${local.container_port}"}]}},
            {"tcp_socket": {"for_each": "${each.value.probe.path == null ? [local.container_port] : []}",
                            "content": [{"port": "${tcp_socket.value}"}]}},
        ],
    }
    if probe_block != expected_block:
        raise AssertionError(f"unexpected startup probe of the Cloud Run services: {probe_block}")
    probe = tf.resolve(entry["probe"], each)
    port = int(tf.resolve("${local.container_port}", each))
    if probe["path"] is None:
        target = {"tcpSocket.port": port}
    else:
        target = {"httpGet.path": probe["path"], "httpGet.port": port}
    resources = container["resources"][0]
    scaling = template["scaling"][0]
    return Deployment(
        name=tf.resolve(body["name"], each),
        port=int(tf.resolve(container["ports"][0]["container_port"], each)),
        concurrency=int(tf.resolve(template["max_instance_request_concurrency"], each)),
        timeout=int(str(tf.resolve(template["timeout"], each)).removesuffix("s")),
        cpu=str(tf.resolve(resources["limits"]["cpu"], each)),
        memory=tf.resolve(resources["limits"]["memory"], each),
        min_instances=int(tf.resolve(scaling["min_instance_count"], each)),
        max_instances=int(tf.resolve(scaling["max_instance_count"], each)),
        service_account=tf.resolve(template["service_account"], each),
        env={key: str(tf.resolve(value, each)) for key, value in env.items()},
        secrets={variable: f"{tf.resolve(secret_id, (secret, tf.locals['secrets'][secret]))}:"
                           f"${{{tf.locals['secrets'][secret]['substitution']}}}"
                 for variable, secret in entry["secrets"].items()},
        ingress=INGRESS_WORDS[tf.resolve(body["ingress"], each)],
        public=tf.resolve(body["invoker_iam_disabled"], each),
        startup_probe={"initialDelaySeconds": int(probe_block["initial_delay_seconds"]),
                       **{PROBE_KEYS[key]: int(probe[key]) for key in PROBE_KEYS if key in probe}, **target},
        cpu_throttling=bool(resources["cpu_idle"]),
        cpu_boost=bool(resources["startup_cpu_boost"]),
    )


def read_cloudbuild(path: Path = CLOUDBUILD) -> dict:
    """cloudbuild.yaml as data."""
    yaml = require("yaml")
    return yaml.safe_load(path.read_text())


def service_name(argument: str) -> str:
    """The service a gcloud step names, without the environment's prefix (every step must carry it)."""
    named = substitute(argument)
    if not named.startswith("{name_prefix}"):
        raise AssertionError(f"{argument} must start with ${{_NAME_PREFIX}}, the environment's prefix")
    return named.removeprefix("{name_prefix}")


def deploy_steps(build: dict) -> dict[str, dict]:
    """The ``gcloud run deploy`` steps by service name."""
    steps = {}
    for step in build["steps"]:
        if step.get("entrypoint") == "gcloud" and step["args"][:2] == ["run", "deploy"]:
            steps[service_name(step["args"][2])] = step
    return steps


def substitute(value: str) -> str:
    """Write Cloud Build substitutions as placeholders."""
    def placeholder(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return SUBSTITUTIONS.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", placeholder, value)


def _pairs(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split(",")) if text else {}


def deployment_from_cloudbuild(step: dict) -> Deployment:
    """How one deploy step of cloudbuild.yaml configures its service."""
    flags: dict[str, str | bool] = {}
    for arg in step["args"][3:]:
        key, has_value, value = arg.partition("=")
        flags[key] = value if has_value else True
    secrets = _pairs(substitute(str(flags.get("--set-secrets", ""))))
    for key, reference in secrets.items():
        if not re.fullmatch(r"\{name_prefix\}[\w-]+:\$\{_\w+\}", reference):
            raise AssertionError(f"{key} must mount a version pinned by a substitution, not {reference}")
    probe = _pairs(str(flags["--startup-probe"]))
    if {"--allow-unauthenticated", "--no-allow-unauthenticated"} & set(flags):
        raise AssertionError("--[no-]allow-unauthenticated sets an allUsers grant: use --[no-]invoker-iam-check")
    if flags.get("--no-invoker-iam-check") == flags.get("--invoker-iam-check"):
        raise AssertionError("say --no-invoker-iam-check or --invoker-iam-check, exactly one")
    return Deployment(
        name=substitute(step["args"][2]),
        port=int(flags["--port"]),
        concurrency=int(flags["--concurrency"]),
        timeout=int(flags["--timeout"]),
        cpu=str(flags["--cpu"]),
        memory=str(flags["--memory"]),
        min_instances=int(flags["--min-instances"]),
        max_instances=int(flags["--max-instances"]),
        service_account=substitute(str(flags["--service-account"])),
        env=_pairs(substitute(str(flags["--set-env-vars"]))),
        secrets=secrets,
        ingress=str(flags["--ingress"]),
        public=bool(flags.get("--no-invoker-iam-check")),
        startup_probe={key: (value if key == "httpGet.path" else int(value)) for key, value in probe.items()},
        cpu_throttling=bool(flags.get("--cpu-throttling")),
        cpu_boost=bool(flags.get("--cpu-boost")),
    )


def check_step_script(build: dict, values: dict[str, str]) -> str:
    """The build's check step as bash would run it: substitutions replaced as Cloud Build does, ``$$`` kept as ``$``."""
    step = next(step for step in build["steps"] if step["id"] == "check")
    script = step["args"][-1].replace("$$", "\0")
    script = re.sub(r"\$\{(\w+)\}|\$([A-Z_][A-Z0-9_]*)", lambda m: values[m.group(1) or m.group(2)], script)
    return script.replace("\0", "$")
