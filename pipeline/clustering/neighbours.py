"""k-nearest-neighbour ranked lists, the input of k-reciprocal encoding.

Zhong et al. (CVPR 2017) rank every sample by squared Euclidean distance, the
sample itself first; SpCL / Cluster Contrast / DICL search these lists with
faiss (2 - 2cos on L2-normalised features). Both paths here work in blocks, so
memory stays O(N k) plus one block, and both put each sample at rank 0 even
when duplicates tie with it.

Routes (``clustering.knn`` / ``pseudo_labels.knn``): "auto" ("torch" when the search's
device is a GPU, else "exact": the conf default), "exact" (faiss IndexFlatL2,
N^2 d work), "torch" (the same N^2 d search as blocked torch matmuls
on the stage's device, a GPU where there is one: see ``_torch_knn``), "int8" (the same lists, up to near-ties, from an int8
search re-ranked in float32: see ``_int8_knn``) and "ivf" (faiss IndexIVFFlat:
k-means cells of about sqrt(N) samples, each query scans its nearest ``IVF_PROBES``
cells; the listed distances stay exact, the lists can miss neighbours). IVF is
deterministic (seeded k-means, per-query search); faiss's HNSW is not (its threaded
build order varies).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal, get_args

import faiss
import numpy as np

from pipeline.progress import progress

log = logging.getLogger(__name__)

KnnRoute = Literal["auto", "exact", "int8", "ivf", "torch"]
KNN_ROUTES: tuple[str, ...] = get_args(KnnRoute)

# Query rows per faiss call (for progress), at least. faiss searches with BLAS when a
# call's rows x d reach distance_compute_blas_threshold, in query blocks of
# distance_compute_blas_query_bs rows: chunks that are whole blocks, each past the
# threshold, run the very GEMMs (and bits) of one whole call.
_SEARCH_ROWS = 4 * 4096
# IVF: cells of ~sqrt(N) samples, k-means on <= 64 samples a cell (faiss needs 39),
# queries scan their 16 nearest cells (the share 16 / sqrt(N) of the data).
IVF_PROBES = 16
_IVF_TRAIN_PER_CELL = 64
_IVF_SEED = 1234


def as_feature_matrix(features: np.ndarray) -> np.ndarray:
    """A finite, non-empty (N, D) C-contiguous float32 copy or view of ``features``."""
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"features: expected a non-empty (N, D) array, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("features: contains NaN or infinite values")
    return x


def l2_normalize(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    x = as_feature_matrix(features)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))


def check_list_length(k: int, n: int, name: str = "k") -> None:
    """Raise unless 1 <= k <= n (a ranked list cannot be longer than N)."""
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"{name}={k!r}: must be an integer in [1, N={n}]")


def _put_self_first(idx: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move each sample to rank 0 of its own list (duplicates can outrank it)."""
    n, k = idx.shape
    rows = np.arange(n)
    for i in np.flatnonzero(idx[:, 0] != rows):
        where = np.flatnonzero(idx[i] == i)
        # Shift ranks 0..p-1 one down; when self is absent the last rank falls off.
        p = int(where[0]) if where.size else k - 1
        idx[i, 1 : p + 1] = idx[i, :p].copy()
        dist[i, 1 : p + 1] = dist[i, :p].copy()
        idx[i, 0] = i
    dist[:, 0] = 0.0
    return idx, dist


def _smallest_k(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the k smallest entries, sorted by (value, column index)."""
    if k < block.shape[1]:
        cand = np.argpartition(block, k - 1, axis=1)[:, :k]
    else:
        cand = np.broadcast_to(np.arange(block.shape[1]), block.shape).copy()
    vals = np.take_along_axis(block, cand, axis=1)
    order = np.lexsort((cand, vals), axis=1)
    return np.take_along_axis(cand, order, axis=1), np.take_along_axis(vals, order, axis=1)


def _chunks(n: int, d: int) -> list[tuple[int, int]]:
    """Query row ranges whose faiss calls compute as one call over all n rows would."""
    blas_rows = -(-faiss.cvar.distance_compute_blas_threshold // d)
    block = faiss.cvar.distance_compute_blas_query_bs
    step = max(_SEARCH_ROWS, -(-blas_rows // block) * block)
    bounds = list(range(0, n, step)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < blas_rows:
        del bounds[-2]  # a short tail would leave BLAS: it joins the chunk before it
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _search(index, x: np.ndarray, k: int, desc: str, show: bool):
    """``index.search(x, k)`` in chunks of query rows, with a progress bar."""
    n, d = x.shape
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for start, stop in progress(_chunks(n, d), desc=desc, disable=not show):
        dist[start:stop], idx[start:stop] = index.search(x[start:stop], k)
    return dist, idx


# int8 route: candidates kept per list of k (then re-ranked in float32), square blocks
# of the int8 Gram matrix (int32, 16 MiB each, two held), and the rounding-error bound in
# standard deviations: a row whose list it cannot prove is searched exactly.
INT8_EXTRA = 1.0
_INT8_BLOCK = 2048
_INT8_SIGMAS = 6.0
_INT8_MAX_DIM = (2**31 - 1) // (2 * 127 * 127)  # |S_ij - h_j| < 2^31
# The variable with which stages cap oneDNN's kernels (pipeline/cpu_kernels.py).
ONEDNN_CAP = "ONEDNN_MAX_CPU_ISA"
# Exit code of an int8 child whose own kernels cannot sum 8-bit products either.
INT8_CHILD_CAPPED = 3
# Rows re-ranked per faiss call (progress only).
_RERANK_ROWS = 1 << 16


def _int8_limit() -> int:
    """The largest |q| whose products torch's int8 matmul sums exactly on this machine.

    With AVX2 pinned (as every stage pins it, pipeline/cpu_kernels.py) torch's kernel
    multiplies pairs as unsigned x signed bytes into saturating int16 sums: 8-bit values
    come back wrong (measured: 75 of 90,000 scores on the tests' blobs, true neighbours
    lost), 7-bit values (|q| <= 63) cannot saturate. A probe of the extreme values decides.
    """
    import torch

    for limit in (127, 63):
        a = torch.full((8, 64), limit, dtype=torch.int8)
        want = 64 * limit * limit
        if bool((torch._int_mm(a, a.t()) == want).all()) and bool(
            (torch._int_mm(a, (-a).t()) == -want).all()
        ):
            return limit
    raise RuntimeError("knn='int8': torch's int8 matmul is inexact here; use knn: exact")


def _int8_quantize(x: np.ndarray, sq: np.ndarray, limit: int):
    """``(q, h, scale, shift)``: rows as int8 with one scale (|q| <= limit) and the int32
    column offsets h_j = round(s^2 |x_j|^2 / 2) that turn q q^T into a ranking by squared
    distance (None when constant, as on L2-normalised rows; ``shift`` is that constant)."""
    peak = float(np.abs(x).max())
    scale = limit / peak if peak > 0 else 1.0
    q = np.clip(np.rint(x * scale), -limit, limit).astype(np.int8)
    h = np.rint(sq * (scale * scale / 2)).astype(np.int32)
    constant = bool((h == h[0]).all())
    return q, (None if constant else h), scale, (int(h[0]) if constant else 0)


def _int8_candidates(x: np.ndarray, sq: np.ndarray, kc: int, show: bool):
    """Per row, the kc best int8 scores and their columns, with the quantisation's scale
    and shift: searched here, or in a child process when this one's kernels are capped.

    Stages cap oneDNN at AVX2 (``ONEDNN_MAX_CPU_ISA``, for convolutions that agree to
    the byte across machines), and capped, its int8 matmul saturates 8-bit products
    (:func:`_int8_limit`). Integer sums are exact on every kernel, so the cap buys
    nothing here, while 7 bits cost: at 100,000 x 256 the search took 46 s instead of
    12 s and 38% of the rows (not 0.01%) failed the bound and were searched exactly.
    The child (:mod:`pipeline.clustering.int8_child`) gets the 8-bit rows and runs
    without the cap; it refuses (and the search stays here, at 7 bits) when its own
    kernels cannot sum 8-bit products either.
    """
    limit = _int8_limit()
    if limit < 127 and os.environ.get(ONEDNN_CAP):
        found = _int8_search_uncapped(x, sq, kc, show)
        if found is not None:
            return found
    q, h, scale, shift = _int8_quantize(x, sq, limit)
    return (*_int8_search(q, h, kc, show), scale, shift)


def _int8_search_uncapped(x: np.ndarray, sq: np.ndarray, kc: int, show: bool):
    """``(vals, ids, scale, shift)`` of an 8-bit ``_int8_search`` in a child without
    ``ONEDNN_CAP``; None if it could not. The 8-bit rows go to the child by file and
    are not kept here meanwhile (at 32,621 x 2048 both processes together peak at
    about 1.5 GiB)."""
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_CAP}
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="int8-knn-") as folder:
        folder = Path(folder)
        q, h, scale, shift = _int8_quantize(x, sq, 127)
        np.save(folder / "q.npy", q)
        if h is not None:
            np.save(folder / "h.npy", h)
        del q, h
        (folder / "request.json").write_text(json.dumps({"kc": kc, "show": show}))
        child = subprocess.run(
            [sys.executable, "-m", "pipeline.clustering.int8_child", str(folder)], env=env
        )
        if child.returncode != 0:
            if child.returncode != INT8_CHILD_CAPPED:
                log.warning(
                    "knn='int8': the uncapped search process exited with code %d; "
                    "searching here with 7-bit products instead",
                    child.returncode,
                )
            return None
        return np.load(folder / "vals.npy"), np.load(folder / "ids.npy"), scale, shift


def _int8_search(q: np.ndarray, h: np.ndarray | None, kc: int, show: bool):
    """Per row, the kc best int8 scores S_ij - h_j and their columns, best first.

    S = q q^T approximates s^2 x x^T, exactly in int32 (|q| <= 127 needs kernels that
    sum 8-bit products exactly: :func:`_int8_limit`). Blocks of S are computed once for
    each pair of row blocks (I <= J) and fed to faiss's heaps for the rows of I and,
    transposed, of J.
    """
    import torch  # only this route needs it (about 1 s to import)

    n = q.shape[0]
    q = torch.from_numpy(q)
    h = None if h is None else torch.from_numpy(h)
    vals = np.empty((n, kc), dtype=np.int32)
    ids = np.empty((n, kc), dtype=np.int64)
    heaps = faiss.int_minheap_array_t()  # keeps the kc largest of each row
    heaps.nh, heaps.k = n, kc
    heaps.val, heaps.ids = faiss.swig_ptr(vals), faiss.swig_ptr(ids)
    heaps.heapify()
    starts = range(0, n, _INT8_BLOCK)
    pairs = [(i, j) for i in starts for j in starts if j >= i]
    # Reused buffers: a fresh block each time costs more in page faults than
    # the 256-d product itself.
    buffers = torch.empty((2, min(n, _INT8_BLOCK) ** 2), dtype=torch.int32)
    for i, j in progress(pairs, desc="neighbours (int8)", disable=not show):
        rows, cols = q[i : i + _INT8_BLOCK], q[j : j + _INT8_BLOCK]
        block = buffers[0, : len(rows) * len(cols)].view(len(rows), len(cols))
        torch._int_mm(rows, cols.t(), out=block)
        if j > i:
            mirror = buffers[1, : len(rows) * len(cols)].view(len(cols), len(rows))
            mirror.copy_(block.t())
            if h is not None:
                mirror -= h[i : i + _INT8_BLOCK]
            heaps.addn(len(rows), faiss.swig_ptr(mirror.numpy()), i, j, len(cols))
        if h is not None:
            block -= h[j : j + _INT8_BLOCK]
        heaps.addn(len(cols), faiss.swig_ptr(block.numpy()), j, i, len(rows))
    heaps.reorder()
    return vals, ids


def _int8_knn(x: np.ndarray, k: int, show: bool) -> tuple[np.ndarray, np.ndarray]:
    """The exact route's lists from an int8 search and a float32 re-rank.

    The int8 Gram matrix runs on VNNI units at several times float32's rate, with
    half the blocks (symmetry) and exact int32 sums. Its score errs from the true
    squared distance by at most ``delta`` (``_INT8_SIGMAS`` standard deviations of
    the sum of independent roundings); the (1 + INT8_EXTRA) k best candidates get
    their float32 distances (faiss, computed directly), and a row keeps the k
    nearest of them when no non-candidate can come closer: the last candidate's
    int8 distance, less delta, must exceed the k-th float32 distance. The other
    rows are searched exactly. Ties between equal float32 distances follow the
    int8 order; distances may differ from the exact route's in the last bits.
    """
    n, d = x.shape
    if d > _INT8_MAX_DIM:
        raise ValueError(f"knn='int8': int32 sums hold up to {_INT8_MAX_DIM} dimensions, got {d}")
    kc = min(n, k + int(np.ceil(INT8_EXTRA * k)))
    sq = np.einsum("ij,ij->i", x, x)
    vals, cand, scale, shift = _int8_candidates(x, sq, kc, show)
    dist = np.empty((n, kc), dtype=np.float32)
    for start in progress(range(0, n, _RERANK_ROWS), desc="re-rank", disable=not show):
        stop = min(start + _RERANK_ROWS, n)
        faiss.fvec_L2sqr_by_idx(
            faiss.swig_ptr(dist[start:stop]),
            faiss.swig_ptr(x[start:stop]),
            faiss.swig_ptr(x),
            faiss.swig_ptr(cand[start:stop]),
            d,
            stop - start,
            kc,
        )
    pos, top = _smallest_k(dist, k)
    idx = np.take_along_axis(cand, pos, axis=1)
    if kc < n:
        s2 = scale * scale
        # Var of (x_i e_j + e_i x_j) / s + e_i e_j / s^2 for roundings e ~ U(-1/2, 1/2).
        sigma = np.sqrt((sq + sq.max()) / 12 + d / 144 / s2) / scale
        bound = sq - 2 * (vals[:, -1].astype(np.float64) - shift) / s2
        slack = 2 * _INT8_SIGMAS * sigma + 1 / s2 + 1e-5 * (sq + sq.max())
        unsure = np.flatnonzero(bound - slack <= top[:, -1])
        if unsure.size:
            dist_u, idx_u = faiss.knn(x[unsure], x, k)
            top[unsure], idx[unsure] = dist_u, idx_u
    return idx, top


# torch route: bytes of one query block's work, float32 distances and int64 sort keys
# (12 bytes a cell) with room for topk's scratch: 55,272 columns give 1,214-row blocks,
# about 1 GiB of device memory (features and lists add 0.08 GiB at 55,272 x 256, k 31).
_TORCH_BLOCK_BYTES = 1 << 30
_TORCH_BYTES_PER_CELL = 16


def default_device():
    """The device a "torch" search runs on when none is given: the first GPU, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def concrete_route(route: str, device=None) -> str:
    """``route`` itself, or for "auto" the route that ``device`` runs best: "torch" on a
    GPU (the same lists as "exact", ties by index), else "exact" (faiss on the CPU).
    ``device`` None is the "torch" route's default (:func:`default_device`)."""
    if route not in KNN_ROUTES:
        raise ValueError(f"knn={route!r}: must be one of {', '.join(KNN_ROUTES)}")
    if route != "auto":
        return route
    import torch

    chosen = default_device() if device is None else torch.device(device)
    return "torch" if chosen.type == "cuda" else "exact"


def _torch_knn(x: np.ndarray, k: int, device, show: bool) -> tuple[np.ndarray, np.ndarray]:
    """k smallest squared distances per row, ordered by (distance, column), via torch.

    Each block of query rows gets |x_i|^2 + |x_j|^2 - 2 x_i.x_j against all N columns
    (the numpy path's formula, in float32 with full-precision matmuls: TF32 is switched
    off for the call), clamped at +0. Ties must fall to the lower column, as on the
    numpy path, but ``torch.topk`` orders ties arbitrarily: so each cell becomes one
    int64 key, the float's bits (monotone for non-negative floats) above the column,
    and topk selects on keys that never tie. Memory: the features, the (N, k) lists
    and one block of ``_TORCH_BLOCK_BYTES`` (see its comment).
    """
    import torch

    n, d = x.shape
    device = default_device() if device is None else torch.device(device)
    rows_per_block = max(1, _TORCH_BLOCK_BYTES // (_TORCH_BYTES_PER_CELL * n))
    saved_precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        with torch.no_grad():
            xt = torch.from_numpy(x).to(device)
            sq = (xt * xt).sum(dim=1)
            columns = torch.arange(n, device=device, dtype=torch.int64)
            idx = torch.empty((n, k), dtype=torch.int64, device=device)
            dist = torch.empty((n, k), dtype=torch.float32, device=device)
            starts = range(0, n, rows_per_block)
            for start in progress(starts, desc="neighbours (torch)", disable=not show):
                stop = min(start + rows_per_block, n)
                block = torch.mm(xt[start:stop], xt.t()).mul_(-2.0)
                block.add_(sq[start:stop, None]).add_(sq[None, :])
                # Clamp, then -0.0 + 0.0 = +0.0: -0.0's bits would sort last.
                block.clamp_min_(0.0).add_(0.0)
                keys = block.view(torch.int32).to(torch.int64).bitwise_left_shift_(32)
                del block
                keys.bitwise_or_(columns)
                best = torch.topk(keys, k, dim=1, largest=False, sorted=True).values
                del keys
                idx[start:stop] = best.bitwise_and(0xFFFFFFFF)
                dist[start:stop] = best.bitwise_right_shift(32).to(torch.int32).view(torch.float32)
            return idx.cpu().numpy(), dist.cpu().numpy()
    finally:
        torch.set_float32_matmul_precision(saved_precision)


def _ivf_index(x: np.ndarray):
    n, d = x.shape
    cells = max(1, min(int(round(np.sqrt(n))), n // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, cells)
    index.cp.seed = _IVF_SEED
    index.cp.max_points_per_centroid = _IVF_TRAIN_PER_CELL
    index.cp.min_points_per_centroid = 1  # small N: no warning, k-means still works
    index.train(x)
    index.add(x)
    index.nprobe = min(cells, IVF_PROBES)
    return index


def knn(
    features: np.ndarray,
    k: int,
    *,
    chunk_size: int = 1024,
    use_faiss: bool = True,
    route: KnnRoute = "exact",
    show_progress: bool = True,
    device=None,
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours by squared Euclidean distance, each sample first.

    On L2-normalised features the distance equals 2 - 2cos. faiss (IndexFlatL2)
    and the numpy path both compute in blocks, so memory stays O(N k + chunk N).

    Args:
        features: (N, D) array.
        k: list length, self included (k=31 gives self + 30 neighbours).
        chunk_size: query rows per block on the numpy path.
        use_faiss: search with faiss-cpu; False uses chunked numpy (ties ordered
            by index; exact route only).
        route: "auto" (see :func:`concrete_route`), "exact", "torch" (the numpy path's
            lists, ties by index, on ``device``),
            "int8" (the exact lists but for rare near-ties) or "ivf" (approximate;
            see the module docstring).
        show_progress: a progress bar on stderr when the search takes a while.
        device: the torch device of the "torch" route (None: the first GPU, else
            the CPU); the other routes ignore it.

    Returns:
        idx (N, k) int64 with idx[i, 0] == i, and dist (N, k) float32 ascending
        with dist[i, 0] == 0.
    """
    route = concrete_route(route, device)
    x = as_feature_matrix(features)
    n = x.shape[0]
    check_list_length(k, n)
    if route == "torch":
        idx, dist = _torch_knn(x, int(k), device, show_progress)
        return _put_self_first(idx, dist)
    if route == "int8":
        idx, dist = _int8_knn(x, int(k), show_progress)
        np.maximum(dist, 0.0, out=dist)
        return _put_self_first(idx, dist)
    if route == "ivf":
        dist, idx = _search(_ivf_index(x), x, int(k), "neighbours (ivf)", show_progress)
        short = np.flatnonzero((idx < 0).any(axis=1))
        if short.size:  # the probed cells held fewer than k samples: search exactly
            flat = faiss.IndexFlatL2(x.shape[1])
            flat.add(x)
            dist[short], idx[short] = flat.search(x[short], int(k))
    elif use_faiss:
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x)
        dist, idx = _search(index, x, int(k), "neighbours", show_progress)
    else:
        if chunk_size < 1:
            raise ValueError(f"chunk_size={chunk_size}: must be >= 1")
        sq = np.einsum("ij,ij->i", x, x)
        idx = np.empty((n, k), dtype=np.int64)
        dist = np.empty((n, k), dtype=np.float32)
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            block = sq[start:stop, None] + sq[None, :] - 2.0 * (x[start:stop] @ x.T)
            np.maximum(block, 0.0, out=block)
            idx[start:stop], dist[start:stop] = _smallest_k(block, k)
    np.maximum(dist, 0.0, out=dist)
    return _put_self_first(idx, dist.astype(np.float32, copy=False))


def knn_from_distmat(
    dist: np.ndarray, k: int, *, chunk_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """``knn`` for a precomputed dense (N, N) distance matrix.

    Args:
        dist: (N, N) distances, smaller = closer.
        k: list length, self included.
        chunk_size: rows ranked per block.

    Returns:
        idx (N, k) int64 and dist (N, k) float32, self first, ties by index.
    """
    d = np.asarray(dist)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] == 0:
        raise ValueError(f"dist: expected a non-empty square (N, N) matrix, got shape {d.shape}")
    n = d.shape[0]
    check_list_length(k, n)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}: must be >= 1")
    idx = np.empty((n, k), dtype=np.int64)
    out = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, chunk_size):
        block = d[start : start + chunk_size]
        if not np.isfinite(block).all():
            raise ValueError(f"dist: rows {start}.. contain NaN or infinite values")
        idx[start : start + len(block)], out[start : start + len(block)] = _smallest_k(block, k)
    return _put_self_first(idx, out)


def checked_knn_lists(
    knn_idx: np.ndarray, knn_dist: np.ndarray, k1: int, k2: int
) -> tuple[np.ndarray, np.ndarray]:
    """``knn_idx`` as int64 and ``knn_dist`` as float64, after the checks every encoding
    (``jaccard``'s and ``torch_encoding``'s) needs: equal (N, K) shapes, K >= k1 + 1 and
    >= k2, self first, indices in range."""
    knn_idx = np.asarray(knn_idx, dtype=np.int64)
    knn_dist = np.asarray(knn_dist, dtype=np.float64)
    if knn_idx.ndim != 2 or knn_idx.shape != knn_dist.shape:
        raise ValueError(
            f"knn_idx {knn_idx.shape} and knn_dist {knn_dist.shape}: need equal (N, K) shapes"
        )
    n, width = knn_idx.shape
    if k1 < 1 or k1 + 1 > width:
        raise ValueError(f"k1={k1}: needs 1 <= k1 and k1 + 1 <= K={width} ranked entries")
    if k2 < 1 or k2 > width:
        raise ValueError(f"k2={k2}: needs 1 <= k2 <= K={width}")
    if not np.array_equal(knn_idx[:, 0], np.arange(n)):
        raise ValueError("knn_idx: column 0 must hold each sample itself (self first)")
    if knn_idx.min() < 0 or knn_idx.max() >= n:
        raise ValueError(f"knn_idx: entries must lie in [0, {n})")
    return knn_idx, knn_dist
