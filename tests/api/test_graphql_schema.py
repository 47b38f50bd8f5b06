"""The committed schema file is the schema the node serves (scripts/graphql_schema.py)."""

import subprocess
import sys

from graphql import build_schema

from manifest_node.api.graphql.schema import sdl
from scripts import graphql_schema


def test_the_committed_schema_is_what_the_code_prints():
    assert graphql_schema.PATH.read_text() == graphql_schema.render(), \
        "docs/reference/graphql.schema.graphql is out of date: run python -m scripts.graphql_schema"


def test_the_check_mode_agrees():
    done = subprocess.run([sys.executable, "-m", "scripts.graphql_schema", "--check"], cwd=graphql_schema.ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_printed_schema_is_valid_sdl_with_the_documented_roots():
    schema = build_schema(sdl())
    assert set(schema.query_type.fields) == {"instances", "instance", "services", "service", "graph", "impact",
                                             "cluster"}
    assert set(schema.subscription_type.fields) == {"changes"}
    assert schema.mutation_type is None  # writes stay REST: one write path, audited and scoped
