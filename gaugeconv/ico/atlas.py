"""The icosahedral atlas: five charts of a skewed hexagonal grid, seams, C6 transport, corners.

The icosahedron subdivided ``r`` times (:func:`gaugeconv.shapes.icosahedron`) has
``V = 10 * 4**r + 2`` vertices. Cut along the five edges from the north pole ``N`` (base vertex 0)
to the upper ring ``u_0..u_4`` and along five edges to the south pole ``S``, it unfolds into five
parallelograms ("charts"), each a strip of four base triangles (Cohen, Weiler, Kicanaoglu, Welling
2019). With ``n = 2**r``, chart ``k`` has lattice coordinates ``(s, t)``, ``0 <= s <= n``,
``0 <= t <= 2n``; its corners are ``u_k = (0, 0)``, ``N = (n, 0)``, ``u_{k+1} = (n, n)``,
``l_k = (0, n)``, ``l_{k+1} = (n, 2n)``, ``S = (0, 2n)`` (``l_k`` the lower-ring vertex adjacent to
``u_k`` and ``u_{k+1}``). Chart k *owns* the cells ``0 <= s < n``, ``0 <= t < 2n``: ``2 n**2`` cells,
so the five charts own every vertex except the two poles.

**Atlas order.** Per-vertex data in the fast path is stored in atlas order: index
``a = k * 2n**2 + s * 2n + t`` for chart cells, then ``N`` at ``10 n**2`` and ``S`` at
``10 n**2 + 1``. A tensor ``(B, C, V)`` in atlas order reshapes (its first ``10 n**2`` columns)
to chart arrays ``(B, C, 5, n, 2n)`` without copying.

**Directions and frames.** The six lattice neighbours of a cell are ``(s, t) + delta_d`` with
``delta = (1,1), (1,0), (0,-1), (-1,-1), (-1,0), (0,1)`` for ``d = 0..5``: direction ``d`` is at
angle ``60 d`` degrees, counter-clockwise seen from outside the icosahedron (the mesh's face
orientation). The gauge of a vertex is its owner chart's lattice frame (e1 along direction 0).
Transport of a C6 feature from neighbour q to p is a rotation by ``shift * 60`` degrees, where
``shift = d_p(q) + 3 - d_q(p) (mod 6)`` (``d_p(q)`` the direction of q seen from p): zero
inside a chart, nonzero only across seams.

**Corners.** The 12 base vertices have 5 neighbours (a cone point, no C6 frame). The layers set a
corner's features to the mean over its 5 neighbours, averaged over the 6 orientations for regular
fields: an orientation-constant vector needs no frame, so reading it with any transport is exact,
and the rule commutes with every rotation of the icosahedron (corners map to corners).

Everything here is derived from the mesh: chart coordinates come from the exact barycentric
coordinates of the flat subdivided icosahedron's vertices in the 20 base faces, directions
outside a chart from the mesh's fan order. numpy only; the torch layers read these tables.
"""

from __future__ import annotations

import numpy as np

from ..shapes import icosahedron

#: Lattice offsets ``(ds, dt)`` of the six directions ``d = 0..5`` (angle ``60 d`` degrees).
DIRECTIONS = np.array([(1, 1), (1, 0), (0, -1), (-1, -1), (-1, 0), (0, 1)], dtype=np.int64)
DIRECTIONS.flags.writeable = False

__all__ = ["DIRECTIONS", "IcoAtlas"]


def _fan_successor(faces: np.ndarray, n_vertices: int):
    """Keys ``p * V + a`` sorted, with values ``b``: the neighbour after ``a`` around ``p``
    (counter-clockwise, from each oriented face ``(p, a, b)``)."""
    p = faces.reshape(-1)
    a = np.roll(faces, -1, axis=1).reshape(-1)
    b = np.roll(faces, -2, axis=1).reshape(-1)
    key = p * n_vertices + a
    order = np.argsort(key)
    return key[order], b[order]


def _like(x, index: np.ndarray):
    """``index`` as an index for ``x``: a torch tensor on x's device for torch inputs."""
    if isinstance(x, np.ndarray):
        return index
    import torch

    return torch.tensor(index, device=x.device)


def _lookup(keys, values, query):
    pos = np.searchsorted(keys, query)
    pos = np.minimum(pos, len(keys) - 1)
    if not np.all(keys[pos] == query):
        raise RuntimeError("icosahedral atlas: inconsistent fan structure (internal error)")
    return values[pos]


class IcoAtlas:
    """Chart layout, neighbours and seam transport of the icosahedron at one level (numpy).

    Build it once per level and pass it to the layers (``IcoConv(in_type, out_type, atlas)``): they
    read its tables into buffers. Every array attribute is read-only.

    Parameters
    ----------
    level : int >= 0, subdivision level r; ``n = 2**r``

    Attributes
    ----------
    level, n : int
    n_vertices : int, ``V = 10 * 4**level + 2``
    vertex_of_atlas : (V,) int64, mesh vertex (order of ``shapes.icosahedron(level)``) at each atlas index
    atlas_of_vertex : (V,) int64, the inverse permutation
    chart_coords : (V, 3) int64, ``(k, s, t)`` of each mesh vertex in its owner chart; ``-1`` rows at the poles
    corners : (12,) int64, mesh ids of the 12 corners (degree 5)
    corner_neighbours : (12, 5) int64, their neighbours (mesh ids)
    neighbours : (V, 6) int64, ``neighbours[p, d]`` = mesh id of p's neighbour in direction d of
        p's frame; ``-1`` rows at corners
    shifts : (V, 6) int64, C6 transport from ``neighbours[p, d]`` to p (rotation by ``60 * shift``
        degrees); 0 where the neighbour is a corner
    pad_source : (5, n+2, 2n+2) int64, atlas index read into each cell of a padded chart
        (padded cell ``(k, s+1, t+1)`` holds lattice point ``(s, t)``; unused cells read index 0)
    pad_shift : (5, n+2, 2n+2) int64, C6 transport applied to it
    pad_from_corner : (5, n+2, 2n+2) bool, the cell reads a corner
    """

    def __init__(self, level: int):
        if not isinstance(level, (int, np.integer)) or level < 0:
            raise ValueError(f"level must be an integer >= 0, got {level!r}")
        self.level = int(level)
        self.n = n = 2**self.level
        mesh = icosahedron(self.level, sphere=False)
        base = icosahedron(0, sphere=False)
        self.n_vertices = V = mesh.n_vertices
        faces = np.asarray(mesh.faces, dtype=np.int64)
        keys, succ = _fan_successor(faces, V)
        degree = np.bincount(faces.reshape(-1), minlength=V)  # closed mesh: faces = neighbours
        self.corners = np.flatnonzero(degree == 5)
        if len(self.corners) != 12 or np.any((degree != 5) & (degree != 6)):
            raise RuntimeError("icosahedral atlas: unexpected vertex degrees (internal error)")

        charts = self._chart_faces(base)
        grid = self._fill_charts(mesh, base, charts)  # (5, n+1, 2n+1) mesh ids
        north, south = charts[0][0][0][0], charts[0][3][0][2]

        # atlas order
        owned = grid[:, :n, : 2 * n].reshape(-1)
        self.vertex_of_atlas = np.concatenate([owned, [north, south]]).astype(np.int64)
        self.atlas_of_vertex = np.full(V, -1, dtype=np.int64)
        self.atlas_of_vertex[self.vertex_of_atlas] = np.arange(V)
        if np.any(self.atlas_of_vertex < 0):
            raise RuntimeError("icosahedral atlas: charts do not cover every vertex once (internal error)")
        k, s, t = np.meshgrid(np.arange(5), np.arange(n), np.arange(2 * n), indexing="ij")
        self.chart_coords = np.full((V, 3), -1, dtype=np.int64)
        self.chart_coords[owned] = np.stack([k.ravel(), s.ravel(), t.ravel()], 1)

        # corner neighbours in fan order
        first = np.array([faces[np.flatnonzero((faces == c).any(1))[0]] for c in self.corners])
        start = np.array([row[(list(row).index(c) + 1) % 3] for row, c in zip(first, self.corners)])
        ring = [start]
        for _ in range(4):
            ring.append(_lookup(keys, succ, self.corners * V + ring[-1]))
        self.corner_neighbours = np.stack(ring, 1)

        # neighbours of non-corner vertices in their owner chart's directions
        is_corner = np.zeros(V, bool)
        is_corner[self.corners] = True
        regular = np.flatnonzero(~is_corner)
        kc, sc, tc = self.chart_coords[regular].T
        if np.any(kc < 0):
            raise RuntimeError("icosahedral atlas: a pole is not a corner (internal error)")
        d0 = grid[kc, sc + 1, tc + 1]  # direction 0 = (1, 1) stays inside the closed chart
        fan = [d0]
        for _ in range(5):
            fan.append(_lookup(keys, succ, regular * V + fan[-1]))
        nbr = np.stack(fan, 1)
        ds, dt = DIRECTIONS.T
        ss, tt = sc[:, None] + ds, tc[:, None] + dt
        inside = (ss >= 0) & (ss <= n) & (tt >= 0) & (tt <= 2 * n)
        lattice = grid[kc[:, None], np.clip(ss, 0, n), np.clip(tt, 0, 2 * n)]
        if np.any(inside & (lattice != nbr)):
            raise RuntimeError("icosahedral atlas: lattice and fan order disagree (internal error)")
        self.neighbours = np.full((V, 6), -1, dtype=np.int64)
        self.neighbours[regular] = nbr

        # transport shifts d_p(q) + 3 - d_q(p)
        self.shifts = np.zeros((V, 6), dtype=np.int64)
        q = nbr
        q_regular = ~is_corner[q]
        back = np.zeros_like(q)
        rows = self.neighbours[q[q_regular]]  # (M, 6)
        hit = rows == np.repeat(regular, 6).reshape(-1, 6)[q_regular][:, None]
        if not np.all(hit.sum(1) == 1):
            raise RuntimeError("icosahedral atlas: neighbour relation not symmetric (internal error)")
        back[q_regular] = np.argmax(hit, 1)
        shift = (np.arange(6)[None, :] + 3 - back) % 6
        self.shifts[regular] = np.where(q_regular, shift, 0)

        self._build_padding(regular, kc, sc, tc)
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _chart_faces(base):
        """For each chart k, its four base faces as (corner ids, lattice coords in units of n)."""
        faces = np.asarray(base.faces)
        keys, succ = _fan_successor(faces, 12)
        north = 0
        ring_n = [int(np.setdiff1d(faces[(faces == north).any(1)], [north]).min())]
        for _ in range(4):
            ring_n.append(int(_lookup(keys, succ, np.array([north * 12 + ring_n[-1]]))[0]))
        adjacency = [set() for _ in range(12)]
        for f in faces:
            for i in range(3):
                adjacency[f[i]].update((f[(i + 1) % 3], f[(i + 2) % 3]))
        lower = []
        for k in range(5):
            common = adjacency[ring_n[k]] & adjacency[ring_n[(k + 1) % 5]] - {north}
            lower.append(common.pop())
        south = (set(range(12)) - {north} - set(ring_n) - set(lower)).pop()
        charts = []
        for k in range(5):
            u0, u1, l0, l1 = ring_n[k], ring_n[(k + 1) % 5], lower[k], lower[(k + 1) % 5]
            charts.append(
                [
                    ((north, u0, u1), ((1, 0), (0, 0), (1, 1))),
                    ((u0, l0, u1), ((0, 0), (0, 1), (1, 1))),
                    ((u1, l0, l1), ((1, 1), (0, 1), (1, 2))),
                    ((l0, l1, south), ((0, 1), (1, 2), (0, 2))),
                ]
            )
        used = sorted(tuple(sorted(f)) for c in charts for f, _ in c)
        if used != sorted(tuple(sorted(f)) for f in faces.tolist()):
            raise RuntimeError("icosahedral atlas: charts do not tile the base faces (internal error)")
        return charts

    def _fill_charts(self, mesh, base, charts):
        """Lattice point -> mesh vertex for each closed chart, from barycentric coordinates."""
        n = self.n
        pos = np.asarray(mesh.vertices)
        corners = np.asarray(base.vertices)
        grid = np.full((5, n + 1, 2 * n + 1), -1, dtype=np.int64)
        for k, chart in enumerate(charts):
            for ids, coords in chart:
                bary = pos @ np.linalg.inv(corners[list(ids)])  # rows: x = bary @ corners
                inside = (np.abs(bary.sum(1) - 1) < 1e-9) & np.all(bary > -1e-9, axis=1)
                lat = bary[inside] @ (n * np.asarray(coords, dtype=np.float64))
                cell = np.rint(lat).astype(np.int64)
                if np.abs(lat - cell).max(initial=0) > 1e-6 or inside.sum() != (n + 1) * (n + 2) // 2:
                    raise RuntimeError("icosahedral atlas: vertices are not on the lattice (internal error)")
                ids_in = np.flatnonzero(inside)
                prev = grid[k, cell[:, 0], cell[:, 1]]
                if np.any((prev >= 0) & (prev != ids_in)):
                    raise RuntimeError("icosahedral atlas: overlapping chart faces (internal error)")
                grid[k, cell[:, 0], cell[:, 1]] = ids_in
        if np.any(grid < 0):
            raise RuntimeError("icosahedral atlas: a chart has holes (internal error)")
        return grid

    def _build_padding(self, regular, kc, sc, tc):
        n = self.n
        shape = (5, n + 2, 2 * n + 2)
        source = np.full(shape, -1, dtype=np.int64)
        shift = np.zeros(shape, dtype=np.int64)
        # owned cells read themselves
        k, s, t = np.meshgrid(np.arange(5), np.arange(n), np.arange(2 * n), indexing="ij")
        source[k, s + 1, t + 1] = np.arange(10 * n * n).reshape(5, n, 2 * n)
        for d, (ds, dt) in enumerate(DIRECTIONS):
            q = self.neighbours[regular, d]
            cs, ct = sc + ds + 1, tc + dt + 1
            want_src = self.atlas_of_vertex[q]
            want_shift = self.shifts[regular, d]
            have = source[kc, cs, ct]
            clash = (have >= 0) & ((have != want_src) | (shift[kc, cs, ct] != want_shift))
            if np.any(clash):
                raise RuntimeError("icosahedral atlas: seams are not consistent (internal error)")
            source[kc, cs, ct] = want_src
            shift[kc, cs, ct] = want_shift
        self.pad_from_corner = np.isin(source, self.atlas_of_vertex[self.corners])
        self.pad_source = np.where(source < 0, 0, source)
        self.pad_shift = shift

    # ------------------------------------------------------------------ conversions
    def to_atlas(self, x):
        """Per-vertex features in mesh order ``(..., V, C)`` -> atlas tensor ``(..., C, V)`` in atlas order.

        Works for numpy arrays and torch tensors.
        """
        self._check_vertices(x, -2)
        return x[..., _like(x, self.vertex_of_atlas), :].swapaxes(-1, -2)

    def to_vertices(self, y):
        """Atlas tensor ``(..., C, V)`` -> per-vertex features ``(..., V, C)`` in mesh order."""
        self._check_vertices(y, -1)
        return y[..., _like(y, self.atlas_of_vertex)].swapaxes(-1, -2)

    def charts(self, y):
        """View of the chart cells of an atlas tensor: ``(..., C, V)`` -> ``(..., C, 5, n, 2n)``."""
        self._check_vertices(y, -1)
        n = self.n
        return y[..., : 10 * n * n].reshape(*y.shape[:-1], 5, n, 2 * n)

    def poles(self, y):
        """The two poles of an atlas tensor: ``(..., C, V)`` -> ``(..., C, 2)`` (north, south)."""
        self._check_vertices(y, -1)
        return y[..., 10 * self.n * self.n :]

    def _check_vertices(self, x, axis):
        if x.ndim < 2 or x.shape[axis] != self.n_vertices:
            raise ValueError(
                f"expected {self.n_vertices} vertices (level {self.level}) on axis {axis}, got shape {tuple(x.shape)}"
            )

    def __repr__(self) -> str:
        return f"IcoAtlas(level={self.level}: 5 charts of {self.n}x{2 * self.n}, V={self.n_vertices})"
