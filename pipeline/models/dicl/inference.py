"""Running a DICL model over images: box embeddings and gallery detections.

Both run at the test scale without flipping, one image at a time, in eval mode.
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


@torch.no_grad()
def embed_boxes(
    model: torch.nn.Module,
    records: Sequence[dict],
    mapper: PersonSearchMapper,
    *,
    desc: str = "embed boxes",
) -> list[np.ndarray]:
    """Embeddings of the boxes listed in each record's ``query_boxes`` (x1 y1 x2 y2).

    Returns:
        Per record, a float32 (n_i, E) array of L2-normalised embeddings.
    """
    was_training = model.training
    model.eval()
    rank, world = comm.get_rank(), comm.get_world_size()
    local = []
    for i, record in tqdm(_shard(records, rank, world), desc=desc, leave=False, disable=rank > 0):
        (emb,) = model.embed_boxes([mapper(record)])
        local.append((i, emb.cpu().numpy().astype(np.float32)))
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
