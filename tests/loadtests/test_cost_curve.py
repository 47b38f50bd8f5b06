"""The cost curve's harness (loadtests/cost_curve.py): its arithmetic, and one small real run."""

from __future__ import annotations

import json

from loadtests import cost_curve


def test_exponents_say_what_grew_faster_than_it_should():
    rows = [{"instances": 1000, "snapshot_bytes": 100_000, "service_p50_ms": 1.0, "catch_up_s": 1.0},
            {"instances": 10_000, "snapshot_bytes": 1_000_000, "service_p50_ms": 10.0, "catch_up_s": 100.0}]
    got = {g["figure"]: g for g in cost_curve.exponents(rows)}
    assert got["snapshot_bytes"]["exponent"] == 1.0 and not got["snapshot_bytes"]["faster"]
    assert got["service_p50_ms"]["exponent"] == 1.0 and got["service_p50_ms"]["faster"]  # should be flat
    assert got["catch_up_s"]["exponent"] == 2.0 and got["catch_up_s"]["faster"]
    assert "restore_s" not in got  # a figure missing at either size is not compared


def test_a_small_curve_reports_every_figure(tmp_path):
    assert cost_curve.main(["--sizes", "500,1000", "--reads", "20", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "cost_curve.json").read_text())
    assert [r["instances"] for r in result["sizes"]] == [500, 1000]
    for row in result["sizes"]:
        assert row["snapshot_instances"] >= row["instances"] and row["revision"] >= row["instances"]
        assert row["heartbeats_failed"] == 0 and row["catch_up_s"] > 0
        for key in cost_curve.EXPECTED:
            assert row[key] > 0, key
    assert {g["figure"] for g in result["exponents"]} == set(cost_curve.EXPECTED)
