"""The training objective: switches, weights, where each loss sends its gradient."""

from __future__ import annotations

import pytest
import torch

from pipeline.models.dclnet.network import build_dclnet
from pipeline.models.dclnet.objective import LOSS_NAMES, DclnetObjective
from pipeline.models.dclnet.part_masks import stripe_masks
from pipeline.models.dclnet.settings import DclnetSettings, LossSettings, PapSettings, SrmSettings
from tests.real_config import merged, track_section

# The paper's loss and SRM sections as conf/dclnet holds them; a test changes a few keys.
PAPER = track_section("dclnet")


def loss_settings(changes: dict | None = None) -> LossSettings:
    return LossSettings.model_validate(merged(PAPER["loss"], changes or {}))


def srm_settings(**changes) -> SrmSettings:
    return SrmSettings.model_validate(merged(PAPER["srm"], changes))


def pap_settings(enabled: bool = True) -> PapSettings:
    return PapSettings.model_validate(merged(PAPER["pap"], {"enabled": enabled}))


def objective_for(
    losses: LossSettings, srm: SrmSettings | None = None, pap: PapSettings | None = None
) -> DclnetObjective:
    # Batches of 2 identities (labels below): the centre-triplet anchor stride.
    return DclnetObjective(losses, pap or pap_settings(), srm or srm_settings(), 6, 2)


def batch(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(8, 3, 96, 48, generator=gen)
    labels = torch.tensor([0, 0, 1, 1] * 2)
    return images, labels


def run(losses: LossSettings, srm: SrmSettings | None = None):
    model = build_dclnet(num_classes=3, seed=0, depth=18, width=8)
    images, labels = batch()
    out = model(images[:4], images[4:])
    objective = objective_for(losses, srm)
    total, logged = objective(out, labels, images, model.part_classifier.weight.detach())
    return model, total, logged


def only(name: str, weight: float = 1.0) -> LossSettings:
    off = {n: {"enabled": n == name, "weight": weight} for n in LOSS_NAMES}
    return loss_settings(off)


def test_total_is_the_weighted_sum_of_enabled_terms():
    weights = {
        "id": 1.0,
        "center_triplet": 0.5,
        "part": 2.0,
        "pixel": 1.0,
        "smooth": 3.0,
        "dense": 0.25,
    }
    losses = loss_settings({n: {"weight": w} for n, w in weights.items()})
    _, total, logged = run(losses)
    assert set(logged) >= {f"loss_{n}" for n in LOSS_NAMES}
    expected = sum(w * logged[f"loss_{n}"] for n, w in weights.items())
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert logged["loss"] == pytest.approx(expected, rel=1e-5)
    assert 0.0 <= logged["dense_pixels"] <= 1.0


def test_disabled_loss_is_not_computed():
    losses = loss_settings({"dense": {"enabled": False}, "smooth": {"enabled": False}})
    _, _, logged = run(losses)
    assert "loss_dense" not in logged and "loss_smooth" not in logged and "loss_pixel" in logged


def test_every_loss_disabled_is_an_error():
    with pytest.raises(ValueError, match="disabled"):
        run(loss_settings({n: {"enabled": False} for n in LOSS_NAMES}))


def grads(model) -> dict[str, bool]:
    def has(prefix):
        return any(
            p.grad is not None and p.grad.abs().sum() > 0
            for n, p in model.named_parameters()
            if n.startswith(prefix)
        )

    return {
        prefix: has(prefix)
        for prefix in (
            "backbone.visible",
            "backbone.infrared",
            "backbone.shared",
            "pixel_visible",
            "pixel_infrared",
            "part_classifier",
            "classifier",
        )
    }


def test_dense_loss_trains_only_the_modality_streams():
    # The masks are made without gradients (parser labels, remask over detached maps).
    model, total, logged = run(only("dense"), srm_settings(cam_label="target"))
    total.backward()
    g = grads(model)
    assert g["backbone.visible"] and g["backbone.infrared"]
    assert not (g["backbone.shared"] or g["pixel_visible"] or g["classifier"])


def test_pixel_losses_train_only_the_parsers():
    for name in ("pixel", "smooth"):
        model, total, _ = run(only(name))
        total.backward()
        g = grads(model)
        assert g["pixel_visible"] and g["pixel_infrared"]
        assert not (g["backbone.visible"] or g["backbone.shared"] or g["classifier"])


def test_part_loss_trains_only_the_part_head():
    model, total, _ = run(only("part"))
    total.backward()
    g = grads(model)
    assert g["part_classifier"] and not (g["backbone.shared"] or g["backbone.visible"])


def test_id_loss_reaches_the_backbone():
    model, total, _ = run(only("id"))
    total.backward()
    g = grads(model)
    assert g["classifier"] and g["backbone.shared"] and g["backbone.visible"]


def test_erased_pixels_are_ignored_in_the_masks():
    model = build_dclnet(num_classes=3, seed=0, depth=18, width=8)
    images, labels = batch()
    images[:, :, :48] = 0.0  # the top half of every image erased
    out = model(images[:4], images[4:])
    for srm in (srm_settings(enabled=True), srm_settings(enabled=False)):
        masks = objective_for(loss_settings(), srm).masks(
            out, labels, images, model.part_classifier.weight
        )
        assert (masks.cam[:, :12] == -1).all() and (masks.parsed[:, :12] == -1).all()
        assert (masks.cam[:, 12:] >= 0).all() and (masks.parsed[:, 12:] >= 0).all()


def _masks(pap: bool, srm: bool, images=None):
    model = build_dclnet(num_classes=3, seed=0, depth=18, width=8)
    images, labels = batch() if images is None else (images, batch()[1])
    out = model(images[:4], images[4:])
    objective = objective_for(loss_settings(), srm_settings(enabled=srm), pap_settings(pap))
    return out, objective.masks(out, labels, images, model.part_classifier.weight)


def test_pap_off_without_srm_gives_the_dense_loss_fixed_stripes():
    _, masks = _masks(pap=False, srm=False)
    assert torch.equal(masks.parsed, stripe_masks(8, (24, 12), parts=6))


def test_pap_on_without_srm_gives_the_parsers_labels():
    from pipeline.models.dclnet.part_masks import parsing_masks

    out, masks = _masks(pap=True, srm=False)
    assert torch.equal(masks.parsed, parsing_masks(out.pixel_logits))


def test_srm_relabels_the_parsed_masks_with_remask():
    from pipeline.models.dclnet.part_masks import parsing_masks, remask

    out, masks = _masks(pap=True, srm=True)
    parsed = parsing_masks(out.pixel_logits)
    low = torch.cat((out.visible_low, out.infrared_low))
    assert torch.equal(masks.parsed, remask(low, parsed, 6, 1, parsed))


def test_pap_off_refuses_the_parsers_losses():
    section = merged(PAPER, {"dataset": "synthetic_sysu_mm01", "pap": {"enabled": False}})
    with pytest.raises(ValueError, match=r"dclnet.loss.pixel.enabled=false"):
        DclnetSettings.model_validate(section)
    off = {"enabled": False}
    section = merged(section, {"loss": {"pixel": off, "smooth": off}})
    assert not DclnetSettings.model_validate(section).pap.enabled
