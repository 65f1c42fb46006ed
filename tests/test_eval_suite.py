"""``streamanon eval --suite``: every mode over a folder, one table (made-up clip, no ../shared)."""

from __future__ import annotations

import json

import pytest

from streamanon.errors import ConfigError, InputError
from streamanon.evaluation import EvalSettings, Evaluator
from streamanon.evaluation.planted import astronaut_clip
from streamanon.evaluation.suite import SuiteSettings, available_modes, default_deface_venv, run_suite

pytest.importorskip("dlib")
api = pytest.importorskip("streamanon.api", reason="streamanon run (api) not built yet")


def test_unknown_mode_and_empty_folder_are_errors(tmp_path):
    with pytest.raises(ConfigError):
        SuiteSettings(modes=("blur", "sepia"))
    with pytest.raises(InputError):
        run_suite(tmp_path, tmp_path / "out", Evaluator(EvalSettings(detector="dlib-hog", max_distractors=0)))


def test_missing_deface_is_skipped_with_a_reason(tmp_path):
    modes, skipped = available_modes(SuiteSettings(modes=("solid", "deface"), deface_venv=str(tmp_path)))
    assert modes == ["solid"] and "deface" in skipped and "deface_baseline.sh" in skipped["deface"]


def test_suite_runs_modes_and_writes_one_table(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    astronaut_clip(clips / "astronaut.mp4", frames=12)
    modes = ("none", "solid", "blur") + (("deface",) if (default_deface_venv() / "bin" / "deface").is_file() else ())
    evaluator = Evaluator(EvalSettings(stride=3, detector="dlib-hog", max_distractors=0))
    result = run_suite(clips, tmp_path / "out", evaluator, SuiteSettings(modes=modes))
    assert result["modes"] == list(modes)
    assert [(r["clip"], r["mode"]) for r in result["results"]] == [("astronaut", m) for m in modes]
    for row in result["results"]:
        s = row["summary"]
        if row["mode"] == "none":  # the reference: the original itself
            assert s["retention"] == 1.0 and s["leak_rate"] == 1.0 and s["identity_distance"] < 1e-3
            continue
        assert s["retention"] == 0.0 and s["leak_rate"] == 0.0  # every mode hides the one clear face
        assert s["fps"] is not None and s["fps"] > 0
    assert set(result["by_mode"]) == set(modes)
    out = tmp_path / "out"
    saved = json.loads((out / "suite.json").read_text())
    assert saved["by_mode"]["solid"]["retention"] == 0.0
    table = (out / "suite.md").read_text()
    assert all(f"| {m} |" in table for m in modes) and "ALL (mean)" in table
    assert (out / "sheet_astronaut.png").stat().st_size > 10_000
    assert (out / "metrics.png").is_file()
    assert (out / "suite.html").read_text().count("data:image/png;base64,") == 2
