"""Transformations of graph inputs for equivariance tests: rotations (with reflections) and node relabelling.

An E(n)-equivariant model `f(h, x, edges) -> (h', x')` must satisfy, for any
orthogonal `Q`, translation `t` and node permutation `P` (with the edge list
relabelled): `f(P h, P x Q + t, P edges) = (P h', P x' Q + t)`. These helpers
make `Q` and `P` with NumPy only.
"""

import numpy as np


def random_orthogonal_matrix(dim: int, rng: np.random.Generator, reflection: bool = True) -> np.ndarray:
    """A random `(dim, dim)` orthogonal matrix (float64); `reflection=True` gives determinant -1.

    Drawn from the QR decomposition of a Gaussian matrix (signs fixed so the
    draw is uniform over the orthogonal group), then one axis flipped when
    the determinant does not match what was asked.
    """
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    if (np.linalg.det(q) < 0) != reflection:
        q[:, 0] = -q[:, 0]
    return q


def relabel_nodes(permutation: np.ndarray, edge_index: np.ndarray, rng: np.random.Generator = None):
    """The edge list of a graph whose new node `k` is old node `permutation[k]`.

    Rows of per-node arrays are permuted with `array[permutation]`; the edge
    list must name the new labels: old node `permutation[k]` becomes `k`.
    With `rng`, the edge rows are shuffled too (the order of edges must not
    matter either).

    Returns:
        int32 array `(num_edges, 2)`.
    """
    permutation = np.asarray(permutation)
    new_label = np.empty_like(permutation)
    new_label[permutation] = np.arange(len(permutation))
    relabelled = new_label[np.asarray(edge_index)]
    if rng is not None:
        relabelled = relabelled[rng.permutation(len(relabelled))]
    return relabelled.astype("int32")


__all__ = ["random_orthogonal_matrix", "relabel_nodes"]
