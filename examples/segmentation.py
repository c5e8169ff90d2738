"""Per-vertex segmentation of an ant's body parts on remeshed, deformed and rotated copies.

The mesh is ``meshes/ant.obj`` (pyvista's bundled ``ant.ply``, cleaned; no download). Its 15
closed parts get 6 labels (body, eyes+mandibles, antennae, front/middle/hind legs). Every sample
is a new mesh: Loop-subdivided twice, decimated by a random fraction (new connectivity, 1.5-2.2k
vertices), scaled anisotropically and bent by a smooth random displacement; labels are
transferred from the ant by the nearest point on its surface (:func:`gaugeconv.data.transfer_labels`,
then a majority vote per part). Test meshes are in addition rotated at random in 3D. The meshes
and labels form :class:`gaugeconv.data.MeshDataset` objects (preprocessed once, with the input
features below); :func:`gaugeconv.data.collate` batches them.

Inputs are rotation invariant: four scalars (1, Gaussian curvature, mean curvature, |traceless
shape operator|) and, for the gauge models, the traceless shape operator itself as an order-2
field. Models, with a similar parameter budget:

* ``gauge``: :class:`gaugeconv.models.GaugeUNet` with orders 0, 1, 2 on 3 levels;
* ``isotropic``: the same U-Net with scalar fields only (every kernel isotropic): the baseline;
* ``gauge-flat``: three :class:`~gaugeconv.nn.GaugeConv` layers on the mesh alone (no pooling);
* ``conditional``: three :class:`~gaugeconv.nn.ConditionalGaugeConv` layers on regular C4 fields
  (inputs lifted to 4 orientations, invariant readout by averaging them), same receptive field
  as ``gauge-flat``. Its kernel MLP runs on every (edge, orientation pair): about 4x the training time
  of ``gauge-flat`` per step here, so it is compared on a smaller run (second command below).

Run ``python examples/segmentation.py`` (U-Nets, a few minutes on 2 CPU cores),
``python examples/segmentation.py --models gauge-flat,conditional --train 4 --test 4 --steps 60``
(conditional message passing against GaugeConv), ``--quick`` for a smoke run of all four, or data-parallel
``torchrun --standalone --nproc_per_node 2 examples/segmentation.py`` (:mod:`gaugeconv.distributed`:
gloo on CPU, NCCL on GPUs). The first model's predictions on a rotated test mesh, next to the ground
truth, are drawn to ``--picture`` (default ``out/segmentation.png``; :func:`write_picture`).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gaugeconv import FieldType, load_mesh, make_mesh
from gaugeconv import distributed as dist
from gaugeconv.data import MeshDataset, collate, transfer_labels
from gaugeconv.models import GaugeUNet
from gaugeconv.nn import ConditionalGaugeConv, GaugeConv, NormNonlinearity
from gaugeconv.topology import components

CLASSES = ("body", "eyes+mandibles", "antennae", "front legs", "middle legs", "hind legs")
ANT = Path(__file__).resolve().parents[1] / "meshes" / "ant.obj"


# ------------------------------------------------------------------------------------------ data
def load_ant():
    """The ant mesh and a label per vertex (by the shape and place of each closed part)."""
    if ANT.exists():
        mesh = load_mesh(ANT)
    else:  # installed without the repository's meshes/: pyvista ships the same file
        import pyvista

        poly = pyvista.read(pyvista.examples.antfile).triangulate().clean(tolerance=1e-9)
        mesh = make_mesh(np.asarray(poly.points, float), np.asarray(poly.faces).reshape(-1, 4)[:, 1:], repair=True)
    n, part = components(mesh.faces, mesh.n_vertices)
    labels = np.zeros(mesh.n_vertices, dtype=np.int64)
    for c in range(n):
        v = mesh.vertices[part == c]
        centre = v.mean(0)
        if abs(centre[0]) > 5:  # legs, sorted front to back along z
            labels[part == c] = 3 if centre[2] > 2 else (4 if centre[2] > -3 else 5)
        elif centre[1] > 5:
            labels[part == c] = 2
        elif len(v) <= 12:
            labels[part == c] = 1
    return mesh, labels


def remesh(base, labels, rng, rotate: bool):
    """A random new mesh of the ant with transferred labels: subdivide, decimate, deform, rotate."""
    try:
        import pyvista
    except ImportError:
        raise SystemExit("this example remeshes with pyvista: pip install pyvista") from None
    from scipy.spatial.transform import Rotation

    faces = np.c_[np.full(base.n_faces, 3), base.faces].ravel()
    fine = pyvista.PolyData(base.vertices, faces).subdivide(2, subfilter="loop")
    poly = fine.decimate(rng.uniform(0.7, 0.8)).clean()
    V = np.asarray(poly.points, dtype=np.float64)
    Fc = np.asarray(poly.faces).reshape(-1, 4)[:, 1:]
    mesh = make_mesh(V, Fc, repair=True)
    V = mesh.vertices
    lab = transfer_labels(base.vertices, base.faces, labels, V)
    n, part = components(mesh.faces, mesh.n_vertices)
    for c in range(n):  # majority vote per closed part
        lab[part == c] = np.bincount(lab[part == c]).argmax()
    # smooth deformation: anisotropic scale and a random sine bend
    scale = rng.uniform(0.85, 1.15, 3)
    k = rng.normal(size=(3, 3)) / 25.0
    phase = rng.uniform(0, 2 * np.pi, 3)
    V = V * scale + 1.2 * np.sin(V @ k + phase)
    rotation = Rotation.random(random_state=rng.integers(2**31)).as_matrix()  # drawn always: same meshes
    if rotate:
        V = V @ rotation.T
    return make_mesh(V, mesh.faces, name="ant-variant"), lab


def shape_features(g):
    """(V, 4) scalars [1, K, H, |S0|] and (V, 2) the traceless shape operator S0 (order 2) in each
    vertex's gauge, from a least-squares quadric over the one-ring in the frame (e1, e2, n)."""
    q, p = g.edge_index
    d = g.vertices[q] - g.vertices[p]
    x = np.einsum("ek,ek->e", d, g.frames[p, 0])
    y = np.einsum("ek,ek->e", d, g.frames[p, 1])
    h = np.einsum("ek,ek->e", d, g.frames[p, 2])
    rows = np.stack([0.5 * x * x, x * y, 0.5 * y * y], 1)  # h = 0.5 a x^2 + b x y + 0.5 c y^2
    ata = np.zeros((g.n_vertices, 3, 3))
    atb = np.zeros((g.n_vertices, 3))
    np.add.at(ata, p, rows[:, :, None] * rows[:, None, :])
    np.add.at(atb, p, rows * h[:, None])
    scale = np.trace(ata, axis1=1, axis2=2)[:, None, None] / 3
    a, b, c = np.linalg.solve(ata + 1e-6 * scale * np.eye(3), atb[..., None])[..., 0].T
    mean = 0.5 * (a + c)
    s0 = np.stack([0.5 * (a - c), b], 1)  # rotates by 2 phi: an order-2 field
    gauss = g.angle_defect / g.vertex_area
    scalars = np.stack([np.ones(g.n_vertices), gauss, mean, np.linalg.norm(s0, axis=1)], 1)
    return scalars, s0


def shape_inputs(g):
    """(V, 6) input columns: the four scalars of :func:`shape_features`, then the order-2 field."""
    scalars, s0 = shape_features(g)
    return np.concatenate([scalars, s0], axis=1)


def make_set(base, labels, count, rng, rotate, levels):
    """``count`` random remeshings of the ant as a MeshDataset with per-vertex labels."""
    meshes, targets = zip(*(remesh(base, labels, rng, rotate) for _ in range(count)))
    return MeshDataset(meshes, targets, levels=levels, inputs=(shape_inputs,), target_kind="vertex")


class Scale:
    """Transform of MeshSamples: the input columns times ``scale`` (picklable, for DataLoader workers)."""

    def __init__(self, scale):
        self.scale = np.asarray(scale, dtype=np.float64)

    def __call__(self, sample):
        return replace(sample, x=sample.x * self.scale)


def normalise(sets):
    """Scale inputs by training-set statistics (one scale per field: the order-2 field as a whole)."""
    x = np.concatenate([s.x for s in sets[0]])
    std = x[:, :4].std(0)
    std[0] = 1.0
    s0_std = np.sqrt(np.mean(x[:, 4:] ** 2) * 2)
    for dataset in sets:
        dataset.transform = Scale(np.r_[1.0 / std, 1.0 / s0_std, 1.0 / s0_std])


# ------------------------------------------------------------------------------------------ models
class FlatGauge(torch.nn.Module):
    """``depth`` x (GaugeConv -> NormNonlinearity), then GaugeConv to the class scores."""

    def __init__(self, in_type: FieldType, hidden: FieldType, depth: int = 3):
        super().__init__()
        types = [in_type] + [hidden] * depth
        self.convs = torch.nn.ModuleList(GaugeConv(a, b) for a, b in zip(types[:-1], types[1:]))
        self.acts = torch.nn.ModuleList(NormNonlinearity(hidden) for _ in range(depth))
        self.head = GaugeConv(hidden, FieldType(f"{len(CLASSES)}x0"))

    def forward(self, x, geometry):
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x, geometry))
        return self.head(x, geometry)


class ConditionalNet(torch.nn.Module):
    """Lift (4 scalars + the order-2 field) to regular C_N fields, ``depth`` ConditionalGaugeConv
    layers with ReLU, average over the N orientations (invariant), a linear map to the classes.

    The order-2 field z becomes two regular fields ``Re(exp(-2i (a_i + phase)) z)`` with phases 0 and
    pi/4 (equivariant for any phase; two phases keep both components even for N = 4)."""

    def __init__(self, n: int = 4, fields: int = 8, depth: int = 3):
        super().__init__()
        types = [FieldType("6xreg", group=f"C{n}")] + [FieldType(f"{fields}xreg", group=f"C{n}")] * depth
        self.convs = torch.nn.ModuleList(
            ConditionalGaugeConv(a, b, hidden=8, basis=6) for a, b in zip(types[:-1], types[1:])
        )
        self.head = torch.nn.Linear(fields, len(CLASSES))
        self.n, self.fields = n, fields
        a = 2 * np.pi * np.arange(n) / n
        lift = [np.stack([np.cos(2 * (a + ph)), np.sin(2 * (a + ph))]) for ph in (0.0, np.pi / 4)]
        self.register_buffer("lift2", torch.tensor(np.stack(lift, 1), dtype=torch.float32))  # (2, 2 fields, N)

    def forward(self, x, geometry):
        V = x.shape[0]
        scalars = x[:, :4, None].expand(V, 4, self.n)  # trivial fields: constant over orientations
        order2 = torch.einsum("vc,cfn->vfn", x[:, 4:6], self.lift2.to(x.dtype))  # v vertex, f field, n orientation
        h = torch.cat([scalars, order2], dim=1).reshape(V, 6 * self.n)
        for conv in self.convs:
            h = torch.relu(conv(h, geometry))
        return self.head(h.view(V, self.fields, self.n).mean(-1))


def make_models(levels: int):
    gauge = GaugeUNet(
        FieldType("4x0 + 1x2"),
        FieldType(f"{len(CLASSES)}x0"),
        [FieldType("8x0 + 4x1 + 4x2"), FieldType("12x0 + 6x1 + 6x2"), FieldType("16x0 + 8x1 + 8x2")][: levels + 1],
        rings=2,
    )
    iso = GaugeUNet(
        FieldType("4x0"),
        FieldType(f"{len(CLASSES)}x0"),
        [FieldType("20x0"), FieldType("28x0"), FieldType("36x0")][: levels + 1],
        rings=2,
    )
    flat = FlatGauge(FieldType("4x0 + 1x2"), FieldType("16x0 + 8x1 + 8x2"))
    return {
        "gauge": (gauge, "x_gauge"),
        "isotropic": (iso, "x_iso"),
        "gauge-flat": (flat, "x_gauge"),
        "conditional": (ConditionalNet(), "x_gauge"),
    }


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def batch(samples):
    """All samples (MeshSamples, or a whole MeshDataset) as one batched mesh, levels and pooling maps
    included (:func:`gaugeconv.data.collate`): the layers' geometry operators are built once and
    reused at every step."""
    b = collate(list(samples))
    return {"geometry": b.geometry, "x_iso": b.x[:, :4], "x_gauge": b.x, "y": b.y}


def train(model, key, samples, info, steps, lr):
    """Full-batch Adam on this rank's share of the training meshes (a DistributedSampler split);
    DDP averages the gradients of all ranks at every step."""
    net = dist.wrap(model, info)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    share = batch([samples[i] for i in dist.sampler(range(len(samples)), info, shuffle=False)])
    for step in range(steps):
        loss = F.cross_entropy(net(share[key], share["geometry"]), share["y"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(steps // 5, 1) == 0 or step == steps - 1:
            dist.print0(info, f"    step {step + 1:4d}/{steps}: loss {loss.item():.3f}")
    return model


@torch.no_grad()
def accuracy(model, key, samples):
    """Per-vertex accuracy over all vertices of all samples."""
    model.eval()
    data = batch(samples)
    pred = model(data[key], data["geometry"]).argmax(-1)
    model.train()
    return float((pred == data["y"]).double().mean())


# ------------------------------------------------------------------------------------------ picture
@torch.no_grad()
def write_picture(path, model, key, name, dataset, index=0):
    """The model's predicted parts on test mesh ``index`` next to the ground truth and the input
    it saw most of (mean curvature), as three panels of one PNG (:func:`gaugeconv.viz.plot_panels`)."""
    from functools import partial

    from gaugeconv import viz

    model.eval()
    data = batch([dataset[index]])
    predicted = model(data[key], data["geometry"]).argmax(-1).numpy()
    model.train()
    truth, geometry = dataset[index].y, dataset.geometry(index)
    correct = float(np.mean(predicted == truth))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    viz.plot_panels(
        [
            partial(viz.plot_scalar, geometry, dataset[index].x[:, 2], "mean curvature (input)"),
            partial(
                viz.plot_labels,
                geometry,
                predicted,
                CLASSES,
                legend=False,
                title=f"{name}: {100 * correct:.1f}% correct",
            ),
            partial(viz.plot_labels, geometry, truth, CLASSES, title="ground truth"),
        ],
        screenshot=path,
    )
    return correct


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--steps", type=int, default=None, help="full-batch training steps (default 150, quick 3)")
    parser.add_argument("--train", type=int, default=None, help="training meshes (default 20, quick 2)")
    parser.add_argument("--test", type=int, default=None, help="test meshes (default 6, quick 2)")
    parser.add_argument("--levels", type=int, default=2, help="coarse levels of the U-Net (default 2)")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument(
        "--picture", default="out/segmentation.png", help="PNG of the first model's test predictions ('' for none)"
    )
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated subset of gauge,isotropic,gauge-flat,conditional (default gauge,isotropic; quick: all)",
    )
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (3 if args.quick else 150)
    n_train = args.train if args.train is not None else (2 if args.quick else 20)
    n_test = args.test if args.test is not None else (2 if args.quick else 6)

    info = dist.init()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    base, labels = load_ant()
    rng = np.random.default_rng(args.seed)  # same data on every rank; the sampler splits it
    train_set = make_set(base, labels, n_train, rng, rotate=False, levels=args.levels)
    test_seed = rng.integers(2**31)
    test_aligned = make_set(base, labels, n_test, np.random.default_rng(test_seed), rotate=False, levels=args.levels)
    test_rotated = make_set(base, labels, n_test, np.random.default_rng(test_seed), rotate=True, levels=args.levels)
    normalise([train_set, test_aligned, test_rotated])
    sizes = [s.geometry.n_vertices for s in [*train_set, *test_rotated]]
    dist.print0(
        info,
        f"ant segmentation: {len(CLASSES)} classes, {n_train} train / {n_test} test meshes "
        f"({min(sizes)}-{max(sizes)} vertices, {args.levels} coarse levels), {info.world_size} process(es), "
        f"data {time.perf_counter() - start:.1f} s",
    )
    rows, trained = [], None
    torch.manual_seed(args.seed)  # the same initialisation on every rank (DDP broadcasts rank 0's anyway)
    chosen = (args.models or ("gauge,isotropic,gauge-flat,conditional" if args.quick else "gauge,isotropic")).split(",")
    for name, (model, key) in make_models(args.levels).items():
        if name not in chosen:
            continue
        dist.print0(info, f"  {name}: {n_params(model)} parameters")
        t0 = time.perf_counter()
        train(model, key, train_set, info, steps, args.lr)
        seconds = time.perf_counter() - t0
        accs = [accuracy(model, key, data) for data in (train_set, test_aligned, test_rotated)]
        rows.append((name, n_params(model), *accs, seconds))
        trained = trained or (model, key, name)
        dist.print0(info, f"    accuracy train {accs[0]:.3f}, test aligned {accs[1]:.3f}, rotated {accs[2]:.3f}")
    dist.print0(info, "\n| model | parameters | train acc | test acc (aligned) | test acc (rotated) | train time |")
    dist.print0(info, "|---|---:|---:|---:|---:|---:|")
    for name, n, a, b, c, s in rows:
        dist.print0(info, f"| {name} | {n} | {a:.3f} | {b:.3f} | {c:.3f} | {s:.0f} s |")
    if args.picture and trained is not None and info.rank == 0:
        model, key, name = trained
        write_picture(args.picture, model, key, name, test_rotated)
        print(f"picture -> {args.picture} ({name} on a rotated test mesh, next to the ground truth)")
    dist.cleanup()


if __name__ == "__main__":
    main()
