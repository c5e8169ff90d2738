"""Quick start: a mesh through preprocessing, a gauge-equivariant network and a picture.

    gaugeconv preprocess meshes/ant.obj -o out/ant.npz
    python examples/quickstart.py out/ant.npz --out out

Steps: load the buffers (or preprocess a mesh file given directly), print the geometry's summary,
run a small GaugeResNet (random weights) from invariant curvature inputs to a per-vertex
scalar + vector field, check its gauge equivariance under random gauges (and that the check
fails when the transporters are broken), save the features as named arrays, and render the
vector field on the surface (needs the ``viz`` extra: ``pip install -e .[viz]``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

import gaugeconv
from gaugeconv import FieldType, Geometry, load_geometry
from gaugeconv.models import GaugeResNet
from gaugeconv.testing import check_gauge_equivariance, identity_transporters


def curvature_inputs(g: Geometry) -> np.ndarray:
    """Two invariant inputs per vertex: standardised Gaussian curvature density and log area."""
    density = g.angle_defect / g.vertex_area
    log_area = np.log(g.vertex_area)
    x = np.stack([density, log_area], axis=1)
    return (x - x.mean(0)) / (x.std(0) + 1e-12)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="a saved geometry (.npz) or a mesh file")
    parser.add_argument("--out", default="out", help="folder for the features and the picture (default out)")
    parser.add_argument("--no-picture", action="store_true", help="skip rendering")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    try:
        if args.input.endswith(".npz"):
            g = load_geometry(args.input)
        else:
            g = gaugeconv.preprocess(gaugeconv.load_mesh(args.input))
    except (gaugeconv.MeshError, gaugeconv.GeometryFileError) as exc:
        print(f"quickstart: error: {exc}", file=sys.stderr)
        return 2
    print(g.summary())

    torch.manual_seed(0)
    in_type = FieldType("2x0", group=g.structure_group)
    hidden = FieldType("8x0 + 4x1 + 4x2", group=g.structure_group)
    out_type = FieldType("1x0 + 1x1", group=g.structure_group)
    model = GaugeResNet(in_type, hidden, out_type=out_type, depth=2, band_limit=2, pool=None).double().eval()
    n_params = sum(p.numel() for p in model.parameters())
    tg = g.to_torch(torch.float64)
    x = torch.as_tensor(curvature_inputs(g))
    with torch.no_grad():
        y = model(x, tg)
    print(f"model: {in_type} -> {hidden} (x2 residual blocks) -> {out_type}, {n_params} parameters")
    print(f"output: {tuple(y.shape)}, |vector| mean {y[:, 1:].norm(dim=1).mean():.3f}")

    error = check_gauge_equivariance(model, g, in_type, out_type, trials=2)
    broken = check_gauge_equivariance(model, g, in_type, out_type, trials=2, corrupt=identity_transporters)
    print(f"gauge equivariance error {error:.1e} (float64); with broken transporters {broken:.1e}")

    os.makedirs(args.out, exist_ok=True)
    stem = os.path.splitext(os.path.basename(args.input))[0]
    features = os.path.join(args.out, f"{stem}_features.npz")
    np.savez(features, output=y.numpy(), inputs=x.numpy())
    print(f"features -> {features} (arrays: output {out_type}, inputs 2x0)")
    if not args.no_picture:
        from gaugeconv import viz

        picture = os.path.join(args.out, f"{stem}.png")
        viz.plot_field(g, y.numpy(), out_type, name="network output", screenshot=picture)
        print(f"picture -> {picture}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
