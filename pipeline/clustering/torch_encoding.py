"""The k-reciprocal encoding of ``jaccard.k_reciprocal_encoding`` with torch on a device.

The "torch" route's encoding step: the same sets, expansion rule, weights and query
expansion, vectorised over blocks of rows in padded (rows, slots) tensors instead of
scipy products, so that a GPU does the whole step. Integer steps (the k-reciprocal
sets, the overlap counts and the float64 2/3 test, the expanded sets) are exact, so
V has the CPU path's sparsity pattern entry for entry. Values: the listed distances
are the same float64 numbers, and query expansion sums (1/k2) * w over the rank
list's members in ascending index order, sequentially (``torch.segment_reduce``),
as scipy's CSR product does. Two steps round differently: float64 ``exp`` (torch's
kernel differs from numpy's by 1 ulp on about a quarter of inputs) and the row sums
of the weights (torch's reduction order, numpy's pairwise one), plus the float32
squared norms of expansion members measured from the features. The entries of V thus
agree to a few float32 ulps (tests/clustering/test_torch_knn.py bounds it), and most
are bit-identical.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Rows per block: the largest tensor is (rows, k1+1, k1/2+1, k1+1) of int64 search
# scratch, about 0.5 MiB a row at k1=30: 1024 rows, ~0.5 GiB.
_BLOCK_ROWS = 1024
# Query-expansion terms per block (each ~40 bytes of keys, values and sort scratch).
_QE_TERMS = 1 << 22


def _reciprocal_mask(idx, k: int):
    """(N, k+1) bool: idx[p, r] lies in R(p, k), i.e. p is among idx[idx[p, r], :k+1]."""
    import torch

    n = idx.shape[0]
    head = idx[:, : k + 1]
    out = torch.empty(head.shape, dtype=torch.bool, device=idx.device)
    own = torch.arange(n, device=idx.device)
    for start in range(0, n, _BLOCK_ROWS * 8):
        stop = min(n, start + _BLOCK_ROWS * 8)
        back = head[head[start:stop]]  # (B, k+1, k+1): the lists of p's members
        out[start:stop] = (back == own[start:stop, None, None]).any(-1)
    return out


def _sorted_rows(values, sentinel: int):
    """Each row sorted, repeats replaced by ``sentinel`` and moved last; the distinct counts."""
    import torch

    values = torch.sort(values, dim=1).values
    repeat = torch.zeros_like(values, dtype=torch.bool)
    repeat[:, 1:] = values[:, 1:] == values[:, :-1]
    values = torch.where(repeat, torch.full_like(values, sentinel), values)
    values = torch.sort(values, dim=1).values
    return values, (values != sentinel).sum(1)


def k_reciprocal_encoding_torch(
    knn_idx: np.ndarray,
    knn_dist: np.ndarray,
    k1: int,
    k2: int,
    *,
    features: np.ndarray | None = None,
    device=None,
) -> sp.csr_matrix:
    """``jaccard.k_reciprocal_encoding`` computed with torch on ``device``.

    Same arguments (``features`` must be given when expansion members fall outside
    the lists) and the same (N, N) CSR float32 result, sorted indices, pattern equal
    and values within a few float32 ulps (module docstring).
    """
    import torch

    from pipeline.clustering.neighbours import (
        as_feature_matrix,
        checked_knn_lists,
        default_device,
    )

    knn_idx, knn_dist = checked_knn_lists(knn_idx, knn_dist, k1, k2)
    n, width = knn_idx.shape
    device = default_device() if device is None else torch.device(device)
    k1_half = int(np.around(k1 / 2.0))  # numpy's half-to-even, as the CPU path

    with torch.no_grad():
        idx = torch.from_numpy(knn_idx).to(device)
        dist = torch.from_numpy(knn_dist).to(device)
        x = sq = None
        if features is not None:
            x = torch.from_numpy(np.ascontiguousarray(as_feature_matrix(features))).to(device)
            sq = (x * x).sum(1)
        # The k-reciprocal sets as padded rows: R(p, k1) over idx[p, :k1+1] and the
        # half sets R(q, k1/2) over idx[q, :k1/2+1]; n marks an empty slot.
        empty = torch.tensor(n, device=device)
        recip = torch.where(_reciprocal_mask(idx, k1), idx[:, : k1 + 1], empty)
        half = torch.where(_reciprocal_mask(idx, k1_half), idx[:, : k1_half + 1], empty)
        half_size = (half != n).sum(1).to(torch.float64)
        recip_sorted = torch.sort(recip, dim=1).values  # empty slots (n) last
        # Expanded sets, distances and weights, by row blocks, as padded rows.
        parts_cols, parts_w, widths = [], [], []
        # Distance lookup: each row's list sorted by index, with its permutation.
        list_sorted, list_order = torch.sort(idx, dim=1)
        for start in range(0, n, _BLOCK_ROWS):
            stop = min(n, start + _BLOCK_ROWS)
            rows = stop - start
            members = recip[start:stop]  # (B, k1+1)
            valid = members != n
            safe = torch.where(valid, members, torch.zeros_like(members))
            halves = half[safe]  # (B, k1+1, h+1): R(q, k1/2) of each member q
            # |R(p, k1) ∩ R(q, k1/2)| by a search in p's sorted set.
            probe = halves.reshape(rows, -1)
            own = recip_sorted[start:stop]
            pos = torch.searchsorted(own, probe).clamp_(max=k1)
            hit = (own.gather(1, pos) == probe) & (probe != n)
            overlap = hit.reshape(halves.shape).sum(-1).to(torch.float64)
            chosen = valid & (overlap > (2.0 / 3.0) * half_size[safe])
            # Only the chosen members' half sets, moved first: the padded width is the
            # block's most chosen members, not k1 + 1.
            first = torch.sort(chosen.to(torch.int8), dim=1, descending=True, stable=True)
            widest = max(1, int(chosen.sum(1).max()))
            picked = first.indices[:, :widest]
            grown = torch.where(
                chosen.gather(1, picked)[..., None],
                halves.gather(1, picked[..., None].expand(-1, -1, halves.shape[2])),
                empty,
            ).reshape(rows, -1)
            cols, count = _sorted_rows(torch.cat([members, grown], 1), n)
            cols = cols[:, : int(count.max())].contiguous()
            present = cols != n
            # d(p, c): the listed distance when c is in p's list, else from the features.
            row_ids = torch.arange(start, stop, device=device)[:, None].expand_as(cols)
            lists = list_sorted[start:stop]
            at = torch.searchsorted(lists, cols).clamp_(max=width - 1)
            listed = (lists.gather(1, at) == cols) & present
            d = dist[start:stop].gather(1, list_order[start:stop].gather(1, at))
            measure = present & ~listed
            if bool(measure.any()):
                if x is None:
                    raise ValueError(
                        f"k_reciprocal_encoding_torch: {int(measure.sum())} expansion pairs lie "
                        "outside the kNN lists; pass features= to measure them"
                    )
                r, c = row_ids[measure], cols[measure]
                dots = (x[r].to(torch.float64) * x[c].to(torch.float64)).sum(1)
                # float32 norms added in float32, then the float64 product: the CPU's types.
                d[measure] = torch.clamp((sq[r] + sq[c]).to(torch.float64) - 2.0 * dots, min=0.0)
            d = torch.where(present, d, torch.full_like(d, torch.inf))
            # exp(-d) normalised per row; shifting by the row minimum keeps exp in range.
            w = torch.exp(-(d - d.min(1, keepdim=True).values))
            w = torch.where(present, w, torch.zeros_like(w))
            w = w / w.sum(1, keepdim=True)
            parts_cols.append(cols)
            parts_w.append(w)
            widths.append(cols.shape[1])
        span = max(widths)
        pad_cols = torch.full((n, span), n, dtype=torch.int64, device=device)
        pad_w = torch.zeros((n, span), dtype=torch.float64, device=device)
        at = 0
        for cols, w in zip(parts_cols, parts_w, strict=True):
            pad_cols[at : at + len(cols), : cols.shape[1]] = cols
            pad_w[at : at + len(cols), : w.shape[1]] = w
            at += len(cols)
        del parts_cols, parts_w
        if k2 > 1:
            pad_cols, pad_w = _query_expansion(idx[:, :k2], pad_cols, pad_w, k2, n)
        present = pad_cols != n
        counts = present.sum(1).cpu().numpy()
        out_cols = pad_cols[present].cpu().numpy()
        out_w = pad_w[present].to(torch.float32).cpu().numpy()
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    v = sp.csr_matrix((out_w, out_cols, indptr), shape=(n, n))
    v.eliminate_zeros()
    v.has_sorted_indices = True  # rows were built in ascending column order
    return v


def _query_expansion(heads, pad_cols, pad_w, k2: int, n: int):
    """V[p] <- sum over j in idx[p, :k2] of (1/k2) V[j], summed as scipy's CSR product.

    scipy's csr_matmat walks p's row of the averaging matrix in ascending j and adds
    each term into the output column's float64 accumulator; a stable sort on (p, col)
    of terms enumerated in (p, j ascending, slot) order and a sequential segment sum
    repeat that order.
    """
    import torch

    device = pad_cols.device
    span = pad_cols.shape[1]
    step = max(1, _QE_TERMS // (k2 * max(span, 1)))
    parts = []
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows = stop - start
        js = torch.sort(heads[start:stop], dim=1).values  # (B, k2) ascending j
        cols = pad_cols[js].reshape(rows, -1)
        terms = (pad_w[js] * (1.0 / k2)).reshape(rows, -1)
        present = cols != n
        owner = torch.arange(rows, device=device)[:, None].expand_as(cols)[present]
        keys = owner * (n + 1) + cols[present]
        keys, order = torch.sort(keys, stable=True)
        vals = terms[present][order]
        unique_keys, run = torch.unique_consecutive(keys, return_counts=True)
        sums = torch.segment_reduce(vals, "sum", lengths=run)
        owner_of, col_of = unique_keys // (n + 1), unique_keys % (n + 1)
        width = torch.bincount(owner_of, minlength=rows)
        slot = (
            torch.arange(owner_of.numel(), device=device)
            - (torch.cumsum(width, 0) - width)[owner_of]
        )
        out_cols = torch.full((rows, int(width.max())), n, dtype=torch.int64, device=device)
        out_w = torch.zeros((rows, int(width.max())), dtype=torch.float64, device=device)
        out_cols[owner_of, slot] = col_of
        out_w[owner_of, slot] = sums
        parts.append((out_cols, out_w))
    span = max(c.shape[1] for c, _ in parts)
    new_cols = torch.full((n, span), n, dtype=torch.int64, device=device)
    new_w = torch.zeros((n, span), dtype=torch.float64, device=device)
    at = 0
    for c, w in parts:
        new_cols[at : at + len(c), : c.shape[1]] = c
        new_w[at : at + len(c), : w.shape[1]] = w
        at += len(c)
    return new_cols, new_w
