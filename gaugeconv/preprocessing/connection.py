"""The discrete Levi-Civita connection from corner angles: log map and transporters.

The formulas (docs/conventions.md, DESIGN.md "Geometry"), for a vertex p with ordered fan:

* **Log map.** The neighbour q entering the k-th slot of p's fan is at distance ``r = |pq|`` (the
  side length) and at angle ``phi_p(q) = s_p * (alpha_0 + ... + alpha_{k-1})``, the corner angles of
  the slots before it, with ``s_p = 2 pi / Theta_p`` at interior vertices (``Theta_p`` the angle
  sum) and ``s_p = 1`` on the boundary. The first neighbour is at angle 0: that is the gauge. A
  boundary vertex has one more neighbour, the one leaving its last slot, at angle ``Theta_p``.
* **Transport** along the edge q -> p keeps the angle a vector makes with the edge. A vector at
  angle psi in q's gauge makes the angle ``psi - phi_q(p)`` with the edge q -> p, and the edge
  leaves p at angle ``phi_p(q)``, arriving from the opposite direction ``phi_p(q) + pi``; so it
  arrives at ``phi_p(q) + pi + (psi - phi_q(p))``, or mirrored, ``phi_p(q) + pi - (psi - phi_q(p))``,
  where the fans of p and q run through the edge's faces in opposite senses (a *flip*, only across
  the seam of a non-orientable surface). Hence ``T = R(phi_p(q) + pi - phi_q(p))`` or
  ``T = R(phi_p(q) + pi + phi_q(p)) F``.

:func:`connect` is the reference: it follows these formulas on any ordered mesh.
:func:`connect_closed_oriented` is the fast path for closed, consistently oriented meshes, where
every slot is one edge and the reverse edge is the slot at the partner corner; the tests compare it
with the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..groups import wrap_angle
from .connectivity import Fans, next_corner, previous_corner
from .metric import NEXT

__all__ = ["Connection", "connect", "connect_closed_oriented", "fan_exclusive_cumsum"]

TWO_PI = 2.0 * np.pi


@dataclass(frozen=True)
class Connection:
    """Per-vertex and per-directed-edge buffers (float64), edges grouped by target vertex.

    Attributes
    ----------
    edge_index : (2, E) int64, row 0 source q, row 1 target p, grouped by p in fan order
    log_r, log_theta : (E,) polar coordinates of q in p's gauge
    transport_angle : (E,), transport_flip : (E,) bool, T = R(angle) F**flip maps q's gauge to p's
    angle_sum : (V,) Theta_p, degree : (V,) int64
    """

    edge_index: np.ndarray
    log_r: np.ndarray
    log_theta: np.ndarray
    transport_angle: np.ndarray
    transport_flip: np.ndarray
    angle_sum: np.ndarray
    degree: np.ndarray


def fan_exclusive_cumsum(values: np.ndarray, offset: np.ndarray, min_run: int = 32) -> np.ndarray:
    """Sums of the values before each slot in its own fan: ``out[j] = values[offset[v]:j].sum()``
    for slot j of vertex v (fan ``offset[v]:offset[v + 1]``).

    Every output is a sum within one fan, never a running total over the whole mesh minus another
    (which would lose digits on large meshes). A run of at least ``min_run`` consecutive fans of
    one length (most of a subdivided mesh) is one contiguous ``(fans, length)`` array, summed
    column by column; the remaining fans are gathered by length.
    """
    out = np.empty_like(values)
    counts = np.diff(offset)
    run_start = np.flatnonzero(np.diff(counts, prepend=-1))  # first fan of each run of equal lengths
    run_end = np.append(run_start[1:], counts.size)
    long = (run_end - run_start >= min_run) & (counts[run_start] > 0)
    gathered = np.ones(counts.size, dtype=bool)
    for start, end in zip(run_start[long], run_end[long]):
        gathered[start:end] = False
        rows = slice(offset[start], offset[end])
        block, acc = values[rows].reshape(end - start, -1), out[rows].reshape(end - start, -1)
        acc[:, 0] = 0.0
        for k in range(1, block.shape[1]):
            np.add(acc[:, k - 1], block[:, k - 1], out=acc[:, k])
    for length in np.unique(counts[gathered & (counts > 0)]):
        slots = offset[:-1][gathered & (counts == length), None] + np.arange(length)  # (fans, length)
        block = values[slots]
        out[slots[:, 0]] = 0.0
        out[slots[:, 1:]] = np.cumsum(block[:, :-1], axis=1)
    return out


def _transport(theta: np.ndarray, theta_back: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """``phi_p(q) + pi -/+ phi_q(p)``: the transporter's angle (module docstring)."""
    return wrap_angle(theta + np.pi - np.where(flip, -theta_back, theta_back))


def connect(fans: Fans, lengths: np.ndarray, angles: np.ndarray, n_vertices: int) -> Connection:
    """The connection of any ordered mesh (the reference; module docstring for the formulas).

    Parameters
    ----------
    fans : ordered fans of the oriented faces (:func:`~gaugeconv.preprocessing.connectivity.order_fans`)
    lengths : (F, 3) side lengths of ``fans.faces``
    angles : (F, 3) corner angles, :func:`~gaugeconv.preprocessing.metric.corner_angles` of ``lengths``
    n_vertices : V
    """
    flat = fans.faces.reshape(-1)
    alpha = angles.reshape(-1)  # by corner id
    side_length = lengths.reshape(-1)  # by half-edge id: half-edge c runs from corner c to the next
    c = fans.corner  # corners in fan order, one per slot
    backwards = fans.direction.astype(bool)  # the slot's face is traversed against its orientation
    counts = np.diff(fans.offset)
    slot_vertex = np.repeat(np.arange(n_vertices), counts)
    angle_sum = np.bincount(flat, weights=alpha, minlength=n_vertices)
    degree = counts + fans.boundary  # a boundary vertex has one edge more than slots
    edge_start = np.cumsum(degree) - degree

    # every slot: the edge from the neighbour it is entered from (through the corner's a-side when
    # traversed forwards, its b-side backwards)
    slot_edge = edge_start[slot_vertex] + np.arange(c.size) - fans.offset[slot_vertex]
    enter = np.where(backwards, previous_corner(c), next_corner(c))  # the neighbour's corner
    enter_side = np.where(backwards, previous_corner(c), c)  # the half-edge between the two
    scale = np.where(fans.boundary, 1.0, TWO_PI / angle_sum)
    slot_theta = fan_exclusive_cumsum(alpha[c], fans.offset) * scale[slot_vertex]

    # every boundary vertex: one more edge, from the neighbour leaving its last slot, at angle Theta_p
    last = fans.offset[1:][fans.boundary] - 1
    cl, bl = c[last], backwards[last]
    leave = np.where(bl, next_corner(cl), previous_corner(cl))
    leave_side = np.where(bl, cl, previous_corner(cl))
    boundary = np.flatnonzero(fans.boundary)
    last_edge = edge_start[boundary] + counts[boundary]

    n_edges = int(degree.sum())
    edge_index = np.empty((2, n_edges), dtype=np.int64)
    theta, side, flip = np.empty(n_edges), np.empty(n_edges, dtype=np.int64), np.empty(n_edges, dtype=bool)
    for edges, target, neighbour, half_edge, angle, direction in (
        (slot_edge, slot_vertex, enter, enter_side, slot_theta, fans.direction),
        (last_edge, boundary, leave, leave_side, angle_sum[boundary], fans.direction[last]),
    ):
        edge_index[0, edges] = flat[neighbour]
        edge_index[1, edges] = target
        side[edges] = half_edge
        theta[edges] = angle
        # p's and q's fans traverse the shared face in opposite senses: a flip
        flip[edges] = fans.corner_direction[neighbour] != direction

    # phi_q(p) is the angle of the reverse edge; the two directions of an undirected edge u are
    # told apart by whether the target is its larger endpoint
    undirected = fans.he.edge_of[side]
    key = 2 * undirected + (edge_index[1] == fans.he.edges[undirected, 1])
    edge_of_key = np.empty(2 * fans.he.edges.shape[0], dtype=np.int64)
    edge_of_key[key] = np.arange(n_edges)
    theta_back = theta[edge_of_key[key ^ 1]]
    return Connection(
        edge_index=edge_index,
        log_r=side_length[side],
        log_theta=wrap_angle(theta),
        transport_angle=_transport(theta, theta_back, flip),
        transport_flip=flip,
        angle_sum=angle_sum,
        degree=degree,
    )


def _at_reverse_slot(values: np.ndarray, c: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """``values`` (one per slot, slots at the corners ``c``) read at every slot's reverse edge: the
    slot at the partner corner. Partners lie in nearby faces, so the gathers run in corner order."""
    by_corner = np.empty(c.size)
    by_corner[c] = values
    return by_corner[partner][c]


def connect_closed_oriented(fans: Fans, lengths: np.ndarray, angles: np.ndarray, n_vertices: int) -> Connection:
    """:func:`connect` for a closed mesh whose fans all run with their faces (the fast path).

    There every slot is one edge, in slot order: the slot at corner c is entered through c's
    a-side (half-edge c), its neighbour is the next corner's vertex, and the reverse edge is the
    slot at the partner corner of c (the other half-edge of the same edge). No flips.
    """
    if fans.boundary.any() or fans.direction.any():
        raise ValueError("connect_closed_oriented needs a closed mesh with consistently oriented fans")
    alpha = angles.reshape(-1)
    c = fans.corner
    degree = np.diff(fans.offset)
    edge_index = np.empty((2, c.size), dtype=np.int64)
    source, target = edge_index
    target[:] = np.repeat(np.arange(n_vertices), degree)
    np.take(fans.faces[:, NEXT].reshape(-1), c, out=source)  # the vertex after each corner in its face
    angle_sum = np.bincount(fans.faces.reshape(-1), weights=alpha, minlength=n_vertices)
    theta = fan_exclusive_cumsum(alpha[c], fans.offset)
    theta *= (TWO_PI / angle_sum)[target]  # every fan rescaled to a full turn (in place: peak memory)
    transport = wrap_angle(theta + np.pi - _at_reverse_slot(theta, c, fans.partner))  # no flips
    return Connection(
        edge_index=edge_index,
        log_r=lengths.reshape(-1)[c],
        log_theta=wrap_angle(theta),
        transport_angle=transport,
        transport_flip=np.zeros(c.size, dtype=bool),
        angle_sum=angle_sum,
        degree=degree,
    )
