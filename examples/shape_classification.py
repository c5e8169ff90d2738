"""Classify procedurally generated shapes: a gauge-equivariant network against isotropic baselines.

Eight classes, from :mod:`gaugeconv.shapes` (sphere, torus, open cylinder, disc, Möbius strip) and
trimesh primitives (box, capsule, cone). Every sample is generated afresh: random proportions and
resolution, a random anisotropic scaling, a remeshing that splits a random share of the longest
edges (so connectivity and vertex counts vary, from about 110 to 500 vertices), a smooth random
displacement, and, for the test set always, a random rotation in 3D.

Inputs are intrinsic per-vertex scalars computed from the :class:`gaugeconv.Geometry` buffers
(curvature density, boundary turning, boundary flag, log relative vertex area; or, with
``--inputs curvature``, the curvature density alone), so they do not change when a mesh is rotated.
Models (all with global mean pooling over each mesh's vertices):

- ``gauge``: :class:`gaugeconv.models.GaugeResNet` with ``Nx0 + Nx1 + Nx2`` hidden fields of O(2)
  (the Möbius strip is not orientable, so the structure group is O(2) for every mesh), gated
  nonlinearities, an invariant readout (scalars and norms) and a two-layer head;
- ``isotropic``: its isotropic twin with the same inputs: per layer, the mean of the neighbours'
  features, one linear map for the neighbours and one for the vertex itself, ReLU; the width is
  the largest within the gauge network's parameter budget;
- ``isotropic`` on ``xyz``: raw (centred, scaled) coordinates, which are not rotation invariant:
  trained on unrotated shapes, it fails on rotated ones;
- both networks on a ``constant`` input: the gauge network must then read the shape from the
  buffers alone (log map and transporters); the isotropic one sees identical features at every
  vertex and cannot do better than chance.

The table also gives, on a few test meshes, the largest change of the logits when a mesh is
rotated once more (and preprocessed again), and for the gauge networks under a random O(2)
gauge transformation (float32).

Run::

    python examples/shape_classification.py                   # train unrotated, test rotated
    python examples/shape_classification.py --train-rotated   # train on rotated shapes too
    python examples/shape_classification.py --inputs curvature --displacement 0.15 --no-constant   # harder
    python examples/shape_classification.py --epochs 3 --per-class 8 --no-constant   # a quick look
    torchrun --standalone --nproc_per_node 2 examples/shape_classification.py   # DDP (gloo on CPU)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gaugeconv import FieldType, Geometry, make_mesh, preprocess, shapes
from gaugeconv import distributed as dist
from gaugeconv.models import GaugeResNet
from gaugeconv.nn import global_pool
from gaugeconv.testing import random_gauge

CLASSES = ("sphere", "torus", "cylinder", "disc", "mobius", "box", "capsule", "cone")


# ----------------------------------------------------------------------------------------------------------- data
def _base_shape(name: str, rng: np.random.Generator):
    """Vertices (V, 3) and faces (F, 3) of a coarse random instance of class ``name``."""
    import trimesh

    if name == "sphere":
        mesh = shapes.icosahedron(2)
    elif name == "torus":
        mesh = shapes.torus(1.0, rng.uniform(0.3, 0.45), int(rng.integers(22, 30)), int(rng.integers(7, 10)))
    elif name == "cylinder":
        mesh = shapes.cylinder(1.0, rng.uniform(1.5, 2.5), int(rng.integers(14, 20)), int(rng.integers(6, 9)))
    elif name == "disc":
        mesh = shapes.disc(1.0, int(rng.integers(5, 8)))
    elif name == "mobius":
        n_length, n_width = int(rng.integers(28, 40)), int(rng.integers(4, 7))
        mesh = shapes.mobius(2 * np.pi, rng.uniform(1.0, 1.5), n_length, n_width, flat=False)
    elif name == "box":
        t = trimesh.creation.box(extents=rng.uniform(1.0, 1.6, 3))
        return t.vertices, t.faces
    elif name == "capsule":
        count = int(rng.integers(7, 11))
        t = trimesh.creation.capsule(height=rng.uniform(1.0, 2.0), radius=0.6, count=[count, count])
        return t.vertices, t.faces
    elif name == "cone":
        t = trimesh.creation.cone(radius=1.0, height=rng.uniform(1.2, 2.0), sections=int(rng.integers(14, 22)))
        return t.vertices, t.faces
    else:
        raise ValueError(f"unknown class {name!r}; choose one of {', '.join(CLASSES)}")
    return mesh.vertices, mesh.faces


def _edge_lengths(vertices, faces):
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.linalg.norm(vertices[e[:, 0]] - vertices[e[:, 1]], axis=1)


def make_sample(name: str, rng: np.random.Generator, rotate: bool, displacement: float = 0.05):
    """One random mesh of class ``name``: deformed, remeshed and (if ``rotate``) rotated.

    ``displacement`` is the amplitude of each of the three smooth waves added to the vertices of the
    shape scaled to RMS radius 1.

    Returns
    -------
    gaugeconv.Mesh
    """
    import trimesh

    v, f = _base_shape(name, rng)
    v = np.asarray(v, np.float64)
    f = np.asarray(f, np.int64)
    v = v - v.mean(0)
    v = v / np.sqrt((v**2).sum(1).mean())  # RMS radius 1
    scale = np.exp(rng.uniform(-0.25, 0.25, 3))  # anisotropic scaling
    v = v * scale
    # remesh: split the longest edges (a random share of them) until all are shorter than max_edge;
    # the faceted primitives (box, cone) are refined to a random size instead. Coarsen the
    # threshold while the mesh would exceed a random target size (about 180..420 vertices).
    target = rng.uniform(180, 420)
    if name in ("box", "cone"):
        max_edge = 1.5 * np.sqrt(trimesh.Trimesh(v, f, process=False).area / target)
    else:
        max_edge = np.quantile(_edge_lengths(v, f), rng.uniform(0.3, 0.9))
    for _ in range(30):
        v_new, f_new = trimesh.remesh.subdivide_to_size(v, f, max_edge=max_edge)
        if len(v_new) <= 1.2 * target:
            break
        max_edge *= 1.15
    v, f = v_new, f_new
    if name == "sphere":  # new vertices back onto the ellipsoid
        v = v / np.linalg.norm(v / scale, axis=1, keepdims=True)
    # smooth random displacement: three plane waves along random directions
    for _ in range(3):
        k = rng.normal(size=3)
        k *= rng.uniform(1.0, 2.5) / np.linalg.norm(k)
        u = rng.normal(size=3)
        v = v + displacement * np.sin(v @ k + rng.uniform(0, 2 * np.pi))[:, None] * (u / np.linalg.norm(u))
    rotation = shapes.random_rotation(rng)  # drawn either way: the same seed gives the same shapes, rotated or not
    if rotate:
        v = v @ rotation.T
    return make_mesh(v, f, name=name)


def make_dataset(per_class: int, seed: int, rotate: bool, displacement: float = 0.05):
    """``per_class`` samples of every class, in class order; (meshes, labels (N,) int64)."""
    rng = np.random.default_rng(seed)
    meshes, labels = [], []
    for label, name in enumerate(CLASSES):
        for _ in range(per_class):
            meshes.append(make_sample(name, rng, rotate, displacement))
            labels.append(label)
    return meshes, np.array(labels, dtype=np.int64)


def intrinsic_features(geometry: Geometry) -> np.ndarray:
    """Rotation-invariant inputs (V, 4) from the buffers of one mesh (numpy Geometry).

    Columns: curvature density ``asinh(defect / area * A / 4 pi)`` at interior vertices (1 on the
    unit sphere; A = total area), boundary turning ``asinh(defect * sqrt(A / area) / 2 pi)`` at
    boundary vertices, the boundary flag, and ``log(area / mean area)``.
    """
    area = geometry.vertex_area
    total = area.sum()
    defect = geometry.angle_defect
    boundary = geometry.boundary
    curvature = np.where(boundary, 0.0, np.arcsinh(defect / area * total / (4 * np.pi)))
    turning = np.where(boundary, np.arcsinh(defect * np.sqrt(total / area) / (2 * np.pi)), 0.0)
    log_area = np.log(area / area.mean())
    return np.stack([curvature, turning, boundary.astype(np.float64), log_area], axis=1)


def curvature_features(geometry: Geometry) -> np.ndarray:
    """Only the first column of :func:`intrinsic_features` (V, 1): curvature density, 0 on the boundary."""
    return intrinsic_features(geometry)[:, :1]


def constant_features(geometry: Geometry) -> np.ndarray:
    """A constant (V, 1): the network must find the shape in the buffers alone (log map, transporters)."""
    return np.ones((geometry.n_vertices, 1))


def xyz_features(geometry: Geometry) -> np.ndarray:
    """Raw coordinates (V, 3), centred and scaled to RMS radius 1: not rotation invariant."""
    v = geometry.vertices - geometry.vertices.mean(0)
    return v / np.sqrt((v**2).sum(1).mean())


# ----------------------------------------------------------------------------------------------------------- models
class IsotropicConv(nn.Module):
    """``W_self x_p + W_nb mean_{q -> p} x_q + b``: isotropic message passing (the baseline's layer).

    Shapes: x (V, C_in) -> (V, C_out); reads only ``geometry.edge_index``.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.self_lin = nn.Linear(c_in, c_out)
        self.nb_lin = nn.Linear(c_in, c_out, bias=False)

    def forward(self, x: torch.Tensor, geometry) -> torch.Tensor:
        q, p = geometry.edge_index
        deg = torch.bincount(p, minlength=x.shape[0]).clamp(min=1).to(x.dtype)
        mean = x.new_zeros(x.shape).index_add_(0, p, x[q]) / deg[:, None]
        return self.self_lin(x) + self.nb_lin(mean)


class IsotropicNet(nn.Module):
    """The isotropic twin of :class:`gaugeconv.models.GaugeResNet`: a lifting layer, ``depth``
    residual blocks ``x + conv2(relu(bn(conv1(x))))``, global mean pooling per mesh, a two-layer head.

    Shapes: x (V, C_in) -> logits (G, n_classes), G meshes in the (batched) geometry.
    """

    def __init__(self, c_in: int, width: int, depth: int, n_classes: int, head_width: int):
        super().__init__()
        self.lift = IsotropicConv(c_in, width)
        self.conv1 = nn.ModuleList(IsotropicConv(width, width) for _ in range(depth))
        self.norm = nn.ModuleList(nn.BatchNorm1d(width) for _ in range(depth))
        self.conv2 = nn.ModuleList(IsotropicConv(width, width) for _ in range(depth))
        self.head = nn.Sequential(nn.Linear(width, head_width), nn.ReLU(), nn.Linear(head_width, n_classes))

    def forward(self, x: torch.Tensor, geometry) -> torch.Tensor:
        x = self.lift(x, geometry)
        for conv1, norm, conv2 in zip(self.conv1, self.norm, self.conv2):
            x = x + conv2(torch.relu(norm(conv1(x, geometry))), geometry)
        return self.head(global_pool(x, geometry, "mean"))


def gauge_network(c_in: int, hidden: FieldType, depth: int, n_classes: int, head_width: int) -> GaugeResNet:
    """:class:`gaugeconv.models.GaugeResNet` on ``c_in`` invariant inputs, gated nonlinearities,
    mean pooling. Training cycles through a fixed list of batched geometries, each of which keeps
    the sparse operators the layers build on it, so they are built once."""
    in_type = FieldType(f"{c_in}x0", group=hidden.group)
    return GaugeResNet(in_type, hidden, n_classes, depth=depth, pool="mean", head_width=head_width)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------------------------------------- training
def make_batches(geometries, features, labels, batch_size: int, rng: np.random.Generator):
    """Fixed random batches: (batched torch Geometry, features (V, C) float32, labels (G,))."""
    order = rng.permutation(len(geometries))
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        geometry = Geometry.batch([geometries[i] for i in idx])
        x = torch.as_tensor(np.concatenate([features[i] for i in idx]), dtype=torch.float32)
        batches.append((geometry, x, torch.as_tensor(labels[idx])))
    return batches


def accuracy(model: nn.Module, batches) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for geometry, x, y in batches:
            correct += int((model(x, geometry).argmax(1) == y).sum())
            total += len(y)
    return correct / total


def train(model: nn.Module, train_batches, epochs: int, lr: float, rng: np.random.Generator, info=None) -> None:
    """Adam with a one-cycle schedule. Under ``torchrun`` (``info`` from
    :func:`gaugeconv.distributed.init`) the model runs in DistributedDataParallel and every rank
    trains on its own equal share of the fixed batches (gradients are averaged across ranks)."""
    info = info or dist.init()
    net = dist.wrap(model, info)
    mine = dist.shard(range(len(train_batches)), info).numpy()
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, lr, total_steps=epochs * len(mine))
    for _ in range(epochs):
        net.train()
        for i in rng.permutation(mine):
            geometry, x, y = train_batches[i]
            loss = F.cross_entropy(net(x, geometry), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()


# ----------------------------------------------------------------------------------------------------------- checks
def rotation_change(model: nn.Module, meshes, feature_fn, rng: np.random.Generator) -> float:
    """Largest change of the logits when every mesh is rotated once more (and preprocessed again)."""
    model.eval()
    before, after = [], []
    for mesh in meshes:
        rotated = make_mesh(mesh.vertices @ shapes.random_rotation(rng).T, mesh.faces, name=mesh.name)
        for geometry, out in ((preprocess(mesh), before), (preprocess(rotated), after)):
            x = torch.as_tensor(feature_fn(geometry), dtype=torch.float32)
            with torch.no_grad():
                out.append(model(x, geometry.to_torch(torch.float32)))
    return float((torch.cat(before) - torch.cat(after)).abs().max())


def gauge_change(model: nn.Module, meshes, feature_fn, rng: np.random.Generator) -> float:
    """Largest change of the logits under a random O(2) gauge transformation of every mesh."""
    model.eval()
    change = 0.0
    for mesh in meshes:
        geometry = preprocess(mesh)
        angle, flip = random_gauge(geometry.n_vertices, "O2", rng)
        x = torch.as_tensor(feature_fn(geometry), dtype=torch.float32)  # invariant scalars: unchanged
        with torch.no_grad():
            a = model(x, geometry.to_torch(torch.float32))
            b = model(x, geometry.gauge_transform(angle, flip).to_torch(torch.float32))
        change = max(change, float((a - b).abs().max()))
    return change


# ----------------------------------------------------------------------------------------------------------- main
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=30, help="training meshes per class")
    parser.add_argument("--test-per-class", type=int, default=20, help="test meshes per class (always rotated)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=16, help="meshes per step (Geometry.batch)")
    parser.add_argument("--multiplicity", type=int, default=8, help="N in the hidden type 'Nx0 + Nx1 + Nx2'")
    parser.add_argument("--depth", type=int, default=1, help="residual blocks after the lift")
    parser.add_argument("--head-width", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--train-rotated", action="store_true", help="rotate the training meshes too")
    parser.add_argument("--check-meshes", type=int, default=8, help="test meshes for the invariance checks")
    parser.add_argument("--displacement", type=float, default=0.05, help="amplitude of the smooth random waves")
    parser.add_argument(
        "--inputs",
        choices=("intrinsic", "curvature"),
        default="intrinsic",
        help="invariant inputs of the first two runs: all four, or the curvature density alone",
    )
    parser.add_argument("--no-constant", action="store_true", help="skip the runs on constant inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    args = parser.parse_args(argv)
    info = dist.init()  # one process, or torchrun's (DDP with gloo on CPU, NCCL on GPUs)
    dist.silence_other_ranks(info)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    t_start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average {load:.2f} at start")

    t0 = time.perf_counter()
    train_meshes, train_y = make_dataset(args.per_class, args.seed, args.train_rotated, args.displacement)
    test_meshes, test_y = make_dataset(args.test_per_class, args.seed + 1, True, args.displacement)
    train_g = [preprocess(m) for m in train_meshes]
    test_g = [preprocess(m) for m in test_meshes]
    sizes = np.array([g.n_vertices for g in train_g + test_g])
    print(
        f"data: {len(train_g)} train ({'rotated' if args.train_rotated else 'unrotated'}), {len(test_g)} test "
        f"(rotated), {len(CLASSES)} classes, {sizes.min()}..{sizes.max()} vertices (median {int(np.median(sizes))}); "
        f"generated and preprocessed in {time.perf_counter() - t0:.1f} s"
    )
    features = {
        "intrinsic": intrinsic_features,
        "curvature": curvature_features,
        "xyz": xyz_features,
        "constant": constant_features,
    }
    train_t = [g.to_torch(torch.float32) for g in train_g]
    test_t = [g.to_torch(torch.float32) for g in test_g]
    m = args.multiplicity
    hidden = FieldType(f"{m}x0 + {m}x1 + {m}x2", group="O2")  # O(2): the Möbius strip is not orientable
    n_classes = len(CLASSES)

    def gauge_model(c_in):
        return gauge_network(c_in, hidden, args.depth, n_classes, args.head_width)

    def isotropic_model(c_in, width=None):  # the widest isotropic network within the gauge network's budget
        if width is None:
            with torch.random.fork_rng():  # the trial networks must not move the seeded generator
                budget = n_params(gauge_model(c_in))
                width = max(w for w in range(2, 512) if n_params(isotropic_model(c_in, w)) <= budget)
        return IsotropicNet(c_in, width, args.depth, n_classes, args.head_width)

    runs = [("gauge", args.inputs, gauge_model), ("isotropic", args.inputs, isotropic_model)]
    runs.append(("isotropic", "xyz", isotropic_model))
    if not args.no_constant:
        runs += [("gauge", "constant", gauge_model), ("isotropic", "constant", isotropic_model)]
    rows = []
    # invariance checks on a few test meshes, spread over the classes
    check_meshes = [test_meshes[i] for i in np.linspace(0, len(test_meshes) - 1, args.check_meshes).astype(int)]
    for name, feature_name, build in runs:
        t0 = time.perf_counter()
        torch.manual_seed(args.seed)
        rng = np.random.default_rng(args.seed)
        fn = features[feature_name]
        model = build(fn(train_g[0]).shape[1])
        train_batches = make_batches(train_t, [fn(g) for g in train_g], train_y, args.batch_size, rng)
        test_batches = make_batches(test_t, [fn(g) for g in test_g], test_y, 4 * args.batch_size, rng)
        train(model, train_batches, args.epochs, args.lr, rng, info)
        train_acc, test_acc = accuracy(model, train_batches), accuracy(model, test_batches)
        seconds = time.perf_counter() - t0
        rotation = rotation_change(model, check_meshes, fn, np.random.default_rng(args.seed + 2))
        gauge = gauge_change(model, check_meshes, fn, np.random.default_rng(args.seed + 3)) if name == "gauge" else None
        rows.append((name, feature_name, n_params(model), train_acc, test_acc, seconds, rotation, gauge))
        print(f"  {name} ({feature_name}): {seconds:.1f} s")

    print()
    print("| model | inputs | params | train acc | test acc (rotated) | seconds | logit change: rotation | gauge |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, feature_name, params, train_acc, test_acc, seconds, rotation, gauge in rows:
        g = "" if gauge is None else f"{gauge:.1e}"
        print(
            f"| {name} | {feature_name} | {params} | {train_acc:.3f} | {test_acc:.3f} | {seconds:.1f} "
            f"| {rotation:.1e} | {g} |"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\ntotal wall time {time.perf_counter() - t_start:.1f} s (load average {load:.2f} at the end)")
    dist.cleanup()


if __name__ == "__main__":
    main()
