"""DDP: 2 CPU processes (gloo) launched by torchrun train a couple of iterations in sync."""

from __future__ import annotations

import pytest
import torch

from pipeline.models.dclnet.network import build_dclnet
from tests.helpers.workers import run_worker


@pytest.mark.slow
def test_two_process_gloo_training_stays_in_sync(tiny_vi):
    run_worker("tests.dclnet.ddp_worker", tiny_vi, ranks=2, timeout=300)
    ranks = [torch.load(tiny_vi / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    rows = [rank["history"][0] for rank in ranks]
    # Each rank saw its own 4 batches, the dense loss on and the parser's losses off ...
    assert rows[0]["loss"] != rows[1]["loss"]
    assert "loss_dense" in rows[0] and "loss_pixel" not in rows[0]
    # ... and gradient averaging kept the parameters identical (BN running statistics
    # are each rank's own; DDP broadcasts rank 0's before every forward), the unused
    # parser's included.
    a, b = ranks[0]["model"], ranks[1]["model"]
    initial = build_dclnet(num_classes=6, seed=0, depth=18, width=8)
    names = [n for n, _ in initial.named_parameters()]
    assert all(torch.equal(a[k], b[k]) for k in names)
    start = initial.state_dict()["backbone.visible.conv1.weight"]
    assert not torch.equal(a["backbone.visible.conv1.weight"], start)
    written = torch.load(tiny_vi / "models" / "model.pt", weights_only=True)
    assert all(torch.equal(written[k], a[k]) for k in a)  # rank 0 wrote the output
