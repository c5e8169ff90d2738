"""Spherical signals on the icosahedral grid: rotation convention, equirectangular and planar sampling."""

import numpy as np
import pytest

from gaugeconv.ico.signals import (
    grid_points,
    project_planar_image,
    random_rotation,
    sample_equirectangular,
    sample_function,
)
from gaugeconv.ico.symmetry import icosahedral_rotations


def smooth(x):
    return np.stack([x[:, 0] * x[:, 1] + x[:, 2] ** 3, np.exp(x[:, 0])], 1)


def test_rotating_by_a_grid_symmetry_permutes_the_samples():
    rotations, perms = icosahedral_rotations(2, sphere=True)
    base = sample_function(smooth, 2)
    for g in (3, 31, 59):
        rotated = sample_function(smooth, 2, rotation=rotations[g])
        assert np.allclose(rotated[perms[g]], base, atol=1e-12)
        assert not np.allclose(rotated, base)


def test_random_rotation_is_a_rotation():
    rng = np.random.default_rng(0)
    mats = np.stack([random_rotation(rng) for _ in range(2000)])
    assert np.allclose(mats @ mats.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(mats), 1.0)
    # Haar: the image of a fixed axis is uniform on the sphere, mean ~ 0, second moment I/3
    z = mats[:, :, 2]
    assert np.abs(z.mean(0)).max() < 0.06
    assert np.abs(z.T @ z / len(z) - np.eye(3) / 3).max() < 0.04


def test_equirectangular_sampling_matches_the_function():
    h, w = 180, 360
    lat = np.pi / 2 - (np.arange(h) + 0.5) / h * np.pi
    lon = -np.pi + (np.arange(w) + 0.5) / w * 2 * np.pi
    lat, lon = np.meshgrid(lat, lon, indexing="ij")
    image = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)  # (h, w, 3)
    x = grid_points(3)
    sampled = sample_equirectangular(image, 3)
    assert sampled.shape == (len(x), 3)
    assert np.abs(sampled - x).max() < 0.02  # bilinear error at this resolution
    rot = random_rotation(1)
    assert np.abs(sample_equirectangular(image, 3, rotation=rot) - x @ rot).max() < 0.02
    with pytest.raises(ValueError, match="image must have shape"):
        sample_equirectangular(np.zeros(5), 3)


def test_planar_projection_onto_the_southern_hemisphere():
    h = w = 28
    rows = np.repeat(np.arange(h, dtype=float)[:, None], w, 1)  # value = row index
    x = grid_points(4)
    sampled = project_planar_image(rows, 4)[:, 0]
    north = x[:, 2] > 1 - 1e-9
    q = 2 * x[:, :2] / np.where(north, 1.0, 1 - x[:, 2])[:, None]
    inside = np.all(np.abs(q) < 1.5, axis=1) & ~north
    assert north.any()  # a grid vertex sits at the projection centre; it must not sample the image
    # the square's disc |q| < 1.5 lies in the southern hemisphere; its corners reach z < 1/17
    assert np.all(x[inside, 2] < 1 / 17)
    assert np.all(x[(np.linalg.norm(q, axis=1) < 1.5) & ~north, 2] < 0)
    assert np.all(sampled[~inside] == 0)
    u = (q[:, 0] + 1.5) / 3 * h - 0.5
    core = inside & (u > 0) & (u < h - 1) & np.all(np.abs(q) < 1.4, axis=1)
    assert core.sum() > 100
    assert np.allclose(sampled[core], u[core], atol=1e-9)  # bilinear is exact on a linear ramp
    # the south pole is the image centre
    south = np.argmin(x[:, 2])
    assert abs(sampled[south] - (h / 2 - 0.5)) < 1e-9
    with pytest.raises(ValueError, match="rotation"):
        project_planar_image(rows, 2, rotation=np.ones((3, 3)))
