"""A U-Net with pooling is as symmetric as its layers: exactly invariant under the icosphere's 60
rotations and under relabelling + rotating a real mesh; the old index-seeded sampling in 3D (kept
here as the negative control) breaks both."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, load_mesh, preprocess
from gaugeconv.ico.symmetry import icosahedral_rotations
from gaugeconv.models import GaugeUNet
from gaugeconv.preprocessing import compute_buffers
from gaugeconv.shapes import icosahedron
from gaugeconv.testing import random_isometry, randomize_parameters


def old_sampling(mesh, levels, ratio=4.0):
    """The former coarse vertices: farthest points in 3D (Euclidean), seeded with the lowest vertex
    index of every component, ties to the lowest index. A negative control only."""
    from gaugeconv.topology import components

    b = compute_buffers(mesh)
    n = mesh.n_vertices
    _, label = components(np.asarray(b["faces"]), n)
    order = list(np.unique(label, return_index=True)[1])
    dist = np.min([np.sum((mesh.vertices - mesh.vertices[s]) ** 2, axis=1) for s in order], axis=0)
    sizes = [max(int(np.ceil(n / ratio**k)), len(order)) for k in range(levels + 1)]
    while len(order) < sizes[1]:
        nxt = int(np.argmax(dist))  # first index of the maximum
        order.append(nxt)
        dist = np.minimum(dist, np.sum((mesh.vertices - mesh.vertices[nxt]) ** 2, axis=1))
    return [np.asarray(order[:size]) for size in sizes[1:]]


def unet(in_type, seed=0):
    widths = [FieldType("4x0 + 2x1 + 2x2"), FieldType("6x0 + 2x1 + 2x2"), FieldType("6x0 + 3x1")]
    model = GaugeUNet(in_type, FieldType("3x0"), widths).to(torch.float64)
    return randomize_parameters(model, seed=seed).eval()


def rotation_errors(geometry, perms, model):
    """Largest output change per rotation: the input signal rotated (a permutation of scalar fields)."""
    g = geometry.to_torch(torch.float64)
    x = torch.randn(geometry.n_vertices, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with torch.no_grad():
        y = model(x, g)
        errors = []
        for perm in perms:
            p = torch.as_tensor(perm)
            x_rot = torch.empty_like(x)
            x_rot[p] = x
            y_rot = model(x_rot, g)
            errors.append(float((y_rot[p] - y).abs().max()))
    return np.array(errors), float(y.abs().max())


@pytest.fixture(scope="module")
def rotations():
    return icosahedral_rotations(3, sphere=True)[1]


def test_unet_is_invariant_under_all_60_rotations(rotations):
    geometry = preprocess(icosahedron(3), levels=2)
    errors, size = rotation_errors(geometry, rotations, unet(FieldType("2x0")))
    assert size > 0.1
    assert len(errors) == 60 and errors.max() < 1e-10


def test_old_sampling_breaks_the_rotations(rotations):
    mesh = icosahedron(3)
    geometry = preprocess(mesh, levels=2, coarsening=old_sampling(mesh, 2))
    errors, _ = rotation_errors(geometry, rotations, unet(FieldType("2x0")))
    assert errors[0] < 1e-10  # the identity
    assert np.sum(errors > 1e-3) >= 50


def relabel_error(mesh, coarsening=None):
    moved, perm = random_isometry(mesh, 5)  # new vertex i is old vertex perm[i]
    kw = {} if coarsening is None else {"coarsening": coarsening(mesh, 2)}
    kw1 = {} if coarsening is None else {"coarsening": coarsening(moved, 2)}
    g0 = preprocess(mesh, levels=2, **kw).to_torch(torch.float64)
    g1 = preprocess(moved, levels=2, **kw1).to_torch(torch.float64)
    model = unet(FieldType("2x0"), seed=3)
    x = torch.randn(mesh.n_vertices, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        y0 = model(x, g0)
        y1 = model(x[torch.as_tensor(perm)], g1)
    return float((y0[torch.as_tensor(perm)] - y1).abs().max()), float(y0.abs().max())


@pytest.fixture(scope="module")
def ant():
    return load_mesh("meshes/ant.obj")


def test_unet_is_invariant_under_relabelling_and_rotation(ant):
    error, size = relabel_error(ant)
    assert size > 0.1 and error < 1e-10


def test_old_sampling_depends_on_the_numbering(ant):
    error, _ = relabel_error(ant, old_sampling)
    assert error > 1e-3
