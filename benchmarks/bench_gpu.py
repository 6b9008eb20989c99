"""Training cost of each paper profile on one device (issue 23): a GPU node's first check.

For each profile (a track's real-dataset option: DICL on CUHK-SYSU and PRW, SCL on
Market-1501 and MSMT17, DCLNet on SYSU-MM01 and RegDB) it renders a small synthetic
world at the real dataset's image size (``pipeline.data.synthetic``), resizes the
images to what that option's network sees, builds the network from the option's
settings with random weights (no download), and trains ``--steps`` steps of the
track's objective on the device. It reports, per profile:

- ``first_step_s``: model build, transfer and the first step (CUDA context, cuDNN
  and allocator warm-up included);
- ``it_per_s`` and ``images_per_s`` over the steps after the first two;
- ``peak_memory_gib``: ``torch.cuda.max_memory_allocated`` on a GPU, the process's
  peak RSS on the CPU (``peak_memory_kind`` says which);
- ``losses_finite``: every step's loss was finite;
- ``nondeterministic_ops``: the distinct warnings of
  ``torch.use_deterministic_algorithms(True, warn_only=True)``, i.e. the ops the
  stages (``runtime.deterministic: true``) would stop on, or run without a
  deterministic kernel;
- DICL only, ``inference``: the memory initialisation's path before the first step
  (``MemoryInitHook``: the test mapper reading and resizing each scene, then
  ``inference.embed_boxes`` in batches of ``test.batch_images``) and the gallery's
  (``inference.detect``), timed apart: images/s of each and the seconds the mapper
  alone takes, so a host-side stall shows as mapper time or as embed time with the
  device idle.

``--torch-profile`` adds, per profile, torch.profiler's table of a few steps after the
timed ones (self device time first on a GPU, self CPU time on the CPU), written beside
the JSON as ``<out stem>_<profile>_profile.txt``, its top rows also in the JSON.

The batches' labels (and DICL's boxes) are drawn at random: the figures are costs,
not accuracies. ``--tiny`` swaps in each track's synthetic option's thin network,
small images and a small batch, so the harness runs end to end on a laptop CPU.

Usage (repository root)::

    python benchmarks/bench_gpu.py --device cuda [--profiles dicl_cuhk_sysu,scl_market1501]
        [--steps 20] [--precision fp32|bf16] [--torch-profile]
        [--out benchmarks/results/bench_gpu.json]
    nice -n 10 python benchmarks/bench_gpu.py --device cpu --tiny
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.compose import compose_params  # noqa: E402
from pipeline.data.synthetic import render  # noqa: E402
from pipeline.params import RuntimeSettings, validate  # noqa: E402
from pipeline.runtime import setup  # noqa: E402

CONF = REPO / "conf"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "bench_gpu.json"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


@dataclass(frozen=True)
class Profile:
    """One paper profile: the option it trains, and its real images' (width, height).

    ``image_size`` is the real dataset's frame or crop size (CUHK-SYSU's frames vary
    around 800x600, PRW's are 1920x1080 video frames; Market-1501's crops are 64x128;
    MSMT17's, SYSU-MM01's visible and RegDB's vary or are 64x128 too; SYSU-MM01's
    near-infrared crops are smaller, as its synthetic world renders them).
    """

    name: str
    track: str
    option: str  # conf/<track>/dataset/<option>.yaml
    layout: str  # the synthetic renderer
    image_size: tuple[int, int]
    infrared_size: tuple[int, int] | None = None


PROFILES = {
    p.name: p
    for p in (
        Profile("dicl_cuhk_sysu", "dicl", "cuhk_sysu", "cuhk_sysu", (800, 600)),
        Profile("dicl_prw", "dicl", "prw", "cuhk_sysu", (1920, 1080)),
        Profile("scl_market1501", "scl", "market1501", "market1501", (64, 128)),
        Profile("scl_msmt17", "scl", "msmt17", "market1501", (128, 256)),
        Profile("dclnet_sysu_mm01", "dclnet", "sysu_mm01", "sysu_mm01", (128, 256), (112, 224)),
        Profile("dclnet_regdb", "dclnet", "regdb", "regdb", (64, 128), (64, 128)),
    )
}
# --tiny: each track's synthetic option (thin nets), images shrunk by this factor
# (renderer minimums kept), batches of at most this many images or identities.
TINY_OPTION = {
    "dicl_cuhk_sysu": "synthetic_cuhk_sysu",
    "dicl_prw": "synthetic_cuhk_sysu",
    "scl_market1501": "synthetic_market1501",
    "scl_msmt17": "synthetic_market1501",
    "dclnet_sysu_mm01": "synthetic_sysu_mm01",
    "dclnet_regdb": "synthetic_regdb",
}
TINY_SHRINK = 4
TINY_BATCH = 2
# --torch-profile: steps profiled, rows of the table kept in the JSON (per step).
PROFILE_STEPS = 3
PROFILE_ROWS = 12
# A small world: few identities, few images (a batch is drawn from it, with repeats).
WORLD = {
    "cuhk_sysu": {
        "num_train_scenes": 4,
        "num_test_scenes": 3,
        "num_train_ids": 2,
        "num_test_ids": 2,
        "max_appearances": 2,
        "gallery_sizes": [2],
        "num_zero_size_boxes": 0,
    },
    "market1501": {
        "num_train_ids": 4,
        "num_test_ids": 2,
        "num_val_ids": 0,
        "num_distractors": 0,
        "num_junk": 0,
        "min_images_per_camera": 1,
        "max_images_per_camera": 2,
    },
    "sysu_mm01": {"num_train_ids": 4, "num_val_ids": 1, "num_test_ids": 2},
    "regdb": {"num_ids": 4, "images_per_id": 2},
}


# -- the world -----------------------------------------------------------------


def render_world(profile: Profile, shrink: int, folder: Path) -> dict[str, list[np.ndarray]]:
    """Render ``profile``'s small world; return its images as HxWx3 uint8 arrays,
    ``{"visible": [...], "infrared": [...]}`` (infrared only for the cross-modal sets)."""
    params = compose_params([], CONF)["datasets"][f"synthetic_{profile.layout}"]["render"]
    params = {**params, **WORLD[profile.layout]}
    w, h = profile.image_size
    if profile.infrared_size is None:
        params.update(width=max(64, w // shrink), height=max(64, h // shrink))
    else:
        iw, ih = profile.infrared_size
        params.update(
            rgb_width=max(16, w // shrink),
            rgb_height=max(32, h // shrink),
            infrared_width=max(16, iw // shrink),
            infrared_height=max(32, ih // shrink),
        )
    out = folder / profile.layout
    render(profile.layout, params, out, prefix=f"datasets.synthetic_{profile.layout}.render")
    images: dict[str, list[np.ndarray]] = {"visible": [], "infrared": []}
    for path in sorted(p for p in out.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        parts = {part.lower() for part in path.relative_to(out).parts}
        infrared = bool(parts & {"thermal", "cam3", "cam6"})
        images["infrared" if infrared else "visible"].append(
            np.asarray(Image.open(path).convert("RGB"))
        )
    if not images["visible"]:
        raise RuntimeError(f"bench_gpu: the {profile.layout} renderer wrote no images in {out}")
    return images


def as_batch(images: list[np.ndarray], count: int, size: tuple[int, int]) -> torch.Tensor:
    """``count`` images (cycling through the world), resized to ``size`` (h, w), in [0, 1]."""
    picked = [images[i % len(images)] for i in range(count)]
    out = [
        F.interpolate(
            torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255.0,
            size=size,
            mode="bilinear",
            align_corners=False,
        )
        for im in picked
    ]
    return torch.cat(out)


# -- the tracks' steps -----------------------------------------------------------
# Each returns (step, images per step): step() runs one optimisation step on the
# device and returns its loss as a detached 0-d tensor.

Step = Callable[[], torch.Tensor]


def scl_step(settings, world, device, batch: int, autocast) -> tuple[Step, int]:
    from pipeline.losses.cluster_contrast import cluster_contrast_loss
    from pipeline.losses.selective_contrastive import (
        positive_weights,
        selective_contrastive_loss,
    )
    from pipeline.models.scl.entry import build_model
    from pipeline.models.scl.memory import ClusterMemory, InstanceMemory
    from pipeline.models.scl.selection import select_in_clusters, selection_distance

    st = settings
    m = st.model
    net = build_model(st, seed=0, pretrained=False, device=device)
    train = st.train
    optimizer = torch.optim.SGD(
        net.parameters(),
        lr=train.lr,
        momentum=train.momentum,
        nesterov=train.nesterov and train.momentum > 0,
        weight_decay=train.weight_decay,
    )
    size = (st.data.height, st.data.width)
    # A memory the size of a real round's would only cost more selection: a few
    # thousand slots with the cluster rule exercise every kernel the step uses.
    n = max(4 * batch, 2 * (st.selection.num_positives + st.selection.num_negatives))
    gen = torch.Generator().manual_seed(0)
    memory = InstanceMemory(
        size=n,
        global_dim=m.global_dim,
        num_stripes=m.num_stripes,
        local_dim=m.local_dim,
        cameras=torch.randint(1, 7, (n,), generator=gen),
        momentum=st.memory.momentum,
        device=device,
    )
    memory.reset_distance_banks(
        torch.randn(n, m.global_dim, generator=gen).to(device),
        torch.randn(n, m.num_stripes, m.local_dim, generator=gen).to(device),
    )
    memory.mixture_bank.copy_(
        F.normalize(torch.randn(n, m.num_stripes * m.local_dim, generator=gen), dim=1).to(device)
    )
    labels = (torch.arange(n) % max(n // 8, 1)).to(device)
    clusters = ClusterMemory(
        m.global_dim, m.num_stripes * m.local_dim, st.memory.cluster_momentum, device
    )
    clusters.reset(labels.cpu(), memory.global_bank.cpu(), memory.local_bank.flatten(1).cpu())
    images = as_batch(world["visible"], batch, size).to(device)
    net.train()

    def step() -> torch.Tensor:
        idx = torch.randperm(n, generator=gen)[:batch].to(device)
        with autocast():
            g, loc = net(images)
        g, loc = g.float(), loc.float()
        s = st.selection
        dist = selection_distance(
            g,
            loc,
            memory.cameras[idx],
            memory.global_bank,
            memory.local_bank,
            memory.cameras,
            lambda_g=s.lambda_g,
            camera_penalty=s.camera_penalty,
        )
        sel = select_in_clusters(
            dist, idx, labels, num_positives=s.num_positives, num_negatives=s.num_negatives
        )
        w = positive_weights(
            sel.positive_valid,
            self_weight=st.loss.self_weight,
            neighbour_scale=st.loss.neighbour_scale,
        )
        lcat = loc.flatten(1)
        losses = []
        for feats, centroids in ((g, clusters.global_centroids), (lcat, clusters.local_centroids)):
            inst, _ = selective_contrastive_loss(
                feats,
                memory.mixture_bank,
                sel.candidates,
                sel.valid,
                w,
                temperature=st.loss.temperature,
            )
            cc = cluster_contrast_loss(
                feats, centroids, labels[idx], temperature=st.loss.cluster_temperature
            )
            losses.append(inst + st.loss.cluster_weight * cc)
        loss = st.loss.local_weight * losses[1] + (1.0 - st.loss.local_weight) * losses[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        memory.update_mixture(sel.positives, sel.positive_valid, g.detach(), lcat.detach())
        memory.update_distance_banks(idx, g.detach(), loc.detach())
        clusters.update(labels[idx], g.detach(), lcat.detach())
        return loss.detach()

    return step, batch


def dclnet_step(settings, world, device, ids: int, autocast) -> tuple[Step, int]:
    from pipeline.models.dclnet.entry import build_model
    from pipeline.models.dclnet.objective import DclnetObjective
    from pipeline.models.dclnet.trainer import build_optimizer

    st = settings
    per_id = st.sampler.images_per_id
    n = ids * per_id
    model = build_model(st, seed=0, num_classes=max(ids, 2), pretrained=False, device=device)
    objective = DclnetObjective.from_settings(st)
    optimizer = build_optimizer(
        model, st.train.lr, st.train.backbone_lr_mult, st.train.weight_decay
    )
    size = (st.input.height, st.input.width)
    infrared = world["infrared"] or world["visible"]
    images = torch.cat([as_batch(world["visible"], n, size), as_batch(infrared, n, size)])
    images = images.to(device)
    labels = torch.arange(ids).repeat_interleave(per_id).repeat(2).to(device)
    model.train()

    def step() -> torch.Tensor:
        with autocast():
            out = model(images[:n], images[n:])
            total, _ = objective(out, labels, images, model.part_classifier.weight.detach())
        optimizer.zero_grad(set_to_none=True)
        total.float().backward()
        optimizer.step()
        return total.detach().float()

    return step, 2 * n


def dicl_step(settings, world, device, batch: int, autocast) -> tuple[Step, int]:
    from detectron2.structures import Boxes, Instances
    from detectron2.utils.events import EventStorage

    import pipeline.models.dicl  # noqa: F401  (registers the meta-architecture)
    from pipeline.models.dicl.entry import build_model

    st = settings
    slots = 1000
    model = build_model(st, seed=0, num_classes=slots, pretrained=False, device=device)
    model.memory.initialize(torch.randn(slots, st.model.head.embedding_dim).to(device))
    # The largest training scale (ResizeShortestEdge to short, long side capped).
    long_side, short_side = max(st.train.scales, key=lambda s: s[1])
    gen = torch.Generator().manual_seed(0)
    inputs = []
    for i in range(batch):
        im = world["visible"][i % len(world["visible"])]
        h, w = im.shape[:2]
        scale = min(short_side / min(h, w), long_side / max(h, w))
        size = (round(h * scale), round(w * scale))
        image = (as_batch([im], 1, size)[0] * 255.0).round().to(torch.uint8)
        people = 4
        xy = torch.rand(people, 2, generator=gen) * torch.tensor([size[1] * 0.8, size[0] * 0.5])
        wh = torch.tensor([size[1] * 0.08, size[0] * 0.4]).expand(people, 2)
        inst = Instances(size)
        inst.gt_boxes = Boxes(torch.cat([xy, xy + wh], 1))
        inst.gt_classes = torch.zeros(people, dtype=torch.long)
        inst.gt_memory_index = torch.randint(0, slots, (people,), generator=gen)
        inputs.append({"image": image, "instances": inst, "height": size[0], "width": size[1]})
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=st.train.lr, momentum=0.9)
    model.train()
    storage = EventStorage()

    def step() -> torch.Tensor:
        with storage, autocast():
            losses = model(inputs)
        total = sum(v.float() for v in losses.values())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        storage.iter += 1
        return total.detach()

    return step, batch


STEPS = {"scl": scl_step, "dclnet": dclnet_step, "dicl": dicl_step}
# DICL's inference costs: scenes embedded and detected, boxes per scene.
INFERENCE_SCENES = 8
INFERENCE_BOXES = 4


class _TimedMapper:
    """A mapper that adds up the seconds it spends (reading, resizing: host work)."""

    def __init__(self, mapper) -> None:
        self.mapper = mapper
        self.seconds = 0.0

    def __call__(self, record: dict) -> dict:
        start = time.perf_counter()
        try:
            return self.mapper(record)
        finally:
            self.seconds += time.perf_counter() - start


def dicl_inference(settings, world, device, folder: Path, scenes: int) -> dict:
    """Memory initialisation and gallery detection as the stages run them, timed.

    ``scenes`` of the world's frames are written as JPEG files, each with
    ``INFERENCE_BOXES`` boxes to embed; a random-weight model of the option embeds them
    through the test mapper in batches of ``test.batch_images`` (``MemoryInitHook``'s
    path), then detects people in them (``evaluate``'s gallery path). Both run in fp32
    whatever ``--precision`` says, as in the stages (``runtime.precision`` covers the
    training forward pass). A first pass over one scene settles the device (kernels,
    allocator) and is not counted.
    """
    from pipeline.models.dicl.config import build_cfg
    from pipeline.models.dicl.data import build_test_mapper
    from pipeline.models.dicl.entry import build_model
    from pipeline.models.dicl.inference import detect, embed_boxes

    model = build_model(settings, seed=0, num_classes=1, pretrained=False, device=device)
    cfg = build_cfg(settings, iters_per_epoch=1, memory_size=1, device=device.type)
    out = folder / "dicl_scenes"
    out.mkdir(parents=True, exist_ok=True)
    gen = np.random.default_rng(0)
    records = []
    for i in range(scenes):
        image = world["visible"][i % len(world["visible"])]
        h, w = image.shape[:2]
        path = out / f"{i:04d}.jpg"
        Image.fromarray(image).save(path, quality=95)
        x1 = gen.uniform(0, 0.8 * w, INFERENCE_BOXES)
        y1 = gen.uniform(0, 0.5 * h, INFERENCE_BOXES)
        boxes = np.stack([x1, y1, x1 + 0.08 * w, y1 + 0.4 * h], axis=1)
        records.append(
            {
                "file_name": str(path),
                "height": h,
                "width": w,
                "image_id": f"{i:04d}",
                "query_boxes": boxes.tolist(),
            }
        )
    batch = settings.test.batch_images
    mapper = _TimedMapper(build_test_mapper(cfg))
    embed_boxes(model, records[:1], mapper, batch_images=batch, desc="warm-up")
    detect(model, records[:1], mapper, desc="warm-up")
    synchronize(device)
    timings = {}
    for name, run in (
        ("memory_init", lambda: embed_boxes(model, records, mapper, batch_images=batch)),
        ("detect", lambda: detect(model, records, mapper)),
    ):
        mapper.seconds = 0.0
        start = time.perf_counter()
        run()
        synchronize(device)
        seconds = time.perf_counter() - start
        # Microseconds: a tiny run's passes last a few hundredths of a second.
        timings[name] = {
            "images_per_s": round(scenes / seconds, 3),
            "seconds": round(seconds, 6),
            "mapper_seconds": round(mapper.seconds, 6),
        }
    return {
        "scenes": scenes,
        "boxes_per_scene": INFERENCE_BOXES,
        "batch_images": batch,
        "test_scale": list(settings.test.scale),
        **timings,
    }


def profiler_table(step: Step, device: torch.device, steps: int) -> tuple[str, list[dict]]:
    """torch.profiler over ``steps`` more steps: the text table and its top rows."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        synchronize(device)
    averages = prof.key_averages()
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = averages.table(sort_by=key, row_limit=30)
    rows = sorted(averages, key=lambda e: getattr(e, key), reverse=True)[:PROFILE_ROWS]
    top = [
        {
            "op": e.key,
            "calls_per_step": round(e.count / steps, 1),
            "self_cpu_ms": round(e.self_cpu_time_total / 1000 / steps, 3),
            "self_device_ms": round(getattr(e, "self_device_time_total", 0) / 1000 / steps, 3),
        }
        for e in rows
    ]
    return table, top


def batch_size(track: str, settings, tiny: bool) -> int:
    """Images per step as the option trains (DCLNet: identities per modality)."""
    if track == "scl":
        b = settings.data.batch_size
    elif track == "dclnet":
        b = settings.sampler.ids_per_batch
    else:
        b = settings.train.ims_per_batch
    return min(b, TINY_BATCH) if tiny else b


def load_track_settings(track: str, option: str):
    module = __import__(f"pipeline.models.{track}.settings", fromlist=["load_settings"])
    settings, _layout = module.load_settings(compose_params([f"{track}/dataset={option}"], CONF))
    return settings


# -- measuring ------------------------------------------------------------------


def peak_memory(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30, "cuda_max_memory_allocated"
    # The process's peak so far: profiles run earlier in the same call count too.
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return rss_kib / 2**20, "process_peak_rss"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast_for(device: torch.device, precision: str):
    """A context factory: bf16 autocast on the device, or nothing for fp32."""
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=torch.bfloat16)


def bench_profile(
    profile: Profile,
    device: torch.device,
    steps: int,
    tiny: bool,
    precision: str,
    folder: Path,
    torch_profile: Path | None = None,
) -> dict:
    """Render, build, train ``steps`` steps; the profile's figures (see the module doc).

    ``torch_profile``: where to write the profiler table of a few more steps (None: none).
    """
    option = TINY_OPTION[profile.name] if tiny else profile.option
    settings = load_track_settings(profile.track, option)
    world = render_world(profile, TINY_SHRINK if tiny else 1, folder)
    batch = batch_size(profile.track, settings, tiny)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    losses = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        step, images_per_step = STEPS[profile.track](
            settings, world, device, batch, lambda: autocast_for(device, precision)
        )
        losses.append(step())
        synchronize(device)
        first_step_s = time.perf_counter() - start
        warm = min(2, steps)  # the first two steps settle allocator and autotuning
        for _ in range(1, warm):
            losses.append(step())
        synchronize(device)
        start = time.perf_counter()
        for _ in range(warm, steps):
            losses.append(step())
        synchronize(device)
        timed = steps - warm
        seconds = time.perf_counter() - start
    nondeterministic = sorted(
        {str(w.message).splitlines()[0] for w in caught if "determinis" in str(w.message)}
    )
    memory, memory_kind = peak_memory(device)
    # None (JSON null) when no step ran after the warm-up ones (--steps 1 or 2).
    it_per_s = timed / seconds if timed > 0 and seconds > 0 else None
    extra: dict = {}
    if torch_profile is not None:
        table, top = profiler_table(step, device, PROFILE_STEPS)
        torch_profile.parent.mkdir(parents=True, exist_ok=True)
        torch_profile.write_text(table + "\n", encoding="utf-8")
        extra["profile"] = {"table": torch_profile.name, "steps": PROFILE_STEPS, "top": top}
    if profile.track == "dicl":
        scenes = TINY_BATCH if tiny else INFERENCE_SCENES
        extra["inference"] = dicl_inference(settings, world, device, folder, scenes)
    return {
        "profile": profile.name,
        "track": profile.track,
        "option": option,
        "image_size": list(profile.image_size),
        "images_per_step": images_per_step,
        "steps": steps,
        "first_step_s": round(first_step_s, 3),
        "it_per_s": None if it_per_s is None else round(it_per_s, 4),
        "images_per_s": None if it_per_s is None else round(it_per_s * images_per_step, 3),
        "peak_memory_gib": round(memory, 3),
        "peak_memory_kind": memory_kind,
        "losses_finite": bool(all(math.isfinite(float(x)) for x in losses)),
        "last_loss": float(losses[-1]) if math.isfinite(float(losses[-1])) else None,
        "nondeterministic_ops": nondeterministic,
        **extra,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--tiny", action="store_true", help="thin nets, small images, few steps")
    parser.add_argument(
        "--profiles",
        default=",".join(PROFILES),
        help=f"comma-separated, of {', '.join(PROFILES)}",
    )
    parser.add_argument("--steps", type=int, default=None, help="default 20 (--tiny: 3)")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default conf's)")
    parser.add_argument(
        "--torch-profile",
        action="store_true",
        help=f"torch.profiler table of {PROFILE_STEPS} more steps per profile, beside --out",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = [p for p in args.profiles if p not in PROFILES]
    if unknown:
        parser.error(f"--profiles: unknown {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    if args.steps is None:
        args.steps = 3 if args.tiny else 20
    if args.steps < 1:
        parser.error("--steps: must be >= 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    runtime = compose_params([], CONF)["runtime"]
    # conf/ may carry runtime.precision (another branch adds it): honour the flag there too.
    if "precision" in runtime:
        runtime["precision"] = args.precision
    runtime.update(device=args.device, deterministic=True)
    if args.threads is not None:
        runtime["threads"] = args.threads
    device = setup(validate(RuntimeSettings, runtime, "runtime"), 0).device
    # Stages stop on an op without a deterministic kernel; here they are listed instead.
    torch.use_deterministic_algorithms(True, warn_only=True)
    report = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "precision": args.precision,
        "tiny": args.tiny,
        "steps": args.steps,
        "profiles": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as folder:
        for name in args.profiles:
            table = args.out.with_name(f"{args.out.stem}_{name}_profile.txt")
            row = bench_profile(
                PROFILES[name],
                device,
                args.steps,
                args.tiny,
                args.precision,
                Path(folder),
                torch_profile=table if args.torch_profile else None,
            )
            report["profiles"].append(row)
            rate = row["it_per_s"] or float("nan")
            print(
                f"{name:<18} first step {row['first_step_s']:7.2f} s  "
                f"{rate:8.3f} it/s  {rate * row['images_per_step']:8.2f} img/s  "
                f"peak {row['peak_memory_gib']:6.2f} GiB  finite={row['losses_finite']}  "
                f"nondeterministic ops: {len(row['nondeterministic_ops'])}",
                flush=True,
            )
            for op in row["nondeterministic_ops"]:
                print(f"    {op}")
            if "inference" in row:
                inf = row["inference"]
                for part in ("memory_init", "detect"):
                    print(
                        f"    {part:<12} {inf[part]['images_per_s']:8.3f} img/s  "
                        f"({inf[part]['mapper_seconds']:.2f} of {inf[part]['seconds']:.2f} s "
                        f"in the mapper)"
                    )
            if "profile" in row:
                print(f"    profiler table: {table}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
