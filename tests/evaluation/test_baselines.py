"""The model-beside-baselines frame SCL and DCLNet share (pipeline/evaluation/baselines.py)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.evaluation.baselines import (
    Scored,
    TopK,
    key_prefix,
    score_baselines,
    top_k_ranking,
    write_eval_plots,
    write_ranked_sample,
)


def test_prefixes_curves_and_details_in_order():
    calls = []

    def scorer(kind, value):
        def score():
            calls.append(kind)
            return Scored({"mAP": value, "rank1": value}, np.array([value, 1.0]), kind.upper())

        return score

    scores = score_baselines(
        "track",
        {"model": scorer("model", 0.5), "init": scorer("init", 0.1), "hist": scorer("hist", 0.2)},
    )
    assert calls == ["model", "init", "hist"]
    assert scores.metrics == {
        "mAP": 0.5, "rank1": 0.5, "init_mAP": 0.1, "init_rank1": 0.1, "hist_mAP": 0.2,
        "hist_rank1": 0.2,
    }  # fmt: skip
    assert list(scores.curves) == ["track", "init", "hist"]
    assert scores.details == {"model": "MODEL", "init": "INIT", "hist": "HIST"}
    assert [key_prefix(k) for k in ("model", "init", "hist")] == ["", "init_", "hist_"]


def test_streamed_top_k_equals_the_whole_matrix_and_puts_excluded_last():
    rng = np.random.default_rng(0)
    dist = rng.random((7, 12))
    dist[:, 3] = dist[:, 4]  # ties keep gallery order
    excluded = rng.random((7, 12)) < 0.3
    whole = top_k_ranking(dist, excluded, 5)
    top = TopK((dist[i : i + 3] for i in range(0, 7, 3)), lambda rows: excluded[rows], 5)
    seen = list(top)
    assert np.array_equal(np.concatenate(seen), dist)  # blocks pass through unchanged
    assert np.array_equal(top.ranking(), whole)
    for row, ranked in enumerate(top_k_ranking(dist, excluded, 12)):
        kept = ~excluded[row, ranked]
        assert not np.any(kept[np.argmin(kept) :]) or kept.all()  # excluded items come last
    assert np.array_equal(top_k_ranking(dist, None, 4), np.argsort(dist, kind="stable")[:, :4])


def test_plots_folder_holds_the_curves_and_the_drawing(tmp_path):
    curves = {"track": np.array([0.5, 1.0]), "init": np.array([0.25, 0.5])}
    write_eval_plots(tmp_path / "eval", curves, lambda folder: (folder / "x.txt").write_text("x"))
    assert sorted(p.name for p in (tmp_path / "eval").iterdir()) == ["cmc.csv", "x.txt"]
    header = (tmp_path / "eval/cmc.csv").read_text().splitlines()[0]
    assert "track" in header and "init" in header


def test_ranked_sample_draws_the_seeded_queries_or_nothing(tmp_path):
    paths = []
    for i in range(4):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (8, 16), (60 * i, 0, 0)).save(path)
        paths.append(path)
    ranked = np.array([[1, 2], [0, 2], [3, 0], [2, 1]])
    correct = ranked % 2 == 0
    write_ranked_sample(
        tmp_path / "none.png", paths, paths, ranked, correct, count=0, seed=0, top_k=2
    )
    assert not (tmp_path / "none.png").exists()
    for name in ("a.png", "b.png"):
        write_ranked_sample(
            tmp_path / name, paths, paths, ranked, correct, count=2, seed=1, top_k=2
        )
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
