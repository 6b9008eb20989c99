"""The learning gate: the committed metrics meet ``metrics/expected.yaml`` (issue 21).

The first test is the gate CI runs: every track's committed ``metrics/<track>.json``
keeps its headline metric within tolerance and beats every floor. The others prove the
gate bites: doctored copies of the metrics, written to ``tmp_path`` and checked by the
same code against the same expectations file, must each produce their finding; a
malformed expectations file must stop with the file and the key named.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.report.expectations import (
    TRACKS,
    ExpectationsError,
    Floor,
    FloorResult,
    TrackExpectation,
    check_files,
    check_floors,
    check_track,
    floor_result,
    load_expectations,
    read_metrics,
)

REPO = Path(__file__).resolve().parents[1]
EXPECTED = REPO / "metrics" / "expected.yaml"


@pytest.mark.parametrize("track", TRACKS)
def test_committed_metrics_meet_their_expectations(track):
    expectation = load_expectations(EXPECTED)[track]
    findings = check_track(expectation, read_metrics(REPO / expectation.metrics_file))
    assert not findings, (
        f"{expectation.metrics_file} does not meet metrics/expected.yaml:\n  - "
        + "\n  - ".join(findings)
        + "\nA floor not met: training no longer beats that baseline. A headline outside its "
        "tolerance: a change moved the result; if that is intended, rerun the seed sweep "
        "(python scripts/seed_sweep.py) and update metrics/expected.yaml from its table."
    )


@pytest.mark.parametrize("track", TRACKS)
def test_an_open_floor_is_still_not_met(track):
    # `open` excuses a floor from the gate only while it is not met: once the committed
    # metrics meet it, the mark must go (after a sweep shows every seed meets it).
    expectation = load_expectations(EXPECTED)[track]
    metrics = read_metrics(REPO / expectation.metrics_file)
    for floor in (f for f in expectation.floors if f.open):
        result = floor_result(expectation, floor, metrics)
        assert isinstance(result, FloorResult), result
        assert not result.met, (
            f"{expectation.metrics_file} now meets `{floor.name}` ({result.value:.3f}), marked "
            f"open in metrics/expected.yaml: sweep the track (python scripts/seed_sweep.py "
            f"--tracks {track}) and remove `open` once every seed meets it."
        )


# -- the gate bites: doctored copies -------------------------------------------------
def sound_metrics(expectation: TrackExpectation, headline: float | None = None) -> dict:
    """The committed metrics, set to meet every expectation with 0.01 to spare.

    The committed files need not pass (a track being fixed fails the gate above), so
    each doctored test starts from this and breaks exactly one thing.
    """
    metrics = read_metrics(REPO / expectation.metrics_file)
    value = expectation.headline.expected if headline is None else headline
    metrics[expectation.headline.metric] = value
    for floor in expectation.floors:
        if floor.over is not None:
            baseline = round(metrics[floor.metric] - floor.margin - 0.01, 6)
            assert baseline >= 0, f"{expectation.name}: {value} cannot meet {floor.name}"
            metrics[floor.over] = baseline
        elif floor.metric != expectation.headline.metric:
            metrics[floor.metric] = round(floor.at_least + 0.01, 6)
    return metrics


def write_metrics(root: Path, expectation: TrackExpectation, metrics: dict) -> None:
    path = root / expectation.metrics_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metrics, sort_keys=True, indent=2), encoding="utf-8")


def gate_on_copy(tmp_path: Path, track: str, doctor) -> list[str]:
    """Every track's sound metrics in ``tmp_path``, ``doctor(metrics)`` applied to one."""
    expectations = load_expectations(EXPECTED)
    for expectation in expectations.values():
        metrics = sound_metrics(expectation)
        if expectation.name == track:
            doctor(metrics)
        write_metrics(tmp_path, expectation, metrics)
    return check_files(expectations, tmp_path)


def test_the_gate_passes_a_sound_copy(tmp_path):
    assert gate_on_copy(tmp_path, "scl", lambda metrics: None) == []


@pytest.mark.parametrize("track", TRACKS)
def test_the_gate_fails_when_training_does_not_beat_the_untrained_model(tmp_path, track):
    expectation = load_expectations(EXPECTED)[track]
    floor = next(f for f in expectation.floors if (f.over or "").startswith("init_"))

    def doctor(metrics):  # the untrained model 0.01 short of the margin below the trained
        metrics[floor.over] = round(metrics[floor.metric] - floor.margin + 0.01, 6)

    findings = gate_on_copy(tmp_path, track, doctor)
    assert len(findings) == 1, findings
    assert findings[0].startswith(f"{track} {floor.metric} ")
    assert f"does not beat {floor.over} " in findings[0]
    assert findings[0].endswith(f"by {floor.margin:g} (margin {floor.margin - 0.01:+.3f})")


@pytest.mark.parametrize("track", TRACKS)
@pytest.mark.parametrize("direction", [1, -1])
def test_the_gate_fails_when_the_headline_leaves_its_tolerance(tmp_path, track, direction):
    headline = load_expectations(EXPECTED)[track].headline
    moved = round(headline.expected + direction * (headline.tolerance + 0.005), 6)

    def doctor(metrics):
        # Baselines follow the move, so only the headline check can fail.
        metrics.update(sound_metrics(load_expectations(EXPECTED)[track], headline=moved))

    findings = gate_on_copy(tmp_path, track, doctor)
    assert findings == [
        f"{track} {headline.metric} {moved:.3f} is outside "
        f"{headline.expected:.3f} +- {headline.tolerance:g}"
    ]


def test_a_headline_at_the_edge_of_its_tolerance_passes(tmp_path):
    headline = load_expectations(EXPECTED)["dclnet"].headline
    edge = round(headline.expected + headline.tolerance, 6)

    def doctor(metrics):
        metrics.update(sound_metrics(load_expectations(EXPECTED)["dclnet"], headline=edge))

    assert gate_on_copy(tmp_path, "dclnet", doctor) == []


def test_the_gate_fails_when_a_metric_is_missing(tmp_path):
    findings = gate_on_copy(tmp_path, "scl", lambda metrics: metrics.pop("hist_mAP"))
    assert findings == ["scl: hist_mAP is missing from metrics/scl.json"]


def test_a_missing_headline_metric_is_reported_once(tmp_path):
    findings = gate_on_copy(tmp_path, "scl", lambda metrics: metrics.pop("mAP"))
    assert findings == ["scl: mAP is missing from metrics/scl.json"]


def test_a_metric_written_as_null_is_not_a_number(tmp_path):
    # pipeline.io writes NaN as null.
    findings = gate_on_copy(tmp_path, "dclnet", lambda m: m.update(all_single_mAP=None))
    assert findings == ["dclnet: all_single_mAP in metrics/dclnet.json is not a number (None)"]


def test_the_gate_fails_on_a_detection_recall_of_0_79():
    dicl = load_expectations(EXPECTED)["dicl"]
    closed = replace(dicl, floors=tuple(replace(f, open=None) for f in dicl.floors))
    metrics = {**sound_metrics(closed), "det_recall": 0.79}
    assert check_track(closed, metrics) == ["dicl det_recall 0.790 is below its floor 0.8"]


def test_an_open_floor_leaves_the_gate_but_not_the_sweep():
    dicl = load_expectations(EXPECTED)["dicl"]
    recall = Floor(metric="det_recall", at_least=0.8)
    metrics = {**sound_metrics(dicl), "det_recall": 0.79}
    closed = replace(dicl, floors=(recall,))
    opened = replace(dicl, floors=(replace(recall, open="the detector is short of data"),))
    unmet = ["dicl det_recall 0.790 is below its floor 0.8"]
    assert check_track(closed, metrics) == unmet
    assert check_track(opened, metrics) == []
    assert check_floors(opened, metrics, include_open=True) == unmet


def test_a_missing_or_unreadable_metrics_file_names_the_file(tmp_path):
    expectations = load_expectations(EXPECTED)
    with pytest.raises(ExpectationsError, match=r"metrics[/\\]dicl\.json: file not found"):
        check_files(expectations, tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "dicl.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ExpectationsError, match=r"dicl\.json: not valid JSON"):
        check_files(expectations, tmp_path)


def test_a_margin_met_exactly_counts_as_met():
    # 0.35 - 0.2 is 0.1499999... in binary; the metrics are 6-decimal numbers.
    floor = Floor(metric="mAP", over="init_mAP", margin=0.15)
    assert FloorResult(floor, 0.35, 0.2).met
    assert not FloorResult(floor, 0.349999, 0.2).met
    assert FloorResult(Floor(metric="det_recall", at_least=0.8), 0.8, 0.8).met


# -- a malformed expectations file stops with the file and the key named ---------------
VALID = """\
tracks:
  dicl:
    metrics: metrics/dicl.json
    headline: {metric: mAP, expected: 0.3, tolerance: 0.03}
    floors:
      - {metric: mAP, over: init_mAP, margin: 0.15}
      - {metric: det_recall, at_least: 0.8}
  scl:
    metrics: metrics/scl.json
    headline: {metric: mAP, expected: 0.3, tolerance: 0.03}
    floors: [{metric: mAP, over: hist_mAP, margin: 0.05}]
  dclnet:
    metrics: metrics/dclnet.json
    headline: {metric: all_single_mAP, expected: 0.2, tolerance: 0.03}
    floors: [{metric: all_single_mAP, over: init_all_single_mAP, margin: 0.15}]
"""

MALFORMED = {
    "missing_key": (
        (
            "    headline: {metric: mAP, expected: 0.3, tolerance: 0.03}\n    floors:\n",
            "    floors:\n",
        ),
        "tracks.dicl.headline: required key is missing",
    ),
    "unknown_track": (
        ("tracks:\n", "tracks:\n  reid: {}\n"),
        "tracks.reid: unknown track; the tracks are dicl, scl, dclnet",
    ),
    "missing_track": (
        (VALID[VALID.index("  scl:") : VALID.index("  dclnet:")], ""),
        "tracks.scl: required track is missing",
    ),
    "non_numeric_margin": (
        ("margin: 0.05", "margin: five"),
        "tracks.scl.floors.0.margin: value 'five' is not a number",
    ),
    "quoted_number": (
        ("expected: 0.2,", "expected: '0.2',"),
        "tracks.dclnet.headline.expected: value '0.2' is not a number",
    ),
    "boolean_tolerance": (
        (
            "tolerance: 0.03}\n    floors: [{metric: mAP",
            "tolerance: true}\n    floors: [{metric: mAP",
        ),
        "tracks.scl.headline.tolerance: value True is not a number",
    ),
    "negative_tolerance": (
        ("expected: 0.2, tolerance: 0.03", "expected: 0.2, tolerance: -0.03"),
        "tracks.dclnet.headline.tolerance: value -0.03 not allowed: expected >= 0",
    ),
    "unknown_key_in_floor": (
        ("{metric: det_recall, at_least: 0.8}", "{metric: det_recall, at_least: 0.8, over: x}"),
        "tracks.dicl.floors.1.over: unknown key; allowed: metric, at_least, open",
    ),
    "empty_open_reason": (
        ("{metric: det_recall, at_least: 0.8}", "{metric: det_recall, at_least: 0.8, open: ''}"),
        "tracks.dicl.floors.1.open: expected why the floor is not met yet, got ''",
    ),
    "no_floors": (
        ("floors: [{metric: mAP, over: hist_mAP, margin: 0.05}]", "floors: []"),
        "tracks.scl.floors: expected a non-empty list",
    ),
    "invalid_yaml": (
        ("tracks:\n", "tracks: [\n"),
        "not valid YAML",
    ),
}


def test_the_valid_example_loads(tmp_path):
    path = tmp_path / "expected.yaml"
    path.write_text(VALID, encoding="utf-8")
    expectations = load_expectations(path)
    assert list(expectations) == list(TRACKS)
    assert expectations["dicl"].floors[1] == Floor(metric="det_recall", at_least=0.8)
    assert expectations["dicl"].metric_names == ("mAP", "init_mAP", "det_recall")
    opened = VALID.replace("at_least: 0.8}", "at_least: 0.8, open: ' issue 21 '}")
    path.write_text(opened, encoding="utf-8")
    assert load_expectations(path)["dicl"].floors[1].open == "issue 21"


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_expectations_file_names_the_file_and_the_key(tmp_path, case):
    (old, new), message = MALFORMED[case]
    assert VALID.count(old) == 1, f"{case}: the edit must match the example once"
    path = tmp_path / "expected.yaml"
    path.write_text(VALID.replace(old, new), encoding="utf-8")
    with pytest.raises(ExpectationsError) as info:
        load_expectations(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_a_missing_expectations_file_names_it(tmp_path):
    with pytest.raises(ExpectationsError, match="nothing.yaml: file not found"):
        load_expectations(tmp_path / "nothing.yaml")
