"""Running a DICL model over images: box embeddings and gallery detections.

Both run at the test scale without flipping, in eval mode; ``detect`` one image at a
time, ``embed_boxes`` ``batch_images`` images per forward pass (the memory
initialisation embeds every training box before the first step: one image at a time
it left the GPU waiting on the host, issue 23).
``embed_boxes`` gives the embedding of given boxes (the queries of the search
protocol; every training box when the memory is initialised, as the official
``ExtractFeatureHook`` does); ``detect`` gives each gallery image's detections
with their scores and embeddings, in the original image frame. In distributed
runs each process takes every ``world_size``-th image and the results are
gathered, so every process ends with all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from detectron2.structures import BoxMode
from detectron2.utils import comm
from tqdm import tqdm

from pipeline.evaluation.detection import Detections
from pipeline.models.dicl.data import PersonSearchMapper


def annotation_boxes_xyxy(record: dict) -> np.ndarray:
    """(n, 4) x1, y1, x2, y2 boxes of a detectron2 dict's annotations."""
    boxes = [
        BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
        for a in record["annotations"]
    ]
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def _shard(items: Sequence, rank: int, world: int) -> list[tuple[int, object]]:
    return [(i, items[i]) for i in range(rank, len(items), world)]


def _gather(local: list[tuple[int, object]], total: int) -> list:
    parts = comm.all_gather(local) if comm.get_world_size() > 1 else [local]
    out: list = [None] * total
    for part in parts:
        for i, value in part:
            out[i] = value
    return out


def _size_ordered_batches(
    shard: list[tuple[int, dict]], batch_images: int
) -> list[list[tuple[int, dict]]]:
    """``shard`` cut into batches of images of equal or near size (less padding in a batch)."""
    ordered = sorted(shard, key=lambda item: (item[1]["height"], item[1]["width"], item[0]))
    return [ordered[k : k + batch_images] for k in range(0, len(ordered), batch_images)]


@torch.no_grad()
def embed_boxes(
    model: torch.nn.Module,
    records: Sequence[dict],
    mapper: PersonSearchMapper,
    *,
    batch_images: int,
    desc: str = "embed boxes",
) -> list[np.ndarray]:
    """Embeddings of the boxes listed in each record's ``query_boxes`` (x1 y1 x2 y2).

    Images go through the model ``batch_images`` at a time, grouped by size; a batch's
    images are padded to its largest (as in training), so an image batched with a
    larger one can differ slightly from its embedding alone; images of one size give
    the same embeddings as one at a time. One device-to-host copy per batch.

    Returns:
        Per record, in ``records``' order, a float32 (n_i, E) array of L2-normalised
        embeddings.
    """
    if batch_images < 1:
        raise ValueError(f"batch_images must be >= 1, got {batch_images}")
    was_training = model.training
    model.eval()
    rank, world = comm.get_rank(), comm.get_world_size()
    local = []
    batches = _size_ordered_batches(_shard(records, rank, world), batch_images)
    for batch in tqdm(batches, desc=desc, leave=False, disable=rank > 0):
        per_image = model.embed_boxes([mapper(record) for _, record in batch])
        counts = [len(e) for e in per_image]
        flat = torch.cat(per_image).float().cpu().numpy()
        for (i, _), emb in zip(batch, np.split(flat, np.cumsum(counts)[:-1]), strict=True):
            local.append((i, emb))
    model.train(was_training)
    return _gather(local, len(records))


@torch.no_grad()
def detect(
    model: torch.nn.Module,
    records: Sequence[dict],
    mapper: PersonSearchMapper,
    *,
    desc: str = "detect",
) -> dict:
    """Detections of every image, keyed by ``image_id``: boxes x1 y1 x2 y2, scores, embeddings."""
    was_training = model.training
    model.eval()
    rank, world = comm.get_rank(), comm.get_world_size()
    local = []
    for i, record in tqdm(_shard(records, rank, world), desc=desc, leave=False, disable=rank > 0):
        (result,) = model([mapper(record)])
        inst = result["instances"].to("cpu")
        local.append(
            (
                i,
                Detections(
                    boxes=inst.pred_boxes.tensor.numpy().astype(np.float64),
                    scores=inst.scores.numpy().astype(np.float64),
                    features=inst.embeddings.numpy().astype(np.float32),
                ),
            )
        )
    model.train(was_training)
    results = _gather(local, len(records))
    return {record["image_id"]: det for record, det in zip(records, results, strict=True)}
