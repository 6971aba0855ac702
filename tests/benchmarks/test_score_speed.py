"""The scoring-speed benchmark (benchmarks/score_speed.py) compares the working tree with a commit."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import pytest

from tests.helpers import ROOT

_spec = importlib.util.spec_from_file_location("score_speed", ROOT / "benchmarks" / "score_speed.py")
score_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(score_speed)


def _worktrees() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "worktree", "list", "--porcelain"], check=True,
                          capture_output=True, text=True).stdout


@pytest.mark.slow
def test_a_baseline_run_reports_both_sides_and_removes_its_worktree(tmp_path, capsys):
    before = _worktrees()
    out = tmp_path / "speed.json"
    results = score_speed.main(["--rows", "20000", "--repeats", "1", "--baseline", "HEAD", "--sample-rows",
                                "2000", "--epochs", "1", "--workdir", str(tmp_path), "--json-out", str(out)])
    assert _worktrees() == before
    (r,) = results
    assert r["ratio_wall"] == pytest.approx(r["median_s"]["cli_wall_s"] / r["median_s"]["base_wall_s"])
    assert r["ratio_in_command"] > 0 and r["base_rows_per_s"] > 0 and r["base_peak_rss_mb"] > 0
    assert r["runs"][0]["order"] == ["floor", "whole-file floor", "cli", "base"]
    m = r["median_s"]  # both floors are timed in every repeat, and each side's share of each is reported
    assert r["fraction_of_whole_floor"] == pytest.approx(m["whole_floor_wall_s"] / m["cli_wall_s"])
    assert r["base_fraction_of_whole_floor"] == pytest.approx(m["whole_floor_wall_s"] / m["base_wall_s"])
    saved = json.loads(out.read_text())
    baseline = saved["meta"]["baseline"]
    assert baseline["commit"] == saved["meta"]["working"]["commit"]
    # HEAD reads the working tree's model file (same format) and scores the extract alike
    assert baseline["model"]["row-wise"].startswith("shared")
    assert saved["results"][0]["ratio_wall"] == r["ratio_wall"]
    assert "working / HEAD wall" in capsys.readouterr().out


def test_the_worktree_is_removed_when_a_run_fails(monkeypatch, tmp_path):
    before = _worktrees()

    def fail(*args):
        assert "worktree " + str(args[1]["worktree"]) in _worktrees()
        raise RuntimeError("stopped")

    monkeypatch.setattr(score_speed, "_measure", fail)
    with pytest.raises(RuntimeError, match="stopped"):
        score_speed.main(["--baseline", "HEAD", "--workdir", str(tmp_path)])
    assert _worktrees() == before
