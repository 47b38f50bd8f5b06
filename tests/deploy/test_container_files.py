"""The Dockerfile and cluster/docker-compose.yml use only flags and env vars the node has, and make a cluster.

Docker does not run on our machines, so the files are parsed: every ``--flag``
must be an option of ``manifest node``, every ``MANIFEST_*`` variable one the
node (or the client) reads, and what each compose service would start is put
through the node's real option parser and config validation, with the image's
ENV defaults beneath it.
"""

from __future__ import annotations

import json
import re

import yaml

from tests.deploy.deployfiles import CLIENT_ENV, ROOT, node_config, node_env, node_flags

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "cluster" / "docker-compose.yml"
VAR = re.compile(r"\bMANIFEST_[A-Z_]+\b")


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines()
                                           if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def image_env() -> dict[str, str]:
    env = {}
    for op, args in instructions():
        if op == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return env


def image_argv() -> list[str]:
    found = {op: json.loads(args) for op, args in instructions() if op in ("ENTRYPOINT", "CMD")}
    return found["ENTRYPOINT"] + found["CMD"]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_every_variable_in_the_deploy_files_is_read_by_the_node_or_the_client():
    for path in (DOCKERFILE, COMPOSE):
        names = set(VAR.findall(path.read_text()))
        assert names, path
        assert names <= node_env() | CLIENT_ENV, (path.name, names - node_env() - CLIENT_ENV)
    assert set(image_env()) <= node_env()
    for service in compose()["services"].values():
        assert set(service["environment"]) <= node_env(), service["environment"]


def test_every_flag_the_deploy_files_give_the_node_is_an_option_of_manifest_node():
    # The node's argv: the image's ENTRYPOINT + CMD and each compose service's command (the
    # Dockerfile's other flags are useradd's, pip's and HEALTHCHECK's own).
    argvs = [image_argv()] + [["manifest", *s["command"]] for s in compose()["services"].values()]
    flags = {arg.split("=", 1)[0] for argv in argvs for arg in argv if arg.startswith("--")}
    assert {"--id", "--api", "--raft", "--peer", "--data-dir", "--advertise-api"} <= flags
    assert flags <= node_flags(), flags - node_flags()
    assert all(argv[:2] == ["manifest", "node"] for argv in argvs), argvs


def test_the_image_runs_manifest_node_with_its_data_on_the_volume():
    argv = image_argv()
    assert argv == ["manifest", "node"]
    env = {**image_env(), "MANIFEST_CLUSTER_SECRET": "a-cluster-secret-of-32-bytes-ok!"}
    cfg = node_config(argv[1:], env)
    volumes = [json.loads(args) for op, args in instructions() if op == "VOLUME"]
    assert [cfg.data_dir] in volumes
    exposed = {int(p) for op, args in instructions() if op == "EXPOSE" for p in args.split()}
    assert {int(cfg.api.rsplit(":", 1)[1]), int(cfg.raft.rsplit(":", 1)[1])} == exposed


def test_the_compose_services_make_one_cluster_whose_secrets_come_from_the_environment():
    services = compose()["services"]
    raft = {}
    configs = {}
    for name, service in services.items():
        command = service["command"]
        assert not {"--cluster-secret", "--bootstrap-token"} & set(command), name
        # The values docker compose substitutes for ${VAR:?...} from the caller's environment.
        given = {k: re.sub(r"\$\{(\w+)[^}]*\}", lambda m: f"{m.group(1).lower()}-of-32-bytes-long-enough",
                           str(v)) for k, v in service["environment"].items()}
        cfg = node_config(["node", *command[1:]] if command[0] == "node" else command, {**image_env(), **given})
        assert cfg.cluster_secret and cfg.bootstrap_token and cfg.auth_on, name
        configs[name] = cfg
        raft[name] = cfg.raft
        mounts = [v.split(":", 1)[1] for v in service["volumes"]]
        assert cfg.data_dir in mounts, name
    assert len({c.id for c in configs.values()}) == len(configs)
    for name, cfg in configs.items():
        assert sorted(cfg.peer) == sorted(r for other, r in raft.items() if other != name), name
