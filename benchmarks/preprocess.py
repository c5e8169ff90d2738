"""Benchmark: preprocess() on icospheres of levels 5 to 8, against a minimal numpy baseline.

    python benchmarks/preprocess.py [--levels 5 6 7 8] [--repeats 6] [--profile 7]

For each level it prints vertices V, directed edges E, the best wall time of ``preprocess(mesh)``
over ``--repeats`` runs (the same number at every level: the best of several runs filters out the
page-fault stalls of this virtual machine, which hit short and long runs alike)
(building and validating the mesh is not timed) and its CPU time, time per vertex and its ratio to the first
level, the peak memory allocated during preprocess (tracemalloc, a separate untimed run; the
mesh itself was allocated before and is not counted, the returned buffers are), and the ratio
to a baseline measured in the same process: the minimal numpy computation of 1-ring tangent
angles (extract the directed edges from the faces, vertex normals from face normals, project
each neighbour q - p onto p's tangent plane, its angle against a projected reference axis).
The baseline does none of the intrinsic work (fan ordering, orientation, transporters, frames),
so the ratio says what the full connection costs over "just projecting neighbours".
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
import tracemalloc

import numpy as np

from gaugeconv import preprocess, shapes

# issue 2 targets
TARGET_SECONDS = {7: 1.0, 8: 5.0}
TARGET_PER_VERTEX_SPREAD = 1.5
TARGET_BYTES_PER_VERTEX = 1536


def baseline_tangent_angles(vertices: np.ndarray, faces: np.ndarray):
    """1-ring neighbours projected onto tangent planes: ``(edge_index (2, E), angle (E,))``.

    Vectorised numpy; every mesh edge in both directions, like preprocess.
    """
    n = len(vertices)
    src = faces.reshape(-1)
    dst = np.roll(faces, -1, axis=1).reshape(-1)
    key = np.sort(np.minimum(src, dst).astype(np.int64) * n + np.maximum(src, dst))
    key = key[np.r_[True, key[1:] != key[:-1]]]  # unique (np.unique is ~15x slower here on numpy 2.4)
    a, b = key // n, key % n
    q = np.concatenate([a, b])  # source
    p = np.concatenate([b, a])  # target
    corners = vertices[faces]
    face_normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normal = np.stack([np.bincount(src, np.repeat(face_normal[:, k], 3), minlength=n) for k in range(3)], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    # reference direction: the coordinate axis least aligned with n, projected to the tangent plane
    axis = np.eye(3)[np.argmin(np.abs(normal), axis=1)]
    e1 = axis - np.sum(axis * normal, axis=1, keepdims=True) * normal
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 = np.cross(normal, e1)
    d = vertices[q] - vertices[p]
    d -= np.sum(d * normal[p], axis=1, keepdims=True) * normal[p]
    angle = np.arctan2(np.sum(d * e2[p], axis=1), np.sum(d * e1[p], axis=1))
    return np.stack([q, p]), angle


def best_time(repeats: int, fn, *args) -> tuple:
    """Best wall-clock and best CPU (this process) seconds over ``repeats`` runs. The machine is
    shared: CPU time shows the work when other processes inflate the wall time."""
    wall = cpu = np.inf
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(*args)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def peak_bytes(fn, *args) -> int:
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def profile(level: int, top: int = 25) -> str:
    mesh = shapes.icosahedron(level)
    profiler = cProfile.Profile()
    profiler.runcall(preprocess, mesh)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[5, 6, 7, 8])
    parser.add_argument("--repeats", type=int, default=6, help="best of this many runs at every level")
    parser.add_argument("--profile", type=int, metavar="LEVEL", help="also print a cProfile summary at LEVEL")
    args = parser.parse_args(argv)

    preprocess(shapes.icosahedron(1))  # warm up imports and caches
    header = (
        f"{'level':>5} {'V':>8} {'E':>9} {'seconds':>8} {'cpu s':>6} {'us/V':>6} {'x lvl' + str(args.levels[0]):>7} "
        f"{'peak B/V':>8} {'out B/V':>7} {'baseline s':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    rows = {}
    for level in args.levels:
        mesh = shapes.icosahedron(level)  # not timed
        repeats = args.repeats
        geometry = preprocess(mesh)
        seconds, cpu = best_time(repeats, preprocess, mesh)
        base_edges, _ = baseline_tangent_angles(mesh.vertices, mesh.faces)
        if base_edges.shape[1] != geometry.n_edges:  # the ratio needs the same work size
            raise RuntimeError(f"baseline has {base_edges.shape[1]} edges, preprocess {geometry.n_edges}")
        base, _ = best_time(max(repeats, 2), baseline_tangent_angles, mesh.vertices, mesh.faces)
        out_bytes = sum(getattr(geometry, f).nbytes for f in ("frames", "vertex_area", "degree", "boundary"))
        out_bytes += sum(
            getattr(geometry, f).nbytes
            for f in ("angle_defect", "edge_index", "log_r", "log_theta", "transport_angle", "transport_flip")
        )
        del geometry
        peak = peak_bytes(preprocess, mesh)
        V = mesh.n_vertices
        per_vertex = seconds / V
        rows[level] = per_vertex
        spread = per_vertex / rows[args.levels[0]]
        print(
            f"{level:>5} {V:>8} {len(base_edges[0]):>9} {seconds:>8.3f} {cpu:>6.3f} "
            f"{per_vertex * 1e6:>6.2f} {spread:>7.2f} "
            f"{peak / V:>8.0f} {out_bytes / V:>7.0f} {base:>10.3f} {seconds / base:>6.1f}"
        )
        rows[(level, "s")] = seconds
        rows[(level, "cpu")] = cpu
        rows[(level, "peak")] = peak / V
    print()
    for level, limit in TARGET_SECONDS.items():
        if (level, "s") in rows:
            s, c = rows[(level, "s")], rows[(level, "cpu")]
            print(
                f"target level {level} <= {limit:g} s: wall {s:.3f} s {'met' if s <= limit else 'NOT met'} "
                f"(cpu {c:.3f} s {'met' if c <= limit else 'NOT met'})"
            )
    levels = [lv for lv in args.levels if lv in rows]
    spread = max(rows[lv] for lv in levels) / min(rows[lv] for lv in levels)
    per_cpu = [rows[(lv, "cpu")] / (10 * 4**lv + 2) for lv in levels]
    spread_cpu = max(per_cpu) / min(per_cpu)
    print(
        f"target per-vertex time spread (slowest / fastest level) <= {TARGET_PER_VERTEX_SPREAD}x: wall {spread:.2f}x",
        end=" ",
    )
    print("met" if spread <= TARGET_PER_VERTEX_SPREAD else "NOT met", end=" ")
    print(f"(cpu {spread_cpu:.2f}x {'met' if spread_cpu <= TARGET_PER_VERTEX_SPREAD else 'NOT met'})")
    worst = max(rows[(lv, "peak")] for lv in levels)
    print(f"target peak memory <= {TARGET_BYTES_PER_VERTEX} B/vertex: worst {worst:.0f} B/vertex", end=" ")
    print("met" if worst <= TARGET_BYTES_PER_VERTEX else "NOT met")
    if args.profile is not None:
        print(f"\ncProfile of preprocess at level {args.profile} (by own time):")
        print(profile(args.profile))


if __name__ == "__main__":
    main()
