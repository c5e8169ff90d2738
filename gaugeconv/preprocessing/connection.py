"""The discrete Levi-Civita connection from corner angles: gauges, log map, transporters.

Method (DESIGN.md, "Geometry"): around each vertex p the outgoing edges get tangent angles
equal to the cumulative corner angles of its ordered fan, rescaled by ``2 pi / Theta_p`` at
interior vertices (``Theta_p`` the angle sum) and left unscaled on the boundary. The first
neighbour of the fan is at angle 0: that is the gauge, e1 points to it. Angles increase in the
direction the fan is traversed, which defines the local orientation (the normal n).

Transport along edge q -> p keeps the angle to the edge (the edge is a geodesic): a vector at
angle psi in q's gauge arrives at ``phi_p(q) + pi + (psi - phi_q(p))`` in p's gauge, or, where
the fans of p and q run through the edge's faces in opposite order (``flip``), mirrored:
``phi_p(q) + pi - (psi - phi_q(p))``. Hence ``T = R(phi_p(q) + pi -/+ phi_q(p)) F**flip``.
Everything is intrinsic: only edge lengths and combinatorics enter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mesh import _CHUNK
from .connectivity import Fans

TWO_PI = 2.0 * np.pi
#: Take the shortcut for closed, consistently oriented meshes in :func:`connect` (the tests turn it
#: off to check that the general path gives the same buffers).
SHORTCUTS = True


def side_lengths(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Lengths of the face sides: ``out[f, i] = |v[faces[f, i]] - v[faces[f, (i+1) % 3]]|``, (F, 3)."""
    out = np.zeros(faces.shape)
    # per coordinate, as strided views: the three gathers of a corner hit the same cache line
    coords = [vertices[:, k] for k in range(3)]
    for start in range(0, len(faces), _CHUNK):  # cache-sized blocks, per coordinate
        f = faces[start : start + _CHUNK]
        acc = out[start : start + _CHUNK]
        for coord in coords:
            d = coord[f]
            d -= d[:, [1, 2, 0]]
            d *= d
            acc += d
    return np.sqrt(out, out=out)


def corner_angles(lengths: np.ndarray) -> np.ndarray:
    """Interior angles (F, 3) at corner i from side lengths (F, 3) (side i runs i -> i+1).

    Uses the half-angle form ``tan(alpha/2) = sqrt((s-b)(s-c) / (s (s-a)))`` with ``a`` the
    opposite side, accurate for thin triangles.
    """
    out = np.empty(lengths.shape)
    for start in range(0, len(lengths), _CHUNK):  # cache-sized blocks
        l_next = lengths[start : start + _CHUNK]  # side from the corner to the next vertex
        l_prev = l_next[:, [2, 0, 1]]  # side from the previous vertex to the corner
        l_opp = l_next[:, [1, 2, 0]]  # side opposite the corner
        s = l_next + l_prev
        s += l_opp
        s *= 0.5
        num = s - l_next
        num *= s - l_prev
        np.clip(num, 0.0, None, out=num)
        s *= s - l_opp  # > 0 for every proper triangle (validated)
        num /= s
        a = out[start : start + _CHUNK]
        np.sqrt(num, out=a)
        np.arctan(a, out=a)
        a *= 2.0
    return out


@dataclass(frozen=True)
class Connection:
    """Per-vertex and per-directed-edge buffers (float64), edges grouped by target vertex.

    Attributes
    ----------
    edge_index : (2, E) int64, row 0 source q, row 1 target p, grouped by p in fan order
    log_r, log_theta : (E,) polar coordinates of q in p's gauge
    transport_angle : (E,), transport_flip : (E,) bool, T = R(angle) F**flip maps q's gauge to p's
    angle_sum : (V,), degree : (V,) int64
    """

    edge_index: np.ndarray
    log_r: np.ndarray
    log_theta: np.ndarray
    transport_angle: np.ndarray
    transport_flip: np.ndarray
    angle_sum: np.ndarray
    degree: np.ndarray


def _segment_exclusive_cumsum(values: np.ndarray, offset: np.ndarray, min_run: int = 32) -> np.ndarray:
    """Exclusive cumulative sums restarting at each segment ``offset[v]:offset[v+1]``.

    Every output is a sum within one segment, never a running total across vertices (no
    cancellation): the inclusive sum in order, minus the value. Runs of at least ``min_run``
    consecutive segments of one length (most of a subdivided mesh) are contiguous blocks,
    summed column by column in place; the other segments are gathered by length.
    (Measured faster than a segmented log-step scan.)
    """
    out = np.empty_like(values)
    counts = np.diff(offset)
    change = np.flatnonzero(counts[1:] != counts[:-1]) + 1
    run_start = np.concatenate([[0], change])
    run_end = np.append(change, counts.size)
    long = (run_end - run_start >= min_run) & (counts[run_start] > 0)
    gathered = np.ones(counts.size, dtype=bool)
    for start, end in zip(run_start[long], run_end[long]):
        length = counts[start]
        gathered[start:end] = False
        block = values[offset[start] : offset[end]].reshape(-1, length)
        acc = out[offset[start] : offset[end]].reshape(-1, length)
        acc[:, 0] = block[:, 0]
        for k in range(1, length):
            np.add(acc[:, k - 1], block[:, k], out=acc[:, k])
        acc -= block
    for length in np.unique(counts[gathered]):
        if length == 0:
            continue
        starts = offset[:-1][gathered & (counts == length)]
        idx = starts[:, None] + np.arange(length)
        block = values[idx]
        acc = np.cumsum(block, axis=1)
        acc -= block
        out[idx] = acc
    return out


def _wrap_inplace(a: np.ndarray) -> np.ndarray:
    """Wrap ``a`` to ``[-pi, pi)`` in place (one temporary)."""
    t = a + np.pi
    t /= TWO_PI
    np.floor(t, out=t)
    t *= TWO_PI
    a -= t
    return a


def connect(fans: Fans, lengths: np.ndarray, angles: np.ndarray, n_vertices: int) -> Connection:
    """Compute the connection of an ordered mesh.

    Every fan slot (a corner of p, in angular order) gives the edge from the neighbour entering
    the slot to p; a boundary vertex has one more edge, from the neighbour leaving its last slot.
    Written for memory: few edge-sized arrays are alive at once.

    Parameters
    ----------
    fans : ordered fans of the oriented faces
    lengths : (F, 3) side lengths of ``fans.faces``
    angles : (F, 3) corner angles, :func:`corner_angles` of ``lengths``
    """
    flat = fans.faces.reshape(-1)
    alpha = angles.reshape(-1)  # (C,) by corner id
    c = fans.corner  # corners in fan order (one per slot)
    d = fans.direction.astype(bool)
    n_slots = c.size
    counts = np.diff(fans.offset)
    boundary = fans.boundary
    angle_sum = np.bincount(flat, weights=alpha, minlength=n_vertices)
    degree = counts + boundary
    n_edges = int(degree.sum())
    if SHORTCUTS and n_edges == n_slots and not fans.direction.any():
        return _connect_closed_oriented(fans, lengths, alpha, angle_sum, degree)

    # slot -> edge index: shifted by the boundary vertices before the slot's vertex
    vertex_of_slot = np.repeat(np.arange(n_vertices, dtype=np.int64), counts)
    shift = np.cumsum(boundary) - boundary
    slot_edge = shift[vertex_of_slot]
    slot_edge += np.arange(n_slots)
    del shift

    edge_index = np.empty((2, n_edges), dtype=np.int64)
    source, target = edge_index
    theta = np.empty(n_edges)
    side = np.empty(n_edges, dtype=np.int64)
    flip = np.empty(n_edges, dtype=bool)

    target[slot_edge] = vertex_of_slot
    scale = np.where(boundary, 1.0, TWO_PI / angle_sum)
    theta_slot = _segment_exclusive_cumsum(alpha[c], fans.offset)
    theta_slot *= scale[vertex_of_slot]
    theta[slot_edge] = theta_slot
    del theta_slot, vertex_of_slot, scale

    # the neighbour entering each slot: the a-corner (d = 0) or b-corner (d = 1) of the face
    step = np.where(d, 2, 1)
    enter_corner = c - c % 3 + (c % 3 + step) % 3
    del step
    source[slot_edge] = flat[enter_corner]
    # p's and q's fans traverse the shared face in opposite senses: a flip
    flip[slot_edge] = fans.corner_direction[enter_corner] != fans.direction
    # the face side on the entering edge: the b-side (d = 1) is the side starting at the b-corner
    np.copyto(enter_corner, c, where=~d)
    side[slot_edge] = enter_corner
    del enter_corner, slot_edge

    # boundary vertices: one more edge, from the neighbour leaving the last slot
    bverts = np.flatnonzero(boundary)
    last_slot = fans.offset[bverts + 1] - 1
    last_edge = np.cumsum(degree)[bverts] - 1
    cl, dl = c[last_slot], d[last_slot]
    leave_corner = cl - cl % 3 + (cl % 3 + np.where(dl, 1, 2)) % 3
    target[last_edge] = bverts
    source[last_edge] = flat[leave_corner]
    theta[last_edge] = angle_sum[bverts]
    flip[last_edge] = fans.corner_direction[leave_corner] != fans.direction[last_slot]
    side[last_edge] = np.where(dl, cl, cl - cl % 3 + (cl % 3 + 2) % 3)

    log_r = lengths.reshape(-1)[side]
    # phi_q(p): the angle of the opposite edge p -> q, found through the undirected edge
    undirected = fans.he.edge_of[side]
    del side
    key = 2 * undirected
    key += target == fans.he.edges[undirected, 1]
    del undirected
    slot = np.empty(2 * fans.he.edges.shape[0], dtype=np.int64)
    slot[key] = np.arange(n_edges)
    key ^= 1
    theta_back = theta[slot[key]]
    del slot, key
    # T = R(phi_p(q) + pi -/+ phi_q(p)) F**flip
    np.negative(theta_back, out=theta_back, where=~flip)
    theta_back += theta
    theta_back += np.pi
    transport_angle = _wrap_inplace(theta_back)
    return Connection(
        edge_index=edge_index,
        log_r=log_r,
        log_theta=_wrap_inplace(theta),
        transport_angle=transport_angle,
        transport_flip=flip,
        angle_sum=angle_sum,
        degree=degree,
    )


def _connect_closed_oriented(
    fans: Fans, lengths: np.ndarray, alpha: np.ndarray, angle_sum: np.ndarray, degree: np.ndarray
) -> Connection:
    """:func:`connect` for a closed mesh whose fans all run with their faces (``d = 0``): one
    edge per slot, in slot order; the slot at corner c enters through c's a-side, so its source
    is the next vertex of the face, its side is c and its reverse edge is the slot at the partner
    of c. Same arithmetic as the general case, without its slot-to-edge maps."""
    c = fans.corner
    n_edges = c.size
    edge_index = np.empty((2, n_edges), dtype=np.int64)
    source, target = edge_index
    target[:] = np.repeat(np.arange(angle_sum.size, dtype=np.int64), degree)
    theta = _segment_exclusive_cumsum(alpha[c], fans.offset)
    theta *= (TWO_PI / angle_sum)[target]
    np.take(fans.faces[:, [1, 2, 0]].reshape(-1), c, out=source)
    log_r = lengths.reshape(-1)[c]
    # phi_q(p): the angle of the reverse edge, at the partner corner (partners are in nearby
    # faces: gathering in corner order first is the cache-friendlier way round)
    by_corner = np.empty(n_edges)
    by_corner[c] = theta
    by_corner = by_corner[fans.partner]
    theta_back = by_corner[c]
    del by_corner
    # T = R(phi_p(q) + pi - phi_q(p)), no flips
    np.subtract(theta, theta_back, out=theta_back)
    theta_back += np.pi
    return Connection(
        edge_index=edge_index,
        log_r=log_r,
        log_theta=_wrap_inplace(theta),
        transport_angle=_wrap_inplace(theta_back),
        transport_flip=np.zeros(n_edges, dtype=bool),
        angle_sum=angle_sum,
        degree=degree,
    )


def vertex_frames(vertices: np.ndarray, fans: Fans, conn: Connection, angles: np.ndarray) -> np.ndarray:
    """Embedded frames ``(V, 3, 3)``: ``frames[p] = (e1, e2, n)`` as rows.

    n is the angle-weighted normal in p's local orientation; e1 the direction to p's first
    neighbour (angle 0) projected onto the tangent plane; e2 = n x e1. Intrinsic angles are
    rescaled at curved vertices, so the frame is exact for display, not for measurement.
    Computed per coordinate in cache-sized blocks of faces; normals are summed in face order.
    """
    faces = fans.faces
    n_vertices = len(vertices)
    x, y, z = vertices.T  # strided views: the three gathers of a corner hit the same cache line
    direction = fans.corner_direction.reshape(-1, 3)
    sums = np.zeros((3, n_vertices))
    for start in range(0, len(faces), _CHUNK):  # cache-sized blocks of faces, summed in face order
        block = slice(start, start + _CHUNK)
        f = faces[block]
        fx, fy, fz = x[f], y[f], z[f]  # (B, 3) corner coordinates
        ux, uy, uz = fx[:, 1] - fx[:, 0], fy[:, 1] - fy[:, 0], fz[:, 1] - fz[:, 0]
        wx, wy, wz = fx[:, 2] - fx[:, 0], fy[:, 2] - fy[:, 0], fz[:, 2] - fz[:, 0]
        face_normal = (uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx)
        inv_norm = 1.0 / np.sqrt(face_normal[0] ** 2 + face_normal[1] ** 2 + face_normal[2] ** 2)
        # angle weight of every corner, negative where the vertex's fan runs against the face
        a = angles[block]
        weight = np.where(direction[block] == 1, -a, a)
        weight *= inv_norm[:, None]
        owner = f.reshape(-1)
        for k in range(3):
            np.add.at(sums[k], owner, (weight * face_normal[k][:, None]).reshape(-1))
    first = conn.edge_index[0, np.cumsum(conn.degree) - conn.degree]
    frames = np.empty((n_vertices, 3, 3))
    for start in range(0, n_vertices, _CHUNK):
        block = slice(start, start + _CHUNK)
        nx, ny, nz = sums[:, block]
        norm = np.sqrt(nx * nx + ny * ny + nz * nz)
        nx, ny, nz = nx / norm, ny / norm, nz / norm
        t = vertices[first[block]] - vertices[block]
        tx, ty, tz = t.T
        dot = tx * nx + tz * nz + ty * ny  # (x + z) + y: the former einsum's order, the frames keep their bits
        tx, ty, tz = tx - dot * nx, ty - dot * ny, tz - dot * nz
        norm = np.sqrt(tx * tx + ty * ty + tz * tz)
        tx, ty, tz = tx / norm, ty / norm, tz / norm
        out = frames[block]
        out[:, 0, 0], out[:, 0, 1], out[:, 0, 2] = tx, ty, tz
        out[:, 1, 0] = ny * tz - nz * ty  # e2 = n x e1
        out[:, 1, 1] = nz * tx - nx * tz
        out[:, 1, 2] = nx * ty - ny * tx
        out[:, 2, 0], out[:, 2, 1], out[:, 2, 2] = nx, ny, nz
    return frames
