"""The synthetic world in the CUHK-SYSU layout (Xiao et al., "Joint Detection and
Identification Feature Learning for Person Search", CVPR 2017).

Written exactly as the real archive is laid out (MATLAB v5 files as
``scipy.io.loadmat`` reads the real ones)::

    Image/SSM/s{n}.jpg
    annotation/Images.mat          Img: 1xS struct (imname, nAppear, box);
                                   box: 1xK struct (idlocate [x y w h], ishard)
    annotation/pool.mat            pool: Tx1 cell of the test image names
    annotation/test/train_test/Train.mat     Train: Nx1 cell of 1x1 struct
                                   (idname 'p<id>', nAppear, scene: 1xM struct
                                   (imname, idlocate, ishard))
    annotation/test/train_test/TestG{G}.mat  TestG{G}: 1xQ struct (Query: 1x1
                                   struct (imname, idlocate, ishard, idname),
                                   Gallery: 1xG struct (imname, idlocate, ishard))

Every person in a scene has a box in ``Images.mat``; labelled identities are
attached by exact equality of their box with one of them. Train and test
identities and scenes are disjoint. Each test identity is queried once, from one
of its scenes; its gallery lists the other scenes holding it first, then scenes
without it (empty 1x0 ``idlocate``), and the galleries of all sizes share the
query order and nest. As in the real files, a few boxes have zero width or
height, and boxes of people cut by the frame are clipped to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.data.synthetic.cameras import Camera, sample_camera, save_jpeg
from pipeline.data.synthetic.identities import Identity, make_identities
from pipeline.data.synthetic.matfile import cell_column, double, save_mat, struct_array
from pipeline.data.synthetic.parallel import ordered_map
from pipeline.data.synthetic.scenes import SceneBox, ScenePerson, render_scene
from pipeline.data.synthetic.seeding import stream
from pipeline.data.synthetic.settings import CuhkSysuRender

TAG = "cuhk_sysu"
PROTOCOL_DIR = Path("annotation/test/train_test")
MAX_ATTEMPTS = 8


def assign_appearances(
    rng: np.random.Generator, pids: list[int], capacity: np.ndarray, low: int, high: int
) -> list[list[int]]:
    """Spread each identity over ``low``..``high`` distinct scenes.

    Scenes with the most free places are filled first, so labelled people spread
    evenly and no scene exceeds its capacity.

    Returns:
        Per scene, the identities it shows.
    """
    free = capacity.astype(np.int64).copy()
    scenes: list[list[int]] = [[] for _ in range(len(capacity))]
    for pid in rng.permutation(np.asarray(pids, dtype=np.int64)):
        count = int(rng.integers(low, high + 1))
        candidates = np.flatnonzero(free > 0)
        if len(candidates) < 2:
            raise ValueError(f"no room left for identity {pid}: raise the scene count or capacity")
        priority = free[candidates] + rng.random(len(candidates))
        chosen = candidates[np.argsort(-priority, kind="stable")[: min(count, len(candidates))]]
        for scene in sorted(int(c) for c in chosen):
            scenes[scene].append(int(pid))
            free[scene] -= 1
    return scenes


class _Writer:
    def __init__(self, settings: CuhkSysuRender, out_dir: Path) -> None:
        self.s = settings
        self.out_dir = out_dir
        self.cameras: list[tuple[Camera, tuple[int, int]]] = []
        for number in range(1, settings.num_cameras + 1):
            rng = stream(settings.seed, TAG, "camera", number)
            camera = sample_camera(rng, number, indoor=rng.random() < 0.3, resolution=(1.0, 1.0))
            width = settings.width + 16 * int(rng.integers(-1, 2))
            self.cameras.append((camera, (width, settings.height)))
        # Image name -> its boxes in Images.mat (shuffled) with their "hard" flags.
        self.images: dict[str, list[SceneBox]] = {}
        # pid -> [(image name, box, hard)] in scene order.
        self.appearances: dict[int, list[tuple[str, tuple[int, int, int, int], bool]]] = {}

    def render_scene(
        self, number: int, labelled: list[int], people: dict[int, Identity]
    ) -> tuple[str, list[SceneBox], list[SceneBox]]:
        """Draw and save scene ``number``; depends only on its own streams (any process).

        Returns:
            The image name, its boxes in annotation order (shuffled) and the boxes
            of the ``labelled`` people, in their order.
        """
        s = self.s
        rng = stream(s.seed, TAG, "scene-plan", number)
        camera, size = self.cameras[int(rng.integers(len(self.cameras)))]
        capacity = int(rng.integers(s.min_people, s.max_people + 1))
        extras = max(capacity - len(labelled), 0)
        bystanders = make_identities(
            stream(s.seed, TAG, "bystanders", number), extras, 1, first_family=-1
        )
        cast = [ScenePerson(people[pid], True) for pid in labelled]
        cast += [ScenePerson(who, False) for who in bystanders]
        name = f"s{number}.jpg"
        for attempt in range(MAX_ATTEMPTS):
            result = render_scene(
                cast, camera, stream(s.seed, TAG, "scene", number, attempt), size, s.occlusion
            )
            if result is not None:
                break
        else:
            raise RuntimeError(
                f"scene {name}: no layout shows every labelled person in {MAX_ATTEMPTS} "
                "attempts; lower occlusion or max_people"
            )
        image, boxes = result
        save_jpeg(self.out_dir / "Image" / "SSM" / name, image, s.jpeg_quality)
        # Annotation order says nothing about who is labelled.
        kept_boxes = [b for b in boxes if b.box is not None]
        shuffled = [kept_boxes[int(i)] for i in rng.permutation(len(kept_boxes))]
        return name, shuffled, boxes[: len(labelled)]

    def record_scene(
        self, labelled: list[int], name: str, annotated: list[SceneBox], labelled_boxes: list
    ) -> None:
        """Add a rendered scene to the annotations (in scene order)."""
        self.images[name] = annotated
        for pid, b in zip(labelled, labelled_boxes, strict=False):
            self.appearances.setdefault(pid, []).append((name, b.box, b.hard))

    def add_zero_size_boxes(self) -> None:
        """Annotation errors of the original: a box of zero width or height in some images."""
        rng = stream(self.s.seed, TAG, "zero-size")
        names = sorted(self.images, key=lambda n: int(n[1:-4]))
        for k in range(self.s.num_zero_size_boxes):
            name = names[int(rng.integers(len(names)))]
            x, y = int(rng.integers(0, self.s.width // 2)), int(rng.integers(0, self.s.height // 2))
            box = (
                (x, y, 0, int(rng.integers(10, 60)))
                if k % 2 == 0
                else (x, y, int(rng.integers(10, 40)), 0)
            )
            self.images[name].append(SceneBox(box, False, 0.0))


def _box_rows(boxes: list[SceneBox]) -> np.ndarray:
    return struct_array(
        ("idlocate", "ishard"), [(double(b.box), double(float(b.hard))) for b in boxes]
    )


def render_cuhk_sysu(settings: CuhkSysuRender, out_dir: Path) -> dict[str, int]:
    """Render the CUHK-SYSU layout into ``out_dir``.

    Args:
        settings: sizes and seed.
        out_dir: destination folder (created).

    Returns:
        Counts: ``train_scenes``, ``test_scenes``, ``train_ids``, ``test_ids``,
        ``boxes`` (non-empty person boxes), ``zero_size_boxes``,
        ``train_labelled_boxes``, ``test_labelled_boxes``, ``queries``.
    """
    s = settings
    writer = _Writer(s, out_dir)
    total = s.num_train_scenes + s.num_test_scenes
    numbers = stream(s.seed, TAG, "scene-numbers").permutation(total) + 1
    split_scenes = {
        "train": sorted(int(n) for n in numbers[: s.num_train_scenes]),
        "test": sorted(int(n) for n in numbers[s.num_train_scenes :]),
    }
    split_pids = {
        "train": list(range(1, s.num_train_ids + 1)),
        "test": list(range(s.num_train_ids + 1, s.num_train_ids + s.num_test_ids + 1)),
    }
    people: dict[int, Identity] = {}
    for family_start, split in ((0, "train"), (1_000_000, "test")):
        pids = split_pids[split]
        found = make_identities(
            stream(s.seed, TAG, "identities", split), len(pids), s.max_family_size, family_start
        )
        people.update(zip(pids, found, strict=True))
        rng = stream(s.seed, TAG, "appearances", split)
        capacity = np.full(len(split_scenes[split]), s.min_people)
        per_scene = assign_appearances(rng, pids, capacity, s.min_appearances, s.max_appearances)
        plan = list(zip(split_scenes[split], per_scene, strict=True))
        rendered = ordered_map(
            lambda unit: writer.render_scene(*unit, people), plan, desc=f"{split} scenes"
        )
        for (_, labelled), result in zip(plan, rendered, strict=True):
            writer.record_scene(labelled, *result)
    writer.add_zero_size_boxes()

    annotation = out_dir / "annotation"
    names = sorted(writer.images, key=lambda n: int(n[1:-4]))
    img = struct_array(
        ("imname", "nAppear", "box"),
        [(n, double(len(writer.images[n])), _box_rows(writer.images[n])) for n in names],
    )
    save_mat(annotation / "Images.mat", {"Img": img})
    pool = [f"s{n}.jpg" for n in split_scenes["test"]]
    save_mat(annotation / "pool.mat", {"pool": cell_column(pool)})

    train = []
    for pid in split_pids["train"]:
        seen = writer.appearances.get(pid, [])
        scene = struct_array(
            ("imname", "idlocate", "ishard"), [(n, double(b), double(float(h))) for n, b, h in seen]
        )
        train.append(
            struct_array(
                ("idname", "nAppear", "scene"), [(f"p{pid}", double(len(seen)), scene)], (1, 1)
            )
        )
    save_mat(out_dir / PROTOCOL_DIR / "Train.mat", {"Train": cell_column(train)})

    queries = []
    for pid in split_pids["test"]:
        seen = writer.appearances[pid]
        rng = stream(s.seed, TAG, "query", pid)
        q = int(rng.integers(len(seen)))
        holding = {n for n, _, _ in seen}
        others = [scene for k, scene in enumerate(seen) if k != q]
        negatives = [n for n in pool if n not in holding]
        negatives = [negatives[int(i)] for i in rng.permutation(len(negatives))]
        queries.append((pid, seen[q], others, negatives))
    for size in s.gallery_sizes:
        rows = []
        for pid, (qname, qbox, qhard), others, negatives in queries:
            query = struct_array(
                ("imname", "idlocate", "ishard", "idname"),
                [(qname, double(qbox), double(float(qhard)), f"p{pid}")],
                (1, 1),
            )
            present = [(n, double(b), double(float(h))) for n, b, h in others][:size]
            absent = [(n, double([]), double([])) for n in negatives[: size - len(present)]]
            gallery = struct_array(("imname", "idlocate", "ishard"), present + absent)
            rows.append((query, gallery))
        key = f"TestG{size}"
        save_mat(
            out_dir / PROTOCOL_DIR / f"{key}.mat", {key: struct_array(("Query", "Gallery"), rows)}
        )

    labelled = {
        split: sum(len(writer.appearances.get(p, [])) for p in split_pids[split])
        for split in split_pids
    }
    all_boxes = [b for n in names for b in writer.images[n]]
    zero = sum(1 for b in all_boxes if b.box[2] == 0 or b.box[3] == 0)
    return {
        "train_scenes": len(split_scenes["train"]),
        "test_scenes": len(split_scenes["test"]),
        "train_ids": len(split_pids["train"]),
        "test_ids": len(split_pids["test"]),
        "boxes": len(all_boxes) - zero,
        "zero_size_boxes": zero,
        "train_labelled_boxes": labelled["train"],
        "test_labelled_boxes": labelled["test"],
        "queries": len(queries),
    }
