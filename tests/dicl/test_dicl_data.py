"""Training data: memory slots without identities, resizing, epoch batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.models.dicl.data import (
    PersonSearchMapper,
    ResizeLongShort,
    epoch_batches,
    iters_per_epoch,
    load_training_set,
)


def test_training_set_has_slots_and_no_identities(tiny_world):
    ts = load_training_set(tiny_world / "train.json", tiny_world.parent)
    anns = [a for d in ts.dicts for a in d["annotations"]]
    assert [a["memory_index"] for a in anns] == list(range(ts.num_slots))
    assert all("person_id" not in a for a in anns)
    assert ts.slot_image.tolist() == [i for i, d in enumerate(ts.dicts) for _ in d["annotations"]]
    assert ts.held_back_ids.shape == (ts.num_slots,) and (ts.held_back_ids >= 0).all()


def test_resize_keeps_ratio_within_long_and_short_sides():
    image = np.zeros((900, 1200, 3), dtype=np.uint8)
    t = ResizeLongShort([(667, 400)]).get_transform(image)
    assert (t.new_h, t.new_w) == (400, 533)  # min(667/1200, 400/900) = 0.4444
    t = ResizeLongShort([(1500, 900)]).get_transform(np.zeros((240, 320, 3), np.uint8))
    assert (t.new_h, t.new_w) == (900, 1200)  # short side binds: 900/240 < 1500/320


def test_native_scale_skips_the_resize_with_the_same_pixels_and_boxes(tiny_world):
    from detectron2.data import transforms as T

    record = load_training_set(tiny_world / "train.json", tiny_world.parent).dicts[0]
    native = (max(record["width"], record["height"]), min(record["width"], record["height"]))
    image = np.zeros((record["height"], record["width"], 3), np.uint8)
    assert isinstance(ResizeLongShort([native]).get_transform(image), T.NoOpTransform)
    skipped = PersonSearchMapper([native], flip=False, with_targets=True)(record)
    h, w = record["height"], record["width"]
    resized = PersonSearchMapper([native], flip=False, with_targets=True)
    resized.augmentations = T.AugmentationList([T.Resize((h, w))])  # PIL's same-size round trip
    through_pil = resized(record)
    assert torch.equal(skipped["image"], through_pil["image"])
    assert torch.equal(
        skipped["instances"].gt_boxes.tensor, through_pil["instances"].gt_boxes.tensor
    )


def test_mapper_carries_memory_slots_and_query_boxes(tiny_world):
    ts = load_training_set(tiny_world / "train.json", tiny_world.parent)
    record = ts.dicts[0]
    out = PersonSearchMapper([(256, 192)], flip=False, with_targets=True)(record)
    assert out["image"].shape[1:] == (192, 256)  # 96x128 scaled by 2
    inst = out["instances"]
    assert inst.gt_memory_index.tolist() == [a["memory_index"] for a in record["annotations"]]
    x, y, w, h = record["annotations"][0]["bbox"]
    assert torch.allclose(inst.gt_boxes.tensor[0], torch.tensor([x, y, x + w, y + h]).float() * 2)
    again = PersonSearchMapper([(256, 192)], flip=False, with_targets=True)(record)
    assert torch.equal(again["instances"].gt_boxes.tensor, inst.gt_boxes.tensor)  # record untouched
    query = {**record, "query_boxes": [[1.0, 2.0, 3.0, 4.0]]}
    boxed = PersonSearchMapper([(256, 192)], flip=False, with_targets=False)(query)
    assert boxed["boxes"].tolist() == [[2.0, 4.0, 6.0, 8.0]]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_epoch_batches_cover_every_image_and_depend_on_the_epoch(world):
    n, batch = 11, 2
    iters = iters_per_epoch(n, batch, world)
    shards = [
        epoch_batches(n, 4, seed=0, ims_per_batch=batch, rank=r, world_size=world)
        for r in range(world)
    ]
    assert all(len(s) == iters for s in shards)
    seen = [i for s in shards for b in s for i in b]
    assert set(seen) == set(range(n)) and len(seen) == iters * batch * world
    again = epoch_batches(n, 4, seed=0, ims_per_batch=batch, rank=0, world_size=world)
    assert again == shards[0]
    assert epoch_batches(n, 5, seed=0, ims_per_batch=batch, rank=0, world_size=world) != shards[0]


def test_instance_epochs_give_one_label_per_slot():
    from pipeline.models.dicl.pseudo_labels import PseudoLabelConfig, assign_pseudo_labels

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    feats = np.repeat(centres, 12, axis=0) + 0.01 * rng.normal(size=(36, 8))
    images = np.arange(36)  # every box in its own image: the context rule is idle
    config = PseudoLabelConfig(k1=8, k2=3, min_samples=2, instance_epochs=1)
    warm = assign_pseudo_labels(feats, images, config, instance_level=True)
    assert warm.labels.tolist() == list(range(36))
    truth = np.repeat([0, 1, 2], 12)
    clustered = assign_pseudo_labels(feats, images, config, held_back_ids=truth)
    assert clustered.stats["num_clusters"] == 3 and clustered.stats["ari"] == pytest.approx(1.0)
    # context rule: boxes 0 and 1 (one person blob) now share an image -> one leaves the cluster
    images[1] = images[0]
    split = assign_pseudo_labels(feats, images, config)
    assert split.labels[0] != split.labels[1]
    assert split.stats["num_clusters"] == 3 and split.stats["num_singletons"] == 1
