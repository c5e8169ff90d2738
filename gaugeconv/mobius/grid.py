"""The Möbius strip as one chart: field layouts, the seam, shifts along the strip.

The strip is stored as one 2D chart per channel, features of shape ``(B, C, W, L)``: ``W`` rows
across the strip (index ``j``), ``L`` columns along it (index ``i``); pixel ``(j, i)`` is vertex
``i * W + j`` of :func:`gaugeconv.shapes.mobius` with ``n_width = W``, ``n_length = L``. The
chart's gauge at every pixel is ``e1`` along the strip (increasing ``i``) and ``e2`` across it
(increasing ``j``).

The seam glues column ``L - 1`` to column ``0`` with ``j -> W - 1 - j``. Unrolled, a feature map
is a function on all integer columns with

    x~[..., j, i + L] = rho(F) x~[..., W - 1 - j, i],

where ``F = diag(1, -1)`` mirrors the width axis and ``rho(F)`` is the seam action of the field
type (trivial ``0``: 1; sign-flip ``0-``: -1; regular of the flip group: swap the pair; O(2)
irrep ``k >= 1``: ``diag(1, -1)``). Padding along the strip gathers unrolled columns; across the
strip the boundary is padded with zeros. The isometries of the strip used in tests are the
shifts ``x~[i] -> x~[i - s]`` (:func:`shift`); a shift by ``L`` is the mirror across the centre
line, a shift by ``2 L`` the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["FieldLayout", "field_layout", "periodic_pad", "seam_matrix", "seam_pad", "shift", "unroll"]

#: The four kinds of field the strip's flip group acts on, by how the seam reflection acts.
KINDS = ("trivial", "sign", "regular", "irrep")


@dataclass(frozen=True)
class FieldLayout:
    """Channel layout of a field type on the strip.

    Attributes
    ----------
    kinds : tuple of str, one per field: "trivial" (``0``, 1 channel), "sign" (``0-``, 1 channel),
        "regular" (``reg`` of D1, 2 channels swapped by the flip) or "irrep" (O(2) irrep
        ``k >= 1``, 2 channels ``(c, s)``, the flip acts as ``diag(1, -1)``)
    starts : tuple of int, first channel of each field
    dim : total number of channels C
    """

    kinds: tuple
    starts: tuple
    dim: int

    @property
    def field_of_channel(self) -> np.ndarray:
        """(C,) int64: index of the field each channel belongs to."""
        out = np.zeros(self.dim, dtype=np.int64)
        for f, (kind, s) in enumerate(zip(self.kinds, self.starts)):
            out[s : s + (1 if kind in ("trivial", "sign") else 2)] = f
        return out

    @property
    def pointwise(self) -> np.ndarray:
        """(C,) bool: channels the flip permutes without signs (trivial and regular fields)."""
        return np.isin(np.array(self.kinds)[self.field_of_channel], ("trivial", "regular"))

    @property
    def partner(self) -> np.ndarray:
        """(C,) int64: the other channel of an irrep's pair, the channel itself otherwise."""
        out = np.arange(self.dim)
        for kind, s in zip(self.kinds, self.starts):
            if kind == "irrep":
                out[s], out[s + 1] = s + 1, s
        return out

    def channels(self, kind: str) -> np.ndarray:
        """Channel indices (n, size) of all fields of ``kind`` (size 1 or 2)."""
        size = 1 if kind in ("trivial", "sign") else 2
        rows = [np.arange(s, s + size) for k, s in zip(self.kinds, self.starts) if k == kind]
        return np.array(rows, dtype=np.int64).reshape(-1, size)


def field_layout(field_type) -> FieldLayout:
    """Classify the fields of a :class:`gaugeconv.groups.FieldType` for the strip.

    Raises
    ------
    ValueError
        if the group has no flip (the strip's structure group is the flip group {e, F}: use
        ``group="D1"`` or ``group="O2"``) or a field kind is not supported.
    """
    group = getattr(field_type, "group", None)
    if group not in ("D1", "O2"):
        raise ValueError(f"the Möbius strip needs field types of the flip group: use group='D1' or 'O2', got {group!r}")
    kinds, starts, start = [], [], 0
    for multiplicity, kind in field_type.fields:
        kind = str(kind)
        if kind == "0":
            name, size = "trivial", 1
        elif kind == "0-":
            name, size = "sign", 1
        elif kind == "reg" and group == "D1":
            name, size = "regular", 2
        elif kind.isdigit() and int(kind) >= 1 and group == "O2":
            name, size = "irrep", 2
        else:
            raise ValueError(f"field kind {kind!r} of group {group} is not supported on the Möbius strip")
        for _ in range(int(multiplicity)):
            kinds.append(name)
            starts.append(start)
            start += size
    if start != field_type.dim:
        raise ValueError(f"field type {field_type} has {field_type.dim} channels, its fields {start}")
    return FieldLayout(tuple(kinds), tuple(starts), start)


def seam_matrix(field_type) -> np.ndarray:
    """``rho(F)`` of the field type, the action of the seam reflection, shape (C, C) float64.

    Taken from ``field_type.rho(0.0, flip=True)``; checked to be a symmetric signed permutation
    matching :func:`field_layout`.
    """
    layout = field_layout(field_type)
    matrix = np.asarray(field_type.rho(0.0, flip=True), dtype=np.float64).reshape(layout.dim, layout.dim)
    expect = np.zeros((layout.dim, layout.dim))
    for kind, s in zip(layout.kinds, layout.starts):
        if kind == "trivial":
            expect[s, s] = 1.0
        elif kind == "sign":
            expect[s, s] = -1.0
        elif kind == "regular":
            expect[s, s + 1] = expect[s + 1, s] = 1.0
        else:
            expect[s, s], expect[s + 1, s + 1] = 1.0, -1.0
    if not np.allclose(matrix, expect, atol=1e-12):
        raise ValueError(f"rho(F) of {field_type} is not the expected seam action {expect.tolist()}")
    return expect


def _check_map(x: torch.Tensor, matrix: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"features must have shape (B, C, W, L), got {tuple(x.shape)}")
    if x.shape[1] != matrix.shape[0]:
        raise ValueError(f"features have {x.shape[1]} channels, the field type has {matrix.shape[0]}")


def _mirror(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Rows reversed (j -> W-1-j) and ``rho(F)`` applied; ``matrix`` a signed permutation (C, C)."""
    perm = matrix.abs().argmax(dim=1)  # output channel d reads input channel perm[d]
    sign = matrix.gather(1, perm[:, None]).to(x.dtype)  # (C, 1)
    return x.flip(-2)[:, perm] * sign[:, :, None]


def unroll(x: torch.Tensor, matrix: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """The unrolled feature map at any integer columns.

    Parameters
    ----------
    x : (B, C, W, L) features in the chart
    matrix : (C, C) seam action ``rho(F)`` (:func:`seam_matrix` as a tensor; a signed permutation)
    columns : (n,) int64, unrolled column indices (any integers)

    Returns
    -------
    (B, C, W, n): column ``m = q L + r`` (``0 <= r < L``) is column ``r`` if ``q`` is even, and
    column ``r`` mirrored across the width with ``rho(F)`` applied if ``q`` is odd.
    """
    _check_map(x, matrix)
    length = x.shape[-1]
    columns = torch.as_tensor(columns, dtype=torch.int64, device=x.device)
    r = torch.remainder(columns, length)
    odd = torch.remainder(torch.div(columns, length, rounding_mode="floor"), 2) == 1
    return torch.where(odd, _mirror(x[..., r], matrix), x[..., r])


def shift(x: torch.Tensor, matrix: torch.Tensor, s: int) -> torch.Tensor:
    """Apply the isometry "shift by ``s`` along the strip": column ``i`` moves to ``i + s``.

    A column crossing the seam is mirrored across the width and its fields get ``rho(F)``.
    ``shift(x, m, L)`` mirrors the whole strip across its centre line; ``shift(x, m, 2 L)`` is ``x``.

    Parameters
    ----------
    x : (B, C, W, L); matrix : (C, C) seam action; s : int, any sign

    Returns
    -------
    (B, C, W, L)
    """
    length = x.shape[-1]
    return unroll(x, matrix, torch.arange(length, device=x.device) - int(s))


def seam_pad(x: torch.Tensor, matrix: torch.Tensor, along: int, across: int) -> torch.Tensor:
    """Pad by ``along`` columns through the seam on each end and ``across`` zero rows on each side.

    Parameters
    ----------
    x : (B, C, W, L); matrix : (C, C) seam action

    Returns
    -------
    (B, C, W + 2 across, L + 2 along)
    """
    _check_map(x, matrix)
    length = x.shape[-1]
    if along > length:
        y = unroll(x, matrix, torch.arange(-along, length + along, device=x.device))
    elif along > 0:
        y = torch.cat([_mirror(x[..., length - along :], matrix), x, _mirror(x[..., :along], matrix)], dim=-1)
    else:
        y = x
    return F.pad(y, (0, 0, across, across))


def periodic_pad(x: torch.Tensor, along: int, across: int) -> torch.Tensor:
    """Naive padding: periodic along the strip WITHOUT the seam's reflection, zeros across.

    This is what a conventional CNN on the chart does; it is not equivariant to shifts that cross
    the seam. Provided as the baseline and for negative controls.

    Returns
    -------
    (B, C, W + 2 across, L + 2 along)
    """
    if x.dim() != 4:
        raise ValueError(f"features must have shape (B, C, W, L), got {tuple(x.shape)}")
    length = x.shape[-1]
    y = x[..., torch.remainder(torch.arange(-along, length + along, device=x.device), length)]
    return F.pad(y, (0, 0, across, across))
