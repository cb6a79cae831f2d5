"""A merge tree (the order in which regions were merged) and its cuts: `cut(tree, n)`
gives the segmentation with exactly n segments, `cut_at_level(tree, t)` the one at a
score threshold, so one tree gives a whole segments-vs-quality curve."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["MergeTree", "cut", "cut_at_level", "leaf_assignment"]


@dataclasses.dataclass
class MergeTree:
    """The merge order of a region hierarchy (like a SciPy linkage matrix).

    Attributes:
        superpixels: (H, W) int32 leaf labels 0..n_leaves-1.
        merges: (n_merges, 2) int64; merge k joins clusters ``merges[k]`` into the new
            cluster ``n_leaves + k`` (leaves are clusters 0..n_leaves-1).
        distances: (n_merges,) float64 distance at which each merge happened (not
            necessarily monotone; with a learned merge order, its scores).
        levels: (n_merges,) float64 ``np.maximum.accumulate(distances)``: the
            ultrametric level of each merge (monotone), used by `cut_at_level`.
    """

    superpixels: np.ndarray
    merges: np.ndarray
    distances: np.ndarray
    levels: np.ndarray

    @property
    def n_leaves(self) -> int:
        """Number of leaf superpixels."""
        return int(self.superpixels.max()) + 1

    @property
    def min_segments(self) -> int:
        """Segments left after all merges (1 for a connected image)."""
        return self.n_leaves - len(self.merges)


def leaf_assignment(tree: MergeTree, n_merges: int) -> np.ndarray:
    """Cluster of each leaf after the first ``n_merges`` merges, dense 0..m-1 in order of
    each cluster's smallest leaf."""
    n = tree.n_leaves
    parent = np.arange(n + n_merges)
    merges = tree.merges[:n_merges]
    # A cluster's parent is the merge that consumed it; the root of a leaf is found by
    # following parents, processed from the last merge backwards (vectorized by levels).
    if n_merges:
        parent[merges[:, 0]] = np.arange(n, n + n_merges)
        parent[merges[:, 1]] = np.arange(n, n + n_merges)
        # Pointer jumping: O(log depth) vectorized passes.
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    roots = parent[:n]
    _, first_leaf = np.unique(roots, return_index=True)
    order = np.argsort(first_leaf)          # clusters ranked by their smallest leaf
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    _, inverse = np.unique(roots, return_inverse=True)
    return rank[inverse]


def cut(tree: MergeTree, n_segments: int) -> np.ndarray:
    """The segmentation with ``n_segments`` regions: the first ``n_leaves - n_segments``
    merges applied. ``n_segments`` is clipped to ``[tree.min_segments, n_leaves]``.

    Returns:
        (H, W) int32 dense labels 0..n_segments-1 (numbered in order of each segment's
        smallest superpixel label).
    """
    n_segments = int(np.clip(n_segments, tree.min_segments, tree.n_leaves))
    return leaf_assignment(tree, tree.n_leaves - n_segments)[tree.superpixels]


def cut_at_level(tree: MergeTree, level: float) -> np.ndarray:
    """The segmentation after every merge whose ultrametric level is <= ``level``.

    Returns:
        (H, W) int32 dense labels.
    """
    n_merges = int(np.searchsorted(tree.levels, level, side="right"))
    return leaf_assignment(tree, n_merges)[tree.superpixels]
