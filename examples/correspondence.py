"""Shape correspondence as vertex-index classification: GEM-CNN's FAUST protocol.

Every vertex of a mesh is labelled with its index on a template; all meshes share the template's
connectivity, so a network that predicts, per vertex, one of V classes predicts a correspondence.
Metrics: accuracy at geodesic error 0 (the exact vertex) and the cumulative geodesic error curve
(share of vertices whose prediction lies within r of the truth; r in units of sqrt(area), the
Princeton protocol), from :mod:`gaugeconv.data.metrics`.

Data:

* ``--root DIR`` holding MPI-FAUST: the 100 registrations, first 80 train, last 20 test
  (:class:`gaugeconv.data.FAUST`); geodesic errors on each test shape.
* without it, an offline stand-in: a procedural figure with a head, two arms and two legs (about
  3,500 vertices; a union of capsules meshed by marching tetrahedra, then relaxed on the surface),
  turned into many shapes by random articulated bending of the limbs at shoulders, elbows, hips,
  knees and neck (linear blend skinning) plus small noise: near-isometric deformations. Test
  shapes are also rotated at random ("rotated" columns); geodesic errors on the template.

Models (:class:`gaugeconv.models.GaugeResNet`, per-vertex invariant head with V outputs):
``gauge`` (fields of orders 0, 1, 2) against ``isotropic`` (trivial fields only: every kernel
isotropic), each on ``xyz`` (the coordinates) or ``intrinsic`` inputs (heat kernel signature and
curvatures: invariant to rotations).

Run ``python examples/correspondence.py`` (stand-in: 10 minutes on 2 CPU cores),
``python examples/correspondence.py --root /data/MPI-FAUST`` (FAUST), ``--quick`` (a smoke run).
The first model's correspondence on a test shape is drawn to ``--picture`` (default
``out/correspondence.png``; :func:`write_picture`): every vertex coloured by the template position
it is matched to, next to the true colouring and the geodesic error.
"""

from __future__ import annotations

import argparse
import os
import time
from itertools import permutations, product

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse

from gaugeconv import FieldType, make_mesh, preprocess, shapes
from gaugeconv.data import (
    FAUST,
    DatasetNotFoundError,
    GeodesicDistance,
    MeshDataset,
    collate,
    correspondence_accuracy,
    error_curve,
)
from gaugeconv.models import GaugeResNet

RADII = (0.0, 0.01, 0.02, 0.05, 0.1)
INPUTS = {"xyz": ("xyz",), "intrinsic": ("hks", "curvature")}

# ------------------------------------------------------------------------------ the stand-in figure
#: bone: (start, end, radius, parent, joint); the joint is at the start: "ball" (any axis) or the
#: axis of a hinge; limbs lie along x (arms) and -z (legs), the nose points to -y (the front)
BONES = {
    "torso": ((0, 0, -0.35), (0, 0, 0.45), 0.30, None, None),
    "head": ((0, 0, 0.80), (0, 0, 0.95), 0.20, "torso", "ball"),
    "nose": ((0, -0.17, 0.86), (0, -0.25, 0.86), 0.05, "head", None),
    "upper_arm_l": ((0.30, 0, 0.50), (0.75, 0, 0.50), 0.11, "torso", "ball"),
    "fore_arm_l": ((0.75, 0, 0.50), (1.15, 0, 0.50), 0.10, "upper_arm_l", (0, 0, 1)),
    "upper_arm_r": ((-0.30, 0, 0.50), (-0.75, 0, 0.50), 0.11, "torso", "ball"),
    "fore_arm_r": ((-0.75, 0, 0.50), (-1.15, 0, 0.50), 0.10, "upper_arm_r", (0, 0, -1)),
    "thigh_l": ((0.16, 0, -0.50), (0.20, 0, -1.00), 0.14, "torso", "ball"),
    "shin_l": ((0.20, 0, -1.00), (0.22, 0, -1.50), 0.12, "thigh_l", (-1, 0, 0)),
    "thigh_r": ((-0.16, 0, -0.50), (-0.20, 0, -1.00), 0.14, "torso", "ball"),
    "shin_r": ((-0.20, 0, -1.00), (-0.22, 0, -1.50), 0.12, "thigh_r", (-1, 0, 0)),
}
#: largest joint angles in radians: ball joints about a random axis, hinges one way about theirs
BALL_ANGLE, HINGE_ANGLE = 0.6, 1.2


def _segment_distance(p, a, b):
    ab = b - a
    t = np.clip((p - a) @ ab / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def figure_sdf(p):
    """Signed distance-like field of the figure (negative inside): a smooth union of capsules."""
    d = None
    for a, b, r, *_ in BONES.values():
        di = _segment_distance(p, np.array(a, float), np.array(b, float)) - r
        if d is None:
            d = di
        else:  # polynomial smooth minimum, blend width 0.08
            h = np.clip(0.5 + 0.5 * (di - d) / 0.08, 0.0, 1.0)
            d = di * (1 - h) + d * h - 0.08 * h * (1 - h)
    return d


def marching_tetrahedra(field, lo, hi, spacing):
    """Triangle mesh of ``{field < 0}``: every grid cube split into 6 tetrahedra around its main
    diagonal (consistent across cubes, so the result is a closed manifold), one vertex on every
    tetrahedron edge that changes sign, shared between tetrahedra."""
    shape = tuple(int(n) for n in np.ceil((np.asarray(hi) - lo) / spacing).astype(int) + 1)
    axes = [lo[i] + spacing * np.arange(shape[i]) for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    value = field(points)
    value = np.where(value == 0, 1e-12, value)
    index = np.arange(points.shape[0]).reshape(shape)
    nx, ny, nz = shape
    corner = {
        c: index[c[0] : nx - 1 + c[0], c[1] : ny - 1 + c[1], c[2] : nz - 1 + c[2]].ravel()
        for c in product((0, 1), repeat=3)
    }
    tets = []
    for order in permutations(range(3)):
        step, path = [0, 0, 0], [(0, 0, 0)]
        for axis in order:
            step[axis] = 1
            path.append(tuple(step))
        tets.append(np.stack([corner[c] for c in path], 1))
    tets = np.concatenate(tets)
    inside = value[tets] < 0
    n_in = inside.sum(1)
    cut = (n_in > 0) & (n_in < 4)
    tets, inside, n_in = tets[cut], inside[cut], n_in[cut]
    t = np.take_along_axis(tets, np.argsort(~inside, axis=1, kind="stable"), 1)  # inside corners first
    pair = lambda m, i, j: np.stack([t[m, i], t[m, j]], 1)  # noqa: E731
    one, three, two = n_in == 1, n_in == 3, n_in == 2
    quad = [pair(two, 0, 2), pair(two, 0, 3), pair(two, 1, 3), pair(two, 1, 2)]
    triangles = np.concatenate(
        [
            np.stack([pair(one, 0, k) for k in (1, 2, 3)], 1),
            np.stack([pair(three, 3, k) for k in (0, 1, 2)], 1),
            np.stack(quad[:3], 1),
            np.stack([quad[0], quad[2], quad[3]], 1),
        ]
    )  # (T, 3 corners, 2 grid points of the cut edge)
    n = points.shape[0]
    key = np.sort(triangles, axis=2)
    unique, inverse = np.unique(key[..., 0] * n + key[..., 1], return_inverse=True)
    a, b = unique // n, unique % n
    s = np.clip(value[a] / (value[a] - value[b]), 0.05, 0.95)
    return points[a] + s[:, None] * (points[b] - points[a]), inverse.reshape(-1, 3)


def _gradient(field, x, eps=1e-5):
    return np.stack([(field(x + eps * e) - field(x - eps * e)) / (2 * eps) for e in np.eye(3)], 1)


def figure_template(spacing: float = 0.085):
    """The stand-in template mesh (about 3,500 vertices at the default spacing)."""
    vertices, faces = marching_tetrahedra(
        figure_sdf, np.array([-1.4, -0.45, -1.75]), np.array([1.4, 0.45, 1.25]), spacing
    )
    p = vertices[faces]
    outward = np.einsum("fd,fd->f", np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), _gradient(figure_sdf, p.mean(1)))
    faces[outward < 0] = faces[outward < 0][:, ::-1]
    # relax: move each vertex halfway to its neighbours' mean, then back onto the surface (Newton)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    n = len(vertices)
    adjacency = sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    degree = np.asarray(adjacency.sum(1))
    for _ in range(10):
        vertices = 0.5 * vertices + 0.5 * (adjacency @ vertices) / degree
        for _ in range(3):
            g = _gradient(figure_sdf, vertices)
            vertices = vertices - (figure_sdf(vertices) / np.maximum((g * g).sum(1), 1e-12))[:, None] * g
    return make_mesh(vertices, faces, name="figure")


def _rotation(axis, angle):
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def skinning_weights(vertices, width: float = 0.06):
    """(V, bones) blend weights: a Gaussian of the distance beyond each bone's surface."""
    d = np.stack(
        [_segment_distance(vertices, np.array(a, float), np.array(b, float)) - r for a, b, r, *_ in BONES.values()], 1
    )
    w = np.exp(-((d - d.min(1, keepdims=True)) ** 2) / width**2)
    return w / w.sum(1, keepdims=True)


def deform(template, weights, rng, noise: float = 0.001):
    """A random articulated pose of the template: forward kinematics over the bone tree with a
    random rotation at every joint, linear blend skinning, then Gaussian noise."""
    transforms = {}  # bone -> (R, t): x -> R x + t
    for name, (start, _, _, parent, joint) in BONES.items():
        rot, shift = (np.eye(3), np.zeros(3)) if parent is None else transforms[parent]
        if joint == "ball":
            local = _rotation(rng.normal(size=3), rng.uniform(0, BALL_ANGLE))
        elif joint is not None:
            local = _rotation(np.array(joint, float), rng.uniform(0, HINGE_ANGLE))
        else:
            local = np.eye(3)
        pivot = np.array(start, float)
        # joint rotation about the pivot, then the parent's motion
        transforms[name] = (rot @ local, rot @ (pivot - local @ pivot) + shift)
    v = template.vertices
    moved = np.stack([v @ r.T + t for r, t in transforms.values()], 1)  # (V, bones, 3)
    out = np.einsum("vb,vbd->vd", weights, moved)
    return out + rng.normal(scale=noise, size=out.shape)


def standin_meshes(template, count: int, seed: int, rotate: bool):
    rng = np.random.default_rng(seed)
    weights = skinning_weights(template.vertices)
    meshes = []
    for i in range(count):
        v = deform(template, weights, rng)
        rotation = shapes.random_rotation(rng)  # drawn always, so rotated and aligned sets share poses
        meshes.append(make_mesh(v @ rotation.T if rotate else v, template.faces, name=f"pose{seed}-{i}"))
    return meshes


# ------------------------------------------------------------------------------ models and training
def make_model(kind: str, in_dim: int, n_vertices: int) -> GaugeResNet:
    hidden = FieldType("16x0 + 8x1 + 8x2") if kind == "gauge" else FieldType("40x0")
    return GaugeResNet(FieldType(f"{in_dim}x0"), hidden, out_dim=n_vertices, depth=2, pool=None, head_width=32)


def normaliser(dataset):
    """Per-column mean and std of a dataset's inputs (training statistics)."""
    x = np.concatenate([dataset[i].x for i in range(len(dataset))])
    return x.mean(0), np.where(x.std(0) > 0, x.std(0), 1.0)


def train(model, dataset, stats, epochs: int, lr: float, seed: int, log):
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=1, shuffle=True, collate_fn=collate, generator=torch.Generator().manual_seed(seed)
    )
    mean, std = (torch.as_tensor(s, dtype=torch.float32) for s in stats)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(epochs * len(loader), 1))
    model.train()
    for epoch in range(epochs):
        total = 0.0
        for batch in loader:
            loss = F.cross_entropy(model((batch.x - mean) / std, batch.geometry), batch.y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        log(f"    epoch {epoch + 1}/{epochs}: loss {total / len(loader):.3f}")


@torch.no_grad()
def predict(model, dataset, stats):
    model.eval()
    mean, std = (torch.as_tensor(s, dtype=torch.float32) for s in stats)
    out = []
    for i in range(len(dataset)):
        batch = collate([dataset[i]])
        out.append((batch.y.numpy(), model((batch.x - mean) / std, batch.geometry).argmax(-1).numpy()))
    return out


def evaluate(pairs, distance_of):
    """Accuracy at geodesic error 0 and the error curve at RADII over all test vertices."""
    true = np.concatenate([t for t, _ in pairs])
    pred = np.concatenate([p for _, p in pairs])
    errors = np.concatenate([distance_of(i, t, p) for i, (t, p) in enumerate(pairs)])
    return correspondence_accuracy(true, pred), error_curve(errors, RADII)


def write_picture(path, geometry, reference, true, predicted, errors, title):
    """Three panels of one PNG: the shape coloured by the template positions of its vertices'
    true matches (RGB = normalised x, y, z of the template), the same for the predicted matches
    (a right match repeats the colour), and the geodesic error per vertex.

    Parameters
    ----------
    geometry : the test shape's Geometry
    reference : (V, 3) the template's vertex positions
    true, predicted : (V,) template vertex of each vertex
    errors : (V,) geodesic error of each prediction (units of sqrt(area))
    """
    from functools import partial

    from gaugeconv import viz

    colours = (reference - reference.min(0)) / np.maximum(np.ptp(reference, axis=0), 1e-12)
    exact = float(np.mean(true == predicted))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    viz.plot_panels(
        [
            partial(viz.plot_colors, geometry, colours[true], title="true match (template xyz as RGB)"),
            partial(viz.plot_colors, geometry, colours[predicted], title=f"{title}: {100 * exact:.0f}% exact"),
            partial(viz.plot_scalar, geometry, errors, "geodesic error / sqrt(area)", cmap="magma_r"),
        ],
        screenshot=path,
    )


# ------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="MPI-FAUST folder (else: the procedural stand-in)")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few small shapes, one epoch")
    parser.add_argument("--shapes", type=int, default=None, help="stand-in shapes (default 200: 160 train, 40 test)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 2, quick 1)")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--models", default="gauge,isotropic", help="comma-separated: gauge, isotropic")
    parser.add_argument("--inputs", default="intrinsic,xyz", help="comma-separated: intrinsic, xyz")
    parser.add_argument("--cache", default=None, help="preprocessing cache folder (default: in memory)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--picture",
        default="out/correspondence.png",
        help="PNG of the first model's matches on a test shape ('' for none)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    log = lambda line: print(line, flush=True)  # noqa: E731
    log(f"torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f} at start")
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 2)
    geodesic_method = "heat"
    try:
        import potpourri3d  # noqa: F401
    except ImportError:
        geodesic_method = "graph"

    if args.root:
        try:
            FAUST(args.root, "test")
        except DatasetNotFoundError as exc:
            print(f"correspondence: {exc}")
            return 2
        sets = {
            name: lambda inputs, s=split: FAUST(args.root, s, inputs=inputs, cache_dir=args.cache)
            for name, split in (("train", "train"), ("test", "test"))
        }
        n_vertices = FAUST(args.root, "test").geometry(0).n_vertices
        template = None
        log(f"FAUST under {args.root}: 80 train / 20 test registrations, {n_vertices} vertices")

        def distance_of(dataset):
            def errors(i, t, p):
                g = dataset.geometry(i)
                d = GeodesicDistance(g.vertices, g.faces, geodesic_method).pairs(t, p)
                return d / np.sqrt(g.vertex_area.sum())

            return errors

    else:
        n_shapes = args.shapes if args.shapes is not None else (12 if args.quick else 200)
        template = figure_template(0.17 if args.quick else 0.085)
        n_vertices = template.n_vertices
        n_test = max(n_shapes // 5, 1)
        train_meshes = standin_meshes(template, n_shapes - n_test, args.seed, rotate=False)
        test_meshes = {r: standin_meshes(template, n_test, args.seed + 1, rotate=r) for r in (False, True)}
        targets = lambda meshes: [np.arange(n_vertices)] * len(meshes)  # noqa: E731

        def make(meshes):
            return lambda inputs: MeshDataset(
                meshes, targets(meshes), inputs=inputs, target_kind="vertex", cache_dir=args.cache
            )

        sets = {"train": make(train_meshes), "test": make(test_meshes[False]), "test rotated": make(test_meshes[True])}
        template_distance = GeodesicDistance(template.vertices, template.faces, geodesic_method)
        area = preprocess(template).vertex_area.sum()
        all_pairs = template_distance.from_sources(np.arange(n_vertices)) / np.sqrt(area)
        log(
            f"stand-in: procedural figure, {n_vertices} vertices, {n_shapes - n_test} train / {n_test} test poses "
            f"(test also rotated); geodesic distances on the template ({geodesic_method})"
        )

        def distance_of(dataset):
            return lambda i, t, p: all_pairs[t, p]

    rows = []
    for inputs_name in args.inputs.split(","):
        t0 = time.perf_counter()
        data = {name: make_set(INPUTS[inputs_name]) for name, make_set in sets.items()}
        for dataset in data.values():
            dataset.prepare()
        stats = normaliser(data["train"])
        log(f"  inputs {inputs_name} {INPUTS[inputs_name]}: preprocessed in {time.perf_counter() - t0:.1f} s")
        for kind in args.models.split(","):
            torch.manual_seed(args.seed)
            model = make_model(kind, data["train"][0].x.shape[1], n_vertices)
            n_params = sum(p.numel() for p in model.parameters())
            log(f"  {kind} / {inputs_name}: {n_params} parameters")
            t0 = time.perf_counter()
            train(model, data["train"], stats, epochs, args.lr, args.seed, log)
            seconds = time.perf_counter() - t0
            results = {
                name: evaluate(predict(model, dataset, stats), distance_of(dataset))
                for name, dataset in data.items()
                if name != "train"
            }
            rows.append((kind, inputs_name, n_params, seconds, results))
            if args.picture and len(rows) == 1:  # the first model, on the first shape of the last test set
                test = data[[n for n in data if n != "train"][-1]]
                true, predicted = predict(model, test, stats)[0]
                reference = template.vertices if template is not None else data["train"].geometry(0).vertices
                errors = distance_of(test)(0, true, predicted)
                write_picture(
                    args.picture, test.geometry(0), reference, true, predicted, errors, f"{kind} / {inputs_name}"
                )
                log(f"  picture -> {args.picture} ({kind} / {inputs_name} on {test.name(0)})")
    names = [n for n in sets if n != "train"]
    header = "| model | inputs | params | train s | " + " | ".join(f"acc@0 {n}" for n in names)
    header += " | " + " | ".join(f"<= {r}" for r in RADII[1:]) + f" ({names[-1]}) |"
    log("\n" + header)
    log("|" + "---|" * (4 + len(names) + len(RADII) - 1))
    for kind, inputs_name, n_params, seconds, results in rows:
        accs = " | ".join(f"{results[n][0]:.3f}" for n in names)
        curve = " | ".join(f"{c:.3f}" for c in results[names[-1]][1][1:])
        log(f"| {kind} | {inputs_name} | {n_params} | {seconds:.0f} | {accs} | {curve} |")
    log(
        f"\ngeodesic error radii in units of sqrt(area); total {time.perf_counter() - start:.0f} s wall, "
        f"{time.process_time() - cpu_start:.0f} s CPU, load average {os.getloadavg()[0]:.2f} at the end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
