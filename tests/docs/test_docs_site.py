"""docs/ builds as an MkDocs site with --strict, offline, and its generated and runbook pages are current.

The build is the real ``mkdocs build --strict`` (broken links and anchors fail
it: mkdocs.yml's validation settings). The reference pages must be what
scripts/docs_reference.py makes now from the OpenAPI description and the CLI,
and every alert of cluster/prometheus/alerts.yml must have a runbook entry that
its ``runbook`` annotation points at.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from scripts import docs_reference

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        for value in item.values():
            pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def anchors(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def alerts() -> list[dict]:
    return [r for g in yaml.safe_load((ROOT / "cluster" / "prometheus" / "alerts.yml").read_text())["groups"]
            for r in g["rules"] if "alert" in r]


def test_the_site_builds_strict_with_every_page_in_the_nav(site):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "docs"
    pages = nav_pages(config["nav"])
    assert sorted(pages) == sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    for page in pages:
        assert (site / page.replace(".md", ".html")).is_file(), page


def test_the_built_site_fetches_nothing_from_elsewhere(site):
    for html in site.rglob("*.html"):
        text = html.read_text()
        external = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert external == [], (html.name, external)


def test_the_strict_build_fails_on_a_broken_anchor(tmp_path):
    """The build above can fail: a link to a heading that does not exist stops it."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[gone](other.md#no-such-heading)\n")
    (docs / "other.md").write_text("# Other\n")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config.pop("nav")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode != 0 and "no-such-heading" in done.stdout + done.stderr


@pytest.mark.parametrize("name", ["api", "cli"])
def test_the_generated_reference_pages_are_current(name):
    assert docs_reference.PAGES[name].read_text() == docs_reference.pages()[name], (
        f"run: python -m scripts.docs_reference")


def test_the_api_reference_has_every_operation_of_the_served_description():
    from manifest_node.api.openapi import document

    page = docs_reference.PAGES["api"].read_text()
    described = document()
    for path, methods in described["paths"].items():
        for method in methods:
            assert f"\n### {method.upper()} {path}\n" in page, (method, path)
    for schema in described["components"]["schemas"]:
        assert f"\n### {schema}\n" in page, schema


def test_the_cli_reference_has_every_command():
    from manifest_node.entry import cli

    page = docs_reference.PAGES["cli"].read_text()
    paths = [ctx.command_path for ctx in docs_reference._contexts(cli, "manifest")]
    assert {"manifest node", "manifest dev", "manifest token create", "manifest watch"} <= set(paths)
    for path in paths:
        assert f"\n## {path}\n" in page, path


def test_every_alert_has_a_runbook_entry_its_annotation_points_at(site):
    text = (DOCS / "runbook.md").read_text()
    built = anchors((site / "runbook.html").read_text())
    rules = alerts()
    assert len(rules) >= 12
    for rule in rules:
        name = rule["alert"]
        entry = re.search(rf"^### {name}\n(.*?)(?=^#|\Z)", text, re.M | re.S)
        assert entry and "**Means**" in entry.group(1) and "**Do**" in entry.group(1), name
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert (page, anchor) == ("docs/runbook.md", name.lower()), rule["annotations"]
        assert anchor in built, name
    documented = set(re.findall(r"^### (Manifest\w+)$", text, re.M))
    assert documented == {r["alert"] for r in rules}


def test_the_runbook_and_the_troubleshooting_tree_cover_what_operators_ask(site):
    runbook = anchors((site / "runbook.html").read_text())
    assert {"deploy", "on-kubernetes", "add-replace-or-remove-a-node", "backup-and-restore", "upgrade",
            "alerts"} <= runbook
    trees = anchors((site / "troubleshooting.html").read_text())
    assert {"my-service-disappeared", "there-is-no-leader", "reads-are-stale", "heartbeats-are-failing",
            "the-dashboard-is-empty"} <= trees
    concepts = anchors((site / "concepts.html").read_text())
    assert {"the-expiry-clock", "consistency", "watch"} <= concepts


def test_the_readme_keeps_its_one_command_lines():
    readme = (ROOT / "README.md").read_text()
    assert "\nmake dev\n" in readme and "\nmake test\n" in readme and "make docs" in readme
