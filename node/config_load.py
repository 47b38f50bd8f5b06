"""Where settings come from: flags, ``MANIFEST_<NAME>`` env vars and a TOML file, parsed into a NodeConfig.

Precedence: command-line flag > env var > ``--config`` TOML file > default;
node/config.py declares the settings and checks them.
"""

from __future__ import annotations

import math
import os
import re
import tomllib

from .config import FIELDS, ConfigError, NodeConfig

# ASCII digits only, as for ports (config.py).
_INT = re.compile(r"-?[0-9]{1,18}")
_FLOAT = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,18})?|-?\.[0-9]{1,18}")


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def env_name(name: str) -> str:
    return "MANIFEST_" + name.upper()


def _coerce(name: str, value):
    kind = FIELDS[name].type
    try:
        if kind in ("bool", "bool | None"):
            return value if isinstance(value, bool) else _boolean(value)
        if kind in ("int", "float"):
            return _number(value, int if kind == "int" else float)
        if kind.startswith("tuple"):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(str(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"cannot parse {value!r}") from None
    return None if value is None else str(value)


def _boolean(value) -> bool:
    # A typo such as MANIFEST_FSYNC=ture must not quietly mean "off".
    word = str(value).strip().lower()
    if word not in _TRUE + _FALSE:
        raise ValueError(value)
    return word in _TRUE


def _number(value, kind):
    """``value`` as ``kind``: a number already (not a bool), or ASCII digits."""
    if isinstance(value, bool) or (kind is int and isinstance(value, float)):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):  # TOML has inf and nan
            raise ValueError(value)
        return kind(value)
    if not (_INT if kind is int else _FLOAT).fullmatch(str(value)):
        raise ValueError(value)
    return kind(value)


# A secret given inline or as a file is one setting: a higher layer's replaces
# a lower one's, however each was given.
_SECRET_SOURCES = ("cluster_secret", "cluster_secret_file")
_TOKEN_SOURCES = ("bootstrap_token", "bootstrap_token_file")
_FEDERATION_SOURCES = ("federation_token", "federation_token_file")


def load(flags: dict, env: dict | None = None, config_file: str | None = None,
         defaults: dict | None = None) -> NodeConfig:
    """The validated config of ``merge(flags, env, config_file, defaults)``."""
    return build(merge(flags, env, config_file, defaults))


def merge(flags: dict, env: dict | None = None, config_file: str | None = None,
          defaults: dict | None = None) -> dict:
    """The settings given, parsed: defaults < TOML file < env < flags (None/empty
    flags mean "not given"); a setting no layer gives is absent.

    ``defaults`` overrides the dataclass defaults (``manifest dev`` passes its
    addresses and the secret it generated)."""
    env = os.environ if env is None else env
    layers = [{name: _coerce(name, value) for name, value in (defaults or {}).items()}]
    if config_file:
        layers.append(_toml_layer(config_file))
    layers.append({name: _coerce(name, env[env_name(name)]) for name in FIELDS
                   if env.get(env_name(name)) not in (None, "")})
    layers.append({name: _coerce(name, value) for name, value in flags.items()
                   if name in FIELDS and value not in (None, (), "")})
    values: dict = {}
    for layer in layers:
        for sources in (_SECRET_SOURCES, _TOKEN_SOURCES, _FEDERATION_SOURCES):
            given = [name for name in sources if name in layer]
            if len(given) > 1:
                raise ConfigError(sources[1], f"give {sources[0]} or {sources[1]}, not both")
            if given:
                for name in sources:
                    values.pop(name, None)
        values.update(layer)
    return values


def build(values: dict) -> NodeConfig:
    """``values`` (as ``merge`` returns them) as a validated NodeConfig, the secret file read."""
    values = dict(values)
    if values.get("cluster_secret_file"):
        values["cluster_secret"] = read_secret_file(values["cluster_secret_file"])
    if values.get("bootstrap_token_file"):
        values["bootstrap_token"] = read_secret_file(values["bootstrap_token_file"], "bootstrap_token_file")
    if values.get("federation_token_file"):
        values["federation_token"] = read_secret_file(values["federation_token_file"], "federation_token_file")
    return NodeConfig(**values).validate()


def _toml_layer(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError("config", str(exc)) from None
    layer = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise ConfigError(key, "unknown key in config file")
        layer[name] = _coerce(name, value)
    return layer


def read_secret_file(path: str, field_name: str = "cluster_secret_file") -> str:
    """The secret in ``path``, without the line end editors and ``echo`` add."""
    try:
        with open(path, "rb") as f:
            raw = f.read(4097)
    except OSError as exc:
        raise ConfigError(field_name, f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > 4096:
        raise ConfigError(field_name, f"{path} is larger than 4096 bytes: not a secret file?")
    try:
        secret = raw.decode().strip()
    except UnicodeDecodeError:
        raise ConfigError(field_name, f"{path} is not UTF-8 text") from None
    if not secret:
        raise ConfigError(field_name, f"{path} is empty")
    return secret
