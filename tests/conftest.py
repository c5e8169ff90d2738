"""Test-wide settings: one torch thread. The test meshes are small, and on a 2-core machine more
threads only oversubscribe the cores (measured 10-20x slower equivariance checks under load)."""

import torch

torch.set_num_threads(1)
