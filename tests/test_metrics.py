"""`ocac metrics`: OpenMetrics text that Prometheus's own parser reads, with the figures of the store."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import SAMPLE_NOW


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_metrics_parse_as_openmetrics_and_hold_the_stores_figures(cli: Any, sample_store: Path) -> None:
    before = cli("metrics", "--now", SAMPLE_NOW)
    assert before.exit_code == 0, before.stderr
    assert before.stdout.endswith("# EOF\n")
    parsed = families(before.stdout)
    assert "ocac_last_sweep_timestamp_seconds" not in parsed  # no sweep yet
    counts = {(labels["channel"], labels["state"]): value for labels, value in parsed["ocac_conversations"]}
    assert counts[("chat", "open")] == 18 and counts[("case", "closed")] == 14
    assert ("chat", "waiting") not in counts  # chat never waits: no series for it
    due = {labels["channel"]: value for labels, value in parsed["ocac_due_conversations"]}
    assert sum(due.values()) == 69 and due["chat"] == 20
    oldest = {labels["channel"]: value for labels, value in parsed["ocac_oldest_open_age_seconds"]}
    assert oldest["case"] == 150 * 86400 + 48 * 60 + 35  # 3e3eb2be…, idle since 2026-06-28T11:11:25Z
    assert cli("sweep", "run", "--now", SAMPLE_NOW, "--quiet").exit_code == 0
    after = families(cli("metrics", "--now", SAMPLE_NOW).stdout)
    assert after["ocac_last_sweep_timestamp_seconds"] == [({}, 1795608000.0)]
    moved = {
        (labels["channel"], labels["to"], labels["reason"]): value for labels, value in after["ocac_last_sweep_moved"]
    }
    assert moved[("voice", "wrap-up", "AutoClosedBySystem")] == 6 and sum(moved.values()) == 69
    assert after["ocac"] == [({"version": "0.1.0", "backend": "json"}, 1.0)]


def test_output_writes_the_textfile_atomically(cli: Any, sample_store: Path, tmp_path: Path) -> None:
    target = tmp_path / "textfile" / "ocac.prom"
    result = cli("metrics", "--output", str(target), "--now", SAMPLE_NOW)
    assert (result.exit_code, result.stdout) == (0, "")
    assert families(target.read_text())["ocac_due_conversations"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["ocac.prom"]  # no temp file left beside it
    shutil.rmtree(target.parent)
