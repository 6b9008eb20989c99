"""Jaccard distances within a radius, in time and memory linear in the pairs.

The k-reciprocal Jaccard distance (``jaccard.py``) of rows p and g of V is
d = 1 - s / (m_p + m_g - s) with s = sum_k min(V[p,k], V[g,k]) and m the row
masses. DBSCAN only needs the pairs with d <= eps, i.e. s >= (1 - eps)(m_p + m_g)
/ (2 - eps). Two facts bound s from above without an N x N block:
min(a, b) <= sqrt(a b), and the lightest entries of row p (total mass l_p) add at
most l_p. So s <= sum over p's heavy entries k of sqrt(V[p,k] V[g,k]) + l_p, a
sparse product (scipy, in C) over the pairs that share a heavy column; with l_p
below every threshold, pairs sharing none are out of reach. Only the pairs the
bound cannot rule out get the exact sum, over the same entries, in the same
order and precision (float64 over float32 minima, columns ascending) as
``jaccard_distance``: the distances kept are bit-identical to its dense rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from pipeline.progress import progress

# Column-sharing pairs per bound block (each ~12 bytes in scipy's product).
_BLOCK_PAIRS = 1 << 23
# V entries gathered per exact-sum chunk (two CSR copies of ~8 bytes an entry).
_EXACT_ENTRIES = 1 << 22
# Light mass per row, as a share of the smallest threshold it must stay below:
# a larger share prunes more product terms but lets more pairs through the bound.
_LIGHT_SHARE = 0.5
# The bound is a float32 sum (relative error ~1e-6 at 100s of terms): this slack
# keeps every pair whose exact distance could still be <= max_distance.
_BOUND_SLACK = 1e-3


def check_max_distance(max_distance: float) -> None:
    """Raise unless 0 <= max_distance < 1 (at 1 every pair is kept: use the dense path)."""
    if not 0.0 <= max_distance < 1.0:
        raise ValueError(f"max_distance={max_distance}: must lie in [0, 1) (1 keeps every pair)")


def prepared_v(v: sp.spmatrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """V as sorted float32 CSR and its row masses (float64, summed in column order)."""
    if not sp.issparse(v) or v.ndim != 2:
        raise ValueError("V: expected a scipy sparse (N, M) matrix")
    v = sp.csr_matrix(v, dtype=np.float32)
    v.sort_indices()
    n = v.shape[0]
    row_of_entry = np.repeat(np.arange(n), np.diff(v.indptr))
    mass = np.bincount(row_of_entry, weights=v.data.astype(np.float64), minlength=n)
    return v, mass


def _row_blocks(cost: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
    """Consecutive (start, stop) row ranges of total ``cost`` <= budget (>= 1 row each)."""
    start, n = 0, cost.size
    while start < n:
        total = np.cumsum(cost[start:])
        stop = start + max(1, int(np.searchsorted(total, budget, side="right")))
        yield start, stop
        start = stop


def _heavy_part(v: sp.csr_matrix, mass: np.ndarray, limit: np.ndarray):
    """sqrt of each row's heaviest entries, and the mass l of the rest (<= limit)."""
    n = v.shape[0]
    row_of_entry = np.repeat(np.arange(n), np.diff(v.indptr))
    order = np.lexsort((v.data, row_of_entry))  # ascending values within each row
    cum = np.cumsum(v.data[order].astype(np.float64))
    row_start = np.repeat(np.r_[0.0, cum][v.indptr[:-1]], np.diff(v.indptr))
    light = np.zeros(v.nnz, dtype=bool)
    light[order] = cum - row_start <= limit[row_of_entry[order]]
    light_mass = np.bincount(
        row_of_entry[light], weights=v.data[light].astype(np.float64), minlength=n
    )
    heavy = v.copy()
    heavy.data = np.where(light, 0.0, np.sqrt(v.data)).astype(np.float32)
    heavy.eliminate_zeros()
    return heavy, light_mass


def _mirrored_csr(
    parts_r: list[np.ndarray], parts_c: list[np.ndarray], parts_d: list[np.ndarray], n: int
) -> sp.csr_matrix:
    """The (n, n) symmetric CSR of upper-triangle pairs ``r <= c``: each off-diagonal
    pair is written at (r, c) and (c, r), the diagonal once; indices sorted."""
    r, c, d = (np.concatenate(p) for p in (parts_r, parts_c, parts_d))
    off = r != c
    out = sp.csr_matrix(
        (np.concatenate([d, d[off]]), (np.concatenate([r, c[off]]), np.concatenate([c, r[off]]))),
        shape=(n, n),
    )
    out.sort_indices()
    return out


def exact_pair_distances(
    v: sp.csr_matrix, mass: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> np.ndarray:
    """Jaccard distance of each pair (rows[e], cols[e]) of sorted float32 V, float32.

    The arithmetic of ``jaccard.jaccard_distance`` term by term: float32 minima
    summed in float64 in ascending column order, union m_p + m_g - s, clipped.
    """
    shared = np.empty(rows.size, dtype=np.float64)
    nnz = np.diff(v.indptr)
    for start, stop in _row_blocks(nnz[rows], _EXACT_ENTRIES):
        # Elementwise min of sorted canonical rows keeps ascending columns; zeros drop.
        mins = v[rows[start:stop]].minimum(v[cols[start:stop]]).tocsr()
        owner = np.repeat(np.arange(stop - start), np.diff(mins.indptr))
        # bincount adds in array order, as the dense path's bincount does.
        shared[start:stop] = np.bincount(
            owner, weights=mins.data.astype(np.float64), minlength=stop - start
        )
    union = mass[rows] + mass[cols] - shared
    dist = 1.0 - np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
    np.clip(dist, 0.0, 1.0, out=dist)
    return dist.astype(np.float32)


def sparse_jaccard_distance(
    v: sp.spmatrix, max_distance: float, *, show_progress: bool = True
) -> sp.csr_matrix:
    """Jaccard distances between rows of V, keeping only entries <= ``max_distance``.

    Equal, entry for entry and bit for bit, to thresholding ``jaccard_distance(v)``.

    Args:
        v: (N, N) sparse V from ``k_reciprocal_encoding`` (symmetric distance:
            each pair is computed once and mirrored).
        max_distance: largest distance kept, in [0, 1).
        show_progress: a progress bar on stderr when the work takes a while.

    Returns:
        (N, N) CSR float32 with sorted indices; explicit zeros are stored.
    """
    check_max_distance(max_distance)
    v, mass = prepared_v(v)
    n = v.shape[0]
    if v.shape[1] != n:
        raise ValueError(f"V: expected a square (N, N) matrix, got shape {v.shape}")
    need_scale = (1.0 - max_distance) / (2.0 - max_distance) * (1.0 - _BOUND_SLACK)
    # Every pair's threshold is >= need_scale * (m_p + smallest mass).
    limit = _LIGHT_SHARE * need_scale * (mass + (mass.min() if n else 0.0))
    heavy, light_mass = _heavy_part(v, mass, limit)
    root_t = v.T.tocsr()
    root_t.data = np.sqrt(root_t.data)
    holders = np.diff(root_t.indptr)
    row_of_entry = np.repeat(np.arange(n), np.diff(heavy.indptr))
    pair_cost = np.bincount(row_of_entry, weights=holders[heavy.indices], minlength=n)
    parts_r, parts_c, parts_d = [], [], []
    blocks = list(_row_blocks(pair_cost, _BLOCK_PAIRS))
    for start, stop in progress(blocks, desc="jaccard", disable=not show_progress):
        bound = (heavy[start:stop] @ root_t).tocoo()
        r = bound.row.astype(np.int64) + start
        c = bound.col.astype(np.int64)
        # Upper triangle only (d is symmetric bit for bit); then the bound's cut.
        keep = c >= r
        r, c, b = r[keep], c[keep], bound.data[keep]
        keep = b + light_mass[r] >= need_scale * (mass[r] + mass[c])
        r, c = r[keep], c[keep]
        d = exact_pair_distances(v, mass, r, c)
        near = d <= max_distance
        parts_r.append(r[near])
        parts_c.append(c[near])
        parts_d.append(d[near])
    return _mirrored_csr(parts_r, parts_c, parts_d, n)


# torch version: (row, holder) pairs expanded per row block, each costing about 48 bytes
# of device memory (keys, minima, sort and gather scratch): 2^25 pairs, ~1.6 GiB.
_TORCH_BLOCK_PAIRS = 1 << 25


def sparse_jaccard_distance_torch(
    v: sp.spmatrix, max_distance: float, *, device=None, show_progress: bool = True
) -> sp.csr_matrix:
    """:func:`sparse_jaccard_distance` computed with torch on ``device`` (a GPU's
    thousands of threads instead of scipy's one), bit for bit the same matrix.

    Every pair sharing a column of V is enumerated, by row blocks: entry (p, k) of a
    block meets each holder g >= p of column k, giving min(V[p,k], V[g,k]). A stable
    sort on the pair key keeps each pair's minima in ascending k, and
    ``torch.segment_reduce`` sums each pair's run in float64 sequentially, in that
    order (one thread a segment in pytorch's aten/src/ATen/native/cuda/SegmentReduce.cu,
    ``segment_reduce_forward_kernel``; a loop on the CPU): the CPU path's sum, term by
    term. The union, the division and the clip follow ``exact_pair_distances``.
    No bound is needed: the pairs sharing no column are at distance 1.
    """
    import torch

    from pipeline.clustering.neighbours import default_device

    check_max_distance(max_distance)
    v, mass = prepared_v(v)
    n = v.shape[0]
    if v.shape[1] != n:
        raise ValueError(f"V: expected a square (N, N) matrix, got shape {v.shape}")
    device = default_device() if device is None else torch.device(device)
    by_column = v.tocsc()
    by_column.sort_indices()
    holders = np.diff(by_column.indptr)
    # Pairs each row expands to (all holders; the upper-triangle cut comes after).
    row_of_entry = np.repeat(np.arange(n), np.diff(v.indptr))
    cost = np.bincount(row_of_entry, weights=holders[v.indices], minlength=n)

    def on_device(array, dtype=None):
        return torch.from_numpy(np.ascontiguousarray(array, dtype=dtype)).to(device)

    cols = on_device(v.indices, np.int64)
    vals = on_device(v.data, np.float32)
    col_ptr = on_device(by_column.indptr, np.int64)
    holder_rows = on_device(by_column.indices, np.int64)
    holder_vals = on_device(by_column.data, np.float32)
    holder_count = on_device(holders, np.int64)
    mass_t = on_device(mass, np.float64)
    parts_r, parts_c, parts_d = [], [], []
    blocks = list(_row_blocks(cost, _TORCH_BLOCK_PAIRS))
    with torch.no_grad():
        for start, stop in progress(blocks, desc="jaccard (torch)", disable=not show_progress):
            first, last = int(v.indptr[start]), int(v.indptr[stop])
            entry_rows = on_device(row_of_entry[first:last], np.int64)
            entry_cols, entry_vals = cols[first:last], vals[first:last]
            count = holder_count[entry_cols]
            entry = torch.repeat_interleave(torch.arange(count.numel(), device=device), count)
            offset = torch.arange(entry.numel(), device=device) - torch.repeat_interleave(
                torch.cumsum(count, 0) - count, count
            )
            pos = col_ptr[entry_cols][entry] + offset
            p, g = entry_rows[entry], holder_rows[pos]
            upper = g >= p
            p, g = p[upper], g[upper]
            mins = torch.minimum(entry_vals[entry[upper]], holder_vals[pos[upper]])
            del entry, offset, pos, upper
            # Enumeration order is (p, k ascending, g): a stable sort by (p, g) keeps
            # each pair's minima in ascending k.
            keys, order = torch.sort(p * n + g, stable=True)
            mins = mins[order].to(torch.float64)
            del p, g, order
            pair_keys, run_lengths = torch.unique_consecutive(keys, return_counts=True)
            shared = torch.segment_reduce(mins, "sum", lengths=run_lengths)
            del keys, mins
            r, c = pair_keys // n, pair_keys % n
            union = mass_t[r] + mass_t[c] - shared
            dist = 1.0 - torch.where(union > 0, shared / union, torch.zeros_like(shared))
            dist = dist.clamp_(0.0, 1.0).to(torch.float32)
            near = dist <= max_distance
            parts_r.append(r[near].cpu().numpy())
            parts_c.append(c[near].cpu().numpy())
            parts_d.append(dist[near].cpu().numpy())
    return _mirrored_csr(parts_r, parts_c, parts_d, n)
