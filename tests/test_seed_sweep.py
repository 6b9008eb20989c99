"""The seed sweep without DVC: reading `dvc exp show --json`, the table maths, the merge.

``scripts/seed_sweep.py`` runs DVC experiments; everything it does with their results
is tested here on a ``dvc exp show --json`` answer written out by hand in the shape
DVC 3.67 prints (checked against a scratch repository's real output).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from pipeline.dvc_experiments import ExperimentError
from pipeline.io import write_json
from pipeline.report.seed_sweep import (
    SweepError,
    load_sweep,
    merge_sweep,
    summarize_track,
    sweep_markdown,
)
from tests.track_expectations import DICL, SCL

REPO = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("seed_sweep", REPO / "scripts/seed_sweep.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


sweep_script = _load_script()

BASELINE = "9fad583c40e5c9f99f73964e6393aac3c4a8b65c"


def state(rev: str, name: str | None, seed: int, scl: dict, models_hash: str) -> dict:
    """One ExpState as `dvc exp show --json` writes it (deps/outs trimmed to a few)."""
    return {
        "rev": rev,
        "name": name,
        "data": {
            "rev": rev,
            "timestamp": "2026-12-04T16:48:24",
            "params": {"params.yaml": {"data": {"seed": seed, "scl": {"train": {"lr": 0.1}}}}},
            "metrics": {
                "metrics/scl.json": {"data": scl},
                "metrics/dicl.json": {"data": {"mAP": 0.345091, "init_mAP": 0.0}},
            },
            "deps": {
                "stages/train_scl.py": {"hash": "73b4a129", "size": 4171, "nfiles": None},
                "pipeline/models/scl": {"hash": "4a932641.dir", "size": 12631, "nfiles": 9},
                "data/processed/synthetic_market1501": {
                    "hash": "c3185063.dir",
                    "size": 334972,
                    "nfiles": 4,
                },
                "models/scl": {"hash": models_hash, "size": 1000, "nfiles": 2},
            },
            "outs": {},
            "meta": {},
        },
        "error": None,
        "experiments": None,
    }


def scl_metrics(m: float, init: float, hist: float) -> dict:
    return {"mAP": m, "init_mAP": init, "hist_mAP": hist, "rank1": 0.5, "mINP": 0.1}


def shown() -> list:
    """`dvc exp show --json` after two seeds of scl (seed 1 and 2) on the baseline commit."""
    workspace = state("workspace", None, 0, scl_metrics(0.2, 0.1, 0.25), "aaaa.dir")
    workspace["data"]["timestamp"] = None
    baseline = state(BASELINE, "main", 0, scl_metrics(0.2, 0.1, 0.25), "aaaa.dir")
    baseline["experiments"] = [
        {
            "revs": [state("e521a74f", name, seed, scl, f"{seed}bbb.dir")],
            "executor": None,
            "name": name,
        }
        for name, seed, scl in (
            ("sweep-scl-seed2", 2, scl_metrics(0.32, 0.1, 0.3)),
            ("sweep-scl-seed1", 1, scl_metrics(0.3, 0.2, 0.2)),
            ("other-exp", 5, scl_metrics(0.9, 0.1, 0.1)),
        )
    ]
    return [workspace, baseline]


# -- reading `dvc exp show --json` ---------------------------------------------------
def test_commands_name_the_track_and_seed():
    assert sweep_script.run_command("scl", 3) == [
        "dvc",
        "exp",
        "run",
        "--temp",
        "-n",
        "sweep-scl-seed3",
        "-S",
        "seed=3",
        "eval_scl",
    ]
    assert (
        sweep_script.sweep_command([0, 1], ["scl", "dicl"], collect_only=False)
        == "python scripts/seed_sweep.py --seeds 0 1 --tracks scl dicl"
    )


def test_a_seed_record_holds_its_metrics_and_what_it_ran_on():
    metrics, measured_on = sweep_script.seed_record(shown(), "scl", 2, "metrics/scl.json")
    assert metrics == scl_metrics(0.32, 0.1, 0.3)
    assert measured_on["git_commit"] == BASELINE
    other_metrics, other = sweep_script.seed_record(shown(), "scl", 1, "metrics/scl.json")
    assert other_metrics["mAP"] == 0.3
    # The seed and the trained models differ; params (less the seed) and code do not.
    assert other == measured_on


def test_params_and_code_hashes_see_a_change():
    changed = shown()
    record = changed[1]["experiments"][0]["revs"][0]["data"]
    record["params"]["params.yaml"]["data"]["scl"]["train"]["lr"] = 0.2
    record["deps"]["stages/train_scl.py"]["hash"] = "00000000"
    _, base = sweep_script.seed_record(shown(), "scl", 2, "metrics/scl.json")
    _, edited = sweep_script.seed_record(changed, "scl", 2, "metrics/scl.json")
    assert edited["params_sha256"] != base["params_sha256"]
    assert edited["code_sha256"] != base["code_sha256"]


def test_another_tracks_params_leave_the_hashes_alone():
    changed = shown()
    record = changed[1]["experiments"][0]["revs"][0]["data"]
    record["params"]["params.yaml"]["data"]["dclnet"] = {"train": {"epochs": 99}}
    _, base = sweep_script.seed_record(shown(), "scl", 2, "metrics/scl.json")
    _, edited = sweep_script.seed_record(changed, "scl", 2, "metrics/scl.json")
    assert edited == base


def test_a_missing_experiment_is_an_error():
    with pytest.raises(ExperimentError, match="no experiment sweep-scl-seed4"):
        sweep_script.seed_record(shown(), "scl", 4, "metrics/scl.json")


def test_an_experiment_with_another_seed_is_an_error():
    wrong = shown()
    wrong[1]["experiments"][0]["revs"][0]["data"]["params"]["params.yaml"]["data"]["seed"] = 7
    with pytest.raises(SweepError, match="sweep-scl-seed2 ran with seed 7, not 2"):
        sweep_script.seed_record(wrong, "scl", 2, "metrics/scl.json")


def test_an_unreadable_metrics_file_in_an_experiment_is_an_error():
    broken = shown()
    metrics = broken[1]["experiments"][0]["revs"][0]["data"]["metrics"]
    metrics["metrics/scl.json"] = {"error": {"type": "FileNotFoundError", "msg": "gone"}}
    with pytest.raises(ExperimentError, match=r"sweep-scl-seed2: no metrics/scl.json \(.*gone"):
        sweep_script.seed_record(broken, "scl", 2, "metrics/scl.json")


def test_the_machine_names_the_cpu_model_and_its_cores():
    name = sweep_script.machine()
    assert name.endswith(f", {os.cpu_count()} cores")
    assert not name.startswith(",")


def test_seeds_on_different_code_are_listed_and_warned_about(capsys):
    same = {"git_commit": "a", "code_sha256": "c"}
    assert sweep_script.merge_measured_on("scl", {0: same, 1: same}) == same
    merged = sweep_script.merge_measured_on("scl", {0: same, 1: {**same, "code_sha256": "b"}})
    assert merged == {"code_sha256": ["b", "c"], "git_commit": "a"}
    assert "scl: the seeds ran on different code_sha256: b, c" in capsys.readouterr().err


def test_dry_run_prints_the_commands_and_runs_nothing(capsys):
    assert sweep_script.main(["--dry-run", "--tracks", "scl", "dclnet", "--seeds", "0", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        "dvc exp run --temp -n sweep-scl-seed0 -S seed=0 eval_scl",
        "dvc exp run --temp -n sweep-scl-seed3 -S seed=3 eval_scl",
        "dvc exp run --temp -n sweep-dclnet-seed0 -S seed=0 eval_dclnet",
        "dvc exp run --temp -n sweep-dclnet-seed3 -S seed=3 eval_dclnet",
    ]


# -- the table maths -----------------------------------------------------------------
MEASURED_ON = {
    "git_commit": BASELINE,
    "params_sha256": "p" * 64,
    "code_sha256": "c" * 64,
    "cpu": "AMD EPYC 7B13 64-Core Processor, 2 cores",
}


def scl_entry() -> dict:
    seeds = {
        0: scl_metrics(0.30, 0.10, 0.20),  # +0.20 / +0.10: both floors met
        1: scl_metrics(0.24, 0.10, 0.22),  # +0.14 / +0.02: neither
        2: scl_metrics(0.36, 0.21, 0.30),  # +0.15 exactly / +0.06: both
    }
    return summarize_track(
        SCL, seeds, command="python scripts/seed_sweep.py", measured_on=MEASURED_ON
    )


def test_margins_and_verdicts_per_seed():
    entry = scl_entry()
    assert list(entry["seeds"]) == ["0", "1", "2"]
    seed1 = entry["seeds"]["1"]
    assert seed1["metrics"] == {"mAP": 0.24, "init_mAP": 0.10, "hist_mAP": 0.22}
    assert seed1["margins"] == {"mAP - init_mAP": 0.14, "mAP - hist_mAP": 0.02}
    assert seed1["floors_met"] == {
        "mAP >= init_mAP + 0.15": False,
        "mAP >= hist_mAP + 0.05": False,
    }
    # A margin met exactly counts (0.36 - 0.21 is 0.1499999... in binary).
    assert entry["seeds"]["2"]["floors_met"]["mAP >= init_mAP + 0.15"] is True
    assert entry["floors"] == [
        {
            "name": "mAP >= init_mAP + 0.15",
            "margin": "mAP - init_mAP",
            "seeds_met": 2,
            "every_seed": False,
        },
        {
            "name": "mAP >= hist_mAP + 0.05",
            "margin": "mAP - hist_mAP",
            "seeds_met": 2,
            "every_seed": False,
        },
    ]


def test_mean_min_max_of_every_metric_and_margin():
    summary = scl_entry()["summary"]
    assert summary["metrics"]["mAP"] == pytest.approx({"mean": 0.30, "min": 0.24, "max": 0.36})
    assert summary["metrics"]["init_mAP"] == pytest.approx(
        {"mean": 0.41 / 3, "min": 0.1, "max": 0.21}
    )
    assert summary["margins"]["mAP - hist_mAP"] == pytest.approx(
        {"mean": 0.06, "min": 0.02, "max": 0.10}
    )


def test_an_at_least_floor_has_the_bound_as_reference():
    seeds = {0: {"mAP": 0.4, "init_mAP": 0.0, "det_recall": 0.79}}
    entry = summarize_track(DICL, seeds, command="c", measured_on={})
    assert entry["seeds"]["0"]["margins"]["det_recall - 0.8"] == pytest.approx(-0.01)
    assert entry["seeds"]["0"]["floors_met"] == {
        "mAP >= init_mAP + 0.15": True,
        "det_recall >= 0.8": False,
    }


def test_a_seed_without_a_floor_metric_is_an_error():
    with pytest.raises(SweepError, match="scl seed 3: hist_mAP is missing from metrics/scl.json"):
        summarize_track(SCL, {3: {"mAP": 0.3, "init_mAP": 0.1}}, command="c", measured_on={})


# -- the file: merge, load, render ---------------------------------------------------
def test_merge_replaces_only_the_tracks_given():
    old = {"tracks": {"scl": {"command": "old scl"}, "dicl": {"command": "old dicl"}}}
    merged = merge_sweep(old, {"scl": {"command": "new scl"}})
    assert merged == {"tracks": {"scl": {"command": "new scl"}, "dicl": {"command": "old dicl"}}}
    assert old["tracks"]["scl"] == {"command": "old scl"}  # the input is left alone
    assert merge_sweep(None, {"dclnet": {}}) == {"tracks": {"dclnet": {}}}


def test_the_file_round_trips_and_renders_the_same(tmp_path):
    sweep = merge_sweep(None, {"scl": scl_entry()})
    path = tmp_path / "seed_sweep.json"
    write_json(path, sweep)
    loaded = load_sweep(path)
    # The JSON file sorts keys; the columns keep their order all the same.
    assert sweep_markdown(loaded, ("dicl", "scl")) == sweep_markdown(sweep, ("dicl", "scl"))
    text = path.read_text()
    assert "/tmp" not in text and str(tmp_path) not in text and "2026-" not in text


def test_the_table_rows_are_the_seeds_then_mean_min_max():
    lines = sweep_markdown(merge_sweep(None, {"scl": scl_entry()}), ("dicl", "scl")).splitlines()
    assert "Not swept yet: `python scripts/seed_sweep.py --tracks dicl` sweeps it." in lines
    start = lines.index("| seed | mAP | init_mAP | hist_mAP | mAP - init_mAP | mAP - hist_mAP |")
    assert lines[start + 2 : start + 8] == [
        "| 0 | 30.0 | 10.0 | 20.0 | +20.0 | +10.0 |",
        "| 1 | 24.0 | 10.0 | 22.0 | +14.0 | +2.0 |",
        "| 2 | 36.0 | 21.0 | 30.0 | +15.0 | +6.0 |",
        "| *mean* | 30.0 | 13.7 | 24.0 | +16.3 | +6.0 |",
        "| *min* | 24.0 | 10.0 | 20.0 | +14.0 | +2.0 |",
        "| *max* | 36.0 | 21.0 | 30.0 | +20.0 | +10.0 |",
    ]
    assert "- `mAP >= init_mAP + 0.15`: **not met** on seed 1 (2 of 3 met)." in lines
    assert any(
        line.startswith("Headline mAP: mean 30.0, every seed within 6.0 of it;") for line in lines
    )
    assert any(f"on commit `{BASELINE[:12]}`" in line for line in lines)
    # hashes cut to 12 characters, the CPU (what the bytes depend on) in full
    assert any(
        f"code sha256 `{'c' * 12}`, CPU `AMD EPYC 7B13 64-Core Processor, 2 cores`" in line
        for line in lines
    )


def test_seeds_sort_as_numbers():
    seeds = {s: scl_metrics(0.3, 0.1, 0.2) for s in (2, 10, 1)}
    entry = summarize_track(SCL, seeds, command="c", measured_on={})
    sweep = json.loads(json.dumps(merge_sweep(None, {"scl": entry}), sort_keys=True))
    rows = [line.split(" | ")[0] for line in sweep_markdown(sweep, ("scl",)).splitlines()]
    assert [r for r in rows if r in ("| 1", "| 2", "| 10")] == ["| 1", "| 2", "| 10"]


def test_load_sweep_absent_bad_json_and_bad_shape(tmp_path):
    assert load_sweep(tmp_path / "absent.json") is None
    bad = tmp_path / "seed_sweep.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(SweepError, match=r"seed_sweep\.json: not valid JSON"):
        load_sweep(bad)
    entry = copy.deepcopy(scl_entry())
    del entry["floors"]
    bad.write_text(json.dumps({"tracks": {"scl": entry}}), encoding="utf-8")
    with pytest.raises(SweepError, match=r"seed_sweep\.json: tracks\.scl\.floors: required key"):
        load_sweep(bad)


def test_the_committed_sweep_file_loads():
    assert load_sweep(REPO / "reports" / "seed_sweep.json") is not None


def test_the_workspace_row_stands_for_its_own_seed():
    exp_show = shown()
    metrics, measured_on = sweep_script.seed_record(
        exp_show, "scl", 0, "metrics/scl.json", from_workspace=True
    )
    assert metrics == scl_metrics(0.2, 0.1, 0.25)
    assert measured_on["git_commit"] == BASELINE  # the commit the workspace is on
