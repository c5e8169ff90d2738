"""Test-wide settings and the shared geometries.

One torch thread: the test meshes are small, and on a 2-core machine more threads only
oversubscribe the cores (measured 10-20x slower equivariance checks under load).

The geometries below are built once per test session and shared; tests must not modify them
(every Geometry method returns a new object).
"""

import numpy as np
import pytest
import torch

from gaugeconv import preprocess, shapes

torch.set_num_threads(1)


def align_gauges_with_x(geometry):
    """The same flat geometry with every gauge's e1 along the x axis and e2 along y (identity
    transporters): a geometry on which C_N and D_N fields live."""
    x = np.array([1.0, 0.0, 0.0])
    angle = np.arctan2(geometry.frames[:, 1] @ x, geometry.frames[:, 0] @ x)
    return geometry.gauge_transform(angle, geometry.frames[:, 2, 2] < 0)


@pytest.fixture(scope="session")
def mobius_geometry():
    """The flat Möbius strip, 24 x 5 vertices: non-orientable, structure group O2."""
    return preprocess(shapes.mobius(n_length=24, n_width=5))


@pytest.fixture(scope="session")
def icosphere_geometry():
    """The icosphere of level 2 (162 vertices): closed, curved, SO2."""
    return preprocess(shapes.icosahedron(2))


@pytest.fixture(scope="session")
def torus_geometry():
    """A small torus (10 x 5 vertices): closed, genus 1, SO2."""
    return preprocess(shapes.torus(n_major=10, n_minor=5))


@pytest.fixture(scope="session")
def disc_geometry():
    """A flat disc of 3 rings: a mesh with boundary."""
    return preprocess(shapes.disc(n_rings=3))


@pytest.fixture(scope="session")
def aligned_plane():
    """A flat 6 x 5 grid whose gauges all point along x: every transporter is the identity."""
    return align_gauges_with_x(preprocess(shapes.plane(nx=6, ny=5)))


@pytest.fixture(scope="session")
def ico_atlas():
    """``ico_atlas(level)``: the icosahedral atlas of a level, built once per session (numpy, read-only)."""
    from gaugeconv.ico import IcoAtlas

    atlases = {}

    def get(level):
        if level not in atlases:
            atlases[level] = IcoAtlas(level)
        return atlases[level]

    return get
