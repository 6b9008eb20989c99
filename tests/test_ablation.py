"""The ablation tables without training: the sets, the queue commands, the report.

``pipeline.ablation`` runs DVC experiments; here ``dvc`` is never run (``subprocess.run``
is replaced), and the report is read from ``tests/fixtures/ablation/exp_show.json``: a
real ``dvc exp show --json`` of this repository (DVC 3.67), trimmed to the keys the
report reads. It holds two SCL ablation experiments that ran at 2 epochs
(``python -m pipeline.ablation run --tracks scl --rows full knn -S scl.train.epochs=2
-S scl.train.warmup_epochs=1``) and one failed experiment (``-S scl.train.epochs=0``,
refused by the settings), renamed ``ablation-scl-cluster``.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

import pipeline.ablation as ablation
import pipeline.dvc_experiments as dvc_experiments
from pipeline.compose import compose_params
from pipeline.params import load_yaml

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests/fixtures/ablation/exp_show.json"
TABLES = ablation.load_ablations(REPO / ablation.ABLATIONS_FILE)
DEFAULT = compose_params([], REPO / "conf")


def shown() -> list[dict]:
    return json.loads(FIXTURE.read_text())


def experiments(exp_show: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in exp_show[1]["experiments"]}


# -- the sets ----------------------------------------------------------------------
def test_every_track_has_its_rows_and_metric_columns():
    assert set(TABLES) == {"dicl", "scl", "dclnet"}
    rows = {t: [r.name for r in table.rows] for t, table in TABLES.items()}
    assert rows["dicl"] == ["full", "no_sic_many_to_one", "no_sic_dense", "no_oic"]
    assert rows["scl"] == ["full", "no_selection", "knn", "cluster"]
    assert rows["dclnet"] == ["full", "no_dense", "no_pap", "no_srm"]
    for track, table in TABLES.items():
        assert table.rows[0].overrides == ()  # the full method is the default params
        committed = json.loads((REPO / f"metrics/{track}.json").read_text())
        assert set(table.metrics) <= set(committed), track


ROWS = [(t, r) for t, table in TABLES.items() for r in table.rows]


@pytest.mark.parametrize(("track", "row"), ROWS, ids=[f"{t}-{r.name}" for t, r in ROWS])
def test_every_override_names_a_key_of_the_composed_params(track, row):
    assert ablation.missing_keys(row.overrides, DEFAULT) == [], f"{track} {row.name}"


def test_missing_keys_walks_dotted_keys():
    params = {"scl": {"mode": "cluster", "train": {"epochs": 2}}}
    overrides = ["scl.mode=knn", "scl.train.epochs=1", "scl.train.lr=0.1", "scl/dataset=x"]
    assert ablation.missing_keys(overrides, params) == ["scl.train.lr"]
    assert ablation.missing_keys(["scl.mode.deep=1"], params) == ["scl.mode.deep"]


def test_the_sets_are_not_part_of_the_composition():
    defaults = load_yaml(REPO / "conf/config.yaml")["defaults"]
    assert not any("ablation" in str(entry) for entry in defaults)
    assert "tracks" not in DEFAULT and "ablations" not in DEFAULT


def test_a_malformed_set_names_the_file_and_key(tmp_path):
    bad = tmp_path / "ablations.yaml"
    bad.write_text(
        "tracks:\n  scl:\n    metrics: [mAP]\n    rows:\n      - {name: a, overides: []}\n"
    )
    with pytest.raises(ablation.AblationError, match=r"tracks\.scl\.rows\[0\]: unknown key"):
        ablation.load_ablations(bad)


# -- the plan and the queue commands -----------------------------------------------
def test_the_plan_queues_each_row_of_its_track_only():
    plan = ablation.plan_track(TABLES["dicl"], None)
    assert [p.command for p in plan] == [
        ["dvc", "exp", "run", "--queue", "-n", "ablation-dicl-full", "eval_dicl"],
        ["dvc", "exp", "run", "--queue", "-n", "ablation-dicl-no_sic_many_to_one"]
        + ["-S", "dicl.loss.sic_many_to_one.enabled=false", "eval_dicl"],
        ["dvc", "exp", "run", "--queue", "-n", "ablation-dicl-no_sic_dense"]
        + ["-S", "dicl.loss.sic_dense.enabled=false", "eval_dicl"],
        ["dvc", "exp", "run", "--queue", "-n", "ablation-dicl-no_oic"]
        + ["-S", "dicl.oic.enabled=false", "eval_dicl"],
    ]
    assert {p.source for p in plan} == {"experiment"}


def test_a_dataset_option_goes_first_and_into_the_name():
    assert ablation.datasets_by_track(["prw"]) == {"dicl": "prw"}
    plan = ablation.plan_track(TABLES["dicl"], "prw", ["dicl.train.epochs=1"], rows=["no_oic"])
    assert plan[0].command == [
        "dvc", "exp", "run", "--queue", "-n", "ablation-dicl-prw-no_oic",
        "-S", "dicl/dataset=prw", "-S", "dicl.oic.enabled=false", "-S", "dicl.train.epochs=1",
        "eval_dicl",
    ]  # fmt: skip
    with pytest.raises(ablation.AblationError, match="--dataset nowhere: no track"):
        ablation.datasets_by_track(["nowhere"])


def test_the_workspace_stands_for_rows_with_its_params_only_when_current():
    scl = TABLES["scl"]
    same_as_default = "scl.mode=" + DEFAULT["scl"]["mode"]
    for current, full_source in ((True, "workspace"), (False, "experiment")):
        plan = ablation.plan_track(
            scl, None, workspace_params=DEFAULT, workspace_current=lambda c=current: c
        )
        sources = {p.row.name: p.source for p in plan}
        assert sources["full"] == full_source
        # The mode row that repeats the default mode has the full row's params: run once.
        for p in plan:
            if p.row.overrides == (same_as_default,):
                assert p.source == "same_as:full"
    # A quick-check override changes the params: nothing is the workspace's then.
    plan = ablation.plan_track(
        scl, None, ["scl.train.epochs=2"], workspace_params=DEFAULT, workspace_current=lambda: True
    )
    assert "workspace" not in {p.source for p in plan}


def test_a_row_naming_an_unknown_key_stops_before_anything_is_queued():
    table = copy.deepcopy(TABLES["scl"])
    typo = ablation.Row("typo", "typo", ("scl.train.epoch=1",))
    table = ablation.TrackTable("scl", table.metrics, table.paper, (typo,))
    with pytest.raises(ablation.AblationError, match=r"scl row typo: .* scl\.train\.epoch$"):
        ablation.plan_track(table, None)


class FakeDvc:
    """``subprocess.run`` for dvc: records each call and answers from ``exp_show``."""

    def __init__(self, exp_show: list[dict], status: str = "{}"):
        self.exp_show, self.status, self.calls = exp_show, status, []

    def __call__(self, argv, **kwargs):
        args = list(argv[1:])
        self.calls.append(args)
        out = ""
        if args[:2] == ["exp", "show"]:
            out = json.dumps(self.exp_show)
        elif args[:1] == ["status"]:
            out = self.status
        elif args[:2] == ["queue", "logs"]:
            out = "\n".join(f"log line {i}" for i in range(60)) + "\nValueError: epochs 0\n"
        return subprocess.CompletedProcess(argv, 0, stdout=out, stderr="")


@pytest.fixture()
def fake_dvc(monkeypatch, tmp_path):
    fake = FakeDvc(shown())
    monkeypatch.setattr(dvc_experiments.subprocess, "run", fake)
    monkeypatch.setattr(ablation, "REPORT_DIR", tmp_path)
    monkeypatch.setattr(ablation.time, "sleep", lambda s: pytest.fail("polled a finished queue"))
    return fake


def test_run_removes_earlier_names_queues_starts_one_worker_and_reports(fake_dvc, tmp_path):
    argv = ["run", "--tracks", "scl", "--rows", "full", "knn"]
    argv += ["-S", "scl.train.epochs=2", "-S", "scl.train.warmup_epochs=1"]
    assert ablation.main(argv) == 0
    changing = [c for c in fake_dvc.calls if c[:2] not in (["exp", "show"], ["status"])]
    assert changing == [
        ["exp", "remove", "ablation-scl-full", "ablation-scl-knn"],  # the fixture holds them
        ["exp", "run", "--queue", "-n", "ablation-scl-full"]
        + ["-S", "scl.train.epochs=2", "-S", "scl.train.warmup_epochs=1", "eval_scl"],
        ["exp", "run", "--queue", "-n", "ablation-scl-knn", "-S", "scl.mode=knn"]
        + ["-S", "scl.train.epochs=2", "-S", "scl.train.warmup_epochs=1", "eval_scl"],
        ["queue", "start", "-j", "1"],
    ]
    # After queueing, the queue is read on the commit it was queued on (HEAD may move).
    shows = [c for c in fake_dvc.calls if c[:2] == ["exp", "show"]]
    assert len(shows) >= 3 and shows[0][-1] != shown()[1]["rev"]
    assert all(c[-2:] == ["--rev", shown()[1]["rev"]] for c in shows[1:])
    report = json.loads((tmp_path / "ablation_scl.json").read_text())
    assert report["command"] == (
        "python -m pipeline.ablation run --tracks scl --rows full knn "
        "-S scl.train.epochs=2 -S scl.train.warmup_epochs=1"
    )
    assert [r["status"] for r in report["rows"]] == ["success", "success"]
    assert all(isinstance(r["wall_s"], float) for r in report["rows"])


def test_a_failed_experiment_is_named_with_its_log(fake_dvc, tmp_path):
    with pytest.raises(ablation.AblationError) as failed:
        ablation.main(["run", "--tracks", "scl", "--rows", "cluster", "-S", "scl.mode=knn"])
    message = str(failed.value)
    assert "1 experiment(s) failed" in message
    assert "experiment ablation-scl-cluster failed (exit code 255)" in message
    assert "`dvc queue logs ablation-scl-cluster`" in message
    assert message.endswith("log line 59\nValueError: epochs 0")
    assert "log line 19\n" not in message  # the last 40 lines only
    # The table is still written, with the row marked failed.
    report = json.loads((tmp_path / "ablation_scl.json").read_text())
    assert report["rows"][0]["status"] == "failed"
    assert "| failed |" in (tmp_path / "ablation_scl.md").read_text()


def test_the_queue_is_followed_until_every_experiment_ends():
    base = shown()
    states = iter(["queued", "running", "running", "success"])
    clock = iter([0.0, 10.0, 20.0, 30.0, 47.0])

    def show():
        current = copy.deepcopy(base)
        knn = experiments(current)["ablation-scl-knn"]
        knn["executor"] = {"state": next(states), "local": {}}
        return current

    wall, failures = ablation.follow_queue(
        ["ablation-scl-knn"], show=show, sleep=lambda s: None, clock=lambda: next(clock)
    )
    assert wall == {"ablation-scl-knn": 10.0} and failures == {}  # first clock() is the start


def test_an_experiment_the_queue_lost_is_an_error():
    with pytest.raises(ablation.AblationError, match="no longer lists ablation-scl-gone"):
        ablation.follow_queue(["ablation-scl-gone"], show=shown, sleep=lambda s: None)


# -- the report from a recorded `dvc exp show --json` --------------------------------
def plan_of(*names: str, source: str = "experiment") -> list:
    rows = {r.name: r for r in TABLES["scl"].rows}
    return [
        ablation.PlannedRow("scl", rows[n], ablation.experiment_name("scl", n), [], source)
        for n in names
    ]


def test_the_report_reads_each_experiment_by_name():
    exp_show = shown()
    report = ablation.track_report(
        TABLES["scl"],
        plan_of("full", "knn", "cluster"),
        exp_show,
        dataset="synthetic_market1501",
        layout="market1501",
        command="python -m pipeline.ablation run --tracks scl",
        wall={"ablation-scl-knn": 61.04},
        cpu="test CPU, 2 cores",
    )
    exps = experiments(exp_show)
    for record in report["rows"][:2]:
        recorded = exps[record["experiment"]]["revs"][0]["data"]
        metrics = recorded["metrics"]["metrics/scl.json"]["data"]
        assert record["metrics"] == {"mAP": metrics["mAP"], "rank1": metrics["rank1"]}
        assert record["git_commit"] == exp_show[1]["rev"]
        assert record["exp_rev"] == exps[record["experiment"]]["revs"][0]["rev"]
    full, knn, cluster = report["rows"]
    assert full["params_sha256"] != knn["params_sha256"]  # scl.mode differs
    assert knn["wall_s"] == 61.0 and "wall_s" not in full
    assert cluster["status"] == "failed" and "metrics" not in cluster
    page = ablation.report_markdown(report)
    assert f"| {100 * knn['metrics']['mAP']:.1f} |" in page
    assert "| not found | not found |" in page
    assert "| 1 min 1 s | ablation-scl-knn |" in page
    assert "CPU: test CPU, 2 cores" in page


def test_the_workspace_row_is_read_from_the_workspace_state():
    exp_show = shown()
    (record,) = ablation.track_report(
        TABLES["scl"], plan_of("full", source="workspace"), exp_show,
        dataset="synthetic_market1501", layout="market1501", command="c", wall={}, cpu="x",
    )["rows"]  # fmt: skip
    ws = exp_show[0]["data"]["metrics"]["metrics/scl.json"]["data"]
    assert record["experiment"] == "workspace" and record["metrics"]["mAP"] == ws["mAP"]


def test_paper_numbers_are_shown_with_their_table_and_row():
    row = ablation.Row(
        "knn",
        "kNN",
        ("scl.mode=knn",),
        paper={"table": "Table 9", "row": "kNN", "market1501": {"mAP": 12.5}},
    )  # made-up numbers: this checks the rendering only
    planned = ablation.PlannedRow("scl", row, "ablation-scl-knn", [], "experiment")
    report = ablation.track_report(
        TABLES["scl"], [planned], shown(), dataset="synthetic_market1501",
        layout="market1501", command="c", wall={}, cpu="x",
    )  # fmt: skip
    page = ablation.report_markdown(report)
    assert "| 12.5 | not found |" in page
    assert 'paper: Table 9, row "kNN"' in page


def test_wall_times_of_unchanged_experiments_survive_a_report_alone():
    args = dict(
        dataset="synthetic_market1501", layout="market1501", command="c", cpu="x",
    )  # fmt: skip
    first = ablation.track_report(
        TABLES["scl"], plan_of("knn"), shown(), wall={"ablation-scl-knn": 70.0}, **args
    )
    again = ablation.track_report(
        TABLES["scl"], plan_of("knn"), shown(), wall={}, earlier=first, **args
    )
    assert again["rows"][0]["wall_s"] == 70.0
    moved = copy.deepcopy(first)
    moved["rows"][0]["exp_rev"] = "another commit"
    later = ablation.track_report(
        TABLES["scl"], plan_of("knn"), shown(), wall={}, earlier=moved, **args
    )
    assert "wall_s" not in later["rows"][0]


def test_a_passing_exp_show_failure_is_asked_again_and_a_lasting_one_stops():
    answers = iter([ValueError, ValueError, "ok"])

    def flaky():
        answer = next(answers)
        if answer is ValueError:
            raise dvc_experiments.ExperimentError("directory '.dvc/tmp/exps/x/.dvc' does not exist")
        return shown()

    wall, failures = ablation.follow_queue(["ablation-scl-knn"], show=flaky, sleep=lambda s: None)
    assert list(wall) == ["ablation-scl-knn"] and failures == {}

    def broken():
        raise dvc_experiments.ExperimentError("no repository")

    with pytest.raises(ablation.AblationError, match="following the queue: no repository"):
        ablation.follow_queue(["ablation-scl-knn"], show=broken, sleep=lambda s: None)


def test_a_row_with_another_rows_params_shows_that_rows_results():
    rows = {r.name: r for r in TABLES["scl"].rows}
    plan = plan_of("knn") + [
        ablation.PlannedRow("scl", rows["cluster"], "ablation-scl-cluster", [], "same_as:knn")
    ]
    knn, twin = ablation.track_report(
        TABLES["scl"], plan, shown(), dataset="synthetic_market1501",
        layout="market1501", command="c", wall={}, cpu="x",
    )["rows"]  # fmt: skip
    assert twin["metrics"] == knn["metrics"] and twin["experiment"] == "ablation-scl-knn"
    assert twin["note"] == "params equal row knn"


def test_report_alone_reads_the_rows_the_last_run_made(fake_dvc, tmp_path):
    argv = ["--tracks", "scl", "--rows", "knn", "-S", "scl.train.epochs=2"]
    assert ablation.main(["run", *argv]) == 0
    ran = json.loads((tmp_path / "ablation_scl.json").read_text())
    fake_dvc.calls.clear()
    assert ablation.main(["report", "--tracks", "scl"]) == 0
    assert not [c for c in fake_dvc.calls if c[:2] not in (["exp", "show"], ["status"])]
    again = json.loads((tmp_path / "ablation_scl.json").read_text())
    assert again["command"] == ran["command"] and again["run"] == {
        "rows": ["knn"],
        "set": ["scl.train.epochs=2"],
    }
    assert [r["row"] for r in again["rows"]] == ["knn"]
    assert again["rows"][0]["wall_s"] == ran["rows"][0]["wall_s"]  # the same experiment
