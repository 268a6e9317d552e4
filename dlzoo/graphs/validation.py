"""Checks of graph *data* (NumPy, before batching): errors name the argument and the value.

Data is checked here, once, when graphs are packed, not inside the jitted
layers (an out-of-range index there would be silently clipped or dropped by
the segment ops of some backends).
"""

import numpy as np

from dlzoo.validation import check_positive_int


def _array(name, value):
    try:
        return np.asarray(value)
    except Exception as error:  # ragged lists and the like
        raise TypeError(f"`{name}` must be an array. Received: {name} of type {type(value).__name__} ({error}).")


def check_node_features(node_features, name="node_features"):
    """A `(num_nodes, F)` float array with at least one node; returns it as float32."""
    x = _array(name, node_features)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer) or x.dtype == bool):
        raise TypeError(f"`{name}` must hold numbers. Received: {name} with dtype {x.dtype}.")
    if x.ndim != 2:
        raise ValueError(f"`{name}` must have shape (num_nodes, num_features). Received: {name} with shape {x.shape}.")
    check_positive_int(f"{name}.shape[0] (the number of nodes)", int(x.shape[0]))
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must be finite. Received: {name} with NaN or Inf values.")
    return x.astype("float32")


def check_edge_index(edge_index, num_nodes, name="edge_index"):
    """An `(num_edges, 2)` integer array of `(source, target)` rows in `[0, num_nodes)`; returns it as int32."""
    num_nodes = check_positive_int("num_nodes", num_nodes)
    e = _array(name, edge_index)
    if e.size == 0 and e.ndim <= 2:
        return np.zeros((0, 2), "int32")
    if not np.issubdtype(e.dtype, np.integer):
        raise TypeError(f"`{name}` must hold integers (node indices). Received: {name} with dtype {e.dtype}.")
    if e.ndim != 2 or e.shape[1] != 2:
        raise ValueError(
            f"`{name}` must have shape (num_edges, 2), one (source, target) row per edge. "
            f"Received: {name} with shape {e.shape}."
        )
    bad = np.flatnonzero((e < 0).any(axis=1) | (e >= num_nodes).any(axis=1))
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"`{name}` must hold node indices in [0, {num_nodes}) (num_nodes={num_nodes}). "
            f"Received: {name}[{row}]={e[row].tolist()} ({bad.size} edge(s) out of range)."
        )
    return e.astype("int32")


def check_coordinates(coordinates, num_nodes, name="coordinates"):
    """A `(num_nodes, dim)` finite float array; returns it as float32."""
    c = _array(name, coordinates)
    if not (np.issubdtype(c.dtype, np.floating) or np.issubdtype(c.dtype, np.integer)):
        raise TypeError(f"`{name}` must hold numbers. Received: {name} with dtype {c.dtype}.")
    if c.ndim != 2 or c.shape[0] != num_nodes:
        raise ValueError(
            f"`{name}` must have shape (num_nodes, dim) with num_nodes={num_nodes}. Received: {name} with shape {c.shape}."
        )
    if not np.all(np.isfinite(c)):
        raise ValueError(f"`{name}` must be finite. Received: {name} with NaN or Inf values.")
    return c.astype("float32")
