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
type, applied by :meth:`FieldType.act` (trivial ``0``: 1; sign-flip ``0-``: -1; regular of the flip
group: swap the pair; O(2) irrep ``k >= 1``: ``diag(1, -1)``). Padding along the strip gathers
unrolled columns; across the strip the boundary is padded with zeros. The isometries of the strip used in tests are the
shifts ``x~[i] -> x~[i - s]`` (:func:`shift`); a shift by ``L`` is the mirror across the centre
line, a shift by ``2 L`` the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..groups import FieldType

__all__ = ["check_strip_type", "mirror", "periodic_pad", "seam_pad", "shift", "unroll"]


def check_strip_type(field_type: FieldType) -> FieldType:
    """Return ``field_type`` if it can live on the strip's grid; raise ValueError otherwise.

    The strip's structure group is the flip group ``{e, F}``: field types of group ``"D1"`` (trivial
    ``0``, sign ``0-``, regular ``reg``) or ``"O2"`` (trivial, sign, irreps ``k >= 1``, acted on by
    their restriction to ``{e, F}``).
    """
    group = getattr(field_type, "group", None)
    if not isinstance(field_type, FieldType) or group not in ("D1", "O2"):
        raise ValueError(f"the Möbius strip needs field types of the flip group: use group='D1' or 'O2', got {group!r}")
    return field_type


def _check_map(x: torch.Tensor, field_type: FieldType) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"features must have shape (B, C, W, L), got {tuple(getattr(x, 'shape', ()))}")
    if x.shape[1] != field_type.dim:
        raise ValueError(f"features have {x.shape[1]} channels, the field type {field_type} has {field_type.dim}")


def mirror(x: torch.Tensor, field_type: FieldType) -> torch.Tensor:
    """Rows reversed (``j -> W - 1 - j``) and ``rho(F)`` applied to the channels: the strip seen
    across its seam. ``x`` (B, C, W, L) -> (B, C, W, L)."""
    return field_type.act(x.flip(-2), 0.0, True, dim=1)


def unroll(x: torch.Tensor, field_type: FieldType, columns) -> torch.Tensor:
    """The unrolled feature map at any integer columns.

    Parameters
    ----------
    x : (B, C, W, L) features in the chart
    field_type : FieldType of x (group D1 or O2)
    columns : (n,) int, unrolled column indices (any integers)

    Returns
    -------
    (B, C, W, n): column ``m = q L + r`` (``0 <= r < L``) is column ``r`` if ``q`` is even, and
    column ``r`` mirrored across the width with ``rho(F)`` applied if ``q`` is odd.
    """
    _check_map(x, field_type)
    length = x.shape[-1]
    columns = torch.as_tensor(columns, dtype=torch.int64, device=x.device)
    r = torch.remainder(columns, length)
    odd = torch.remainder(torch.div(columns, length, rounding_mode="floor"), 2) == 1
    return torch.where(odd, mirror(x[..., r], field_type), x[..., r])


def shift(x: torch.Tensor, field_type: FieldType, s: int) -> torch.Tensor:
    """Apply the isometry "shift by ``s`` along the strip": column ``i`` moves to ``i + s``.

    A column crossing the seam is mirrored across the width and its fields get ``rho(F)``.
    ``shift(x, t, L)`` mirrors the whole strip across its centre line; ``shift(x, t, 2 L)`` is ``x``.

    Parameters
    ----------
    x : (B, C, W, L); field_type : FieldType of x; s : int, any sign

    Returns
    -------
    (B, C, W, L)
    """
    length = x.shape[-1]
    return unroll(x, field_type, torch.arange(length, device=x.device) - int(s))


def seam_pad(x: torch.Tensor, field_type: FieldType, along: int, across: int) -> torch.Tensor:
    """Pad by ``along`` columns through the seam on each end and ``across`` zero rows on each side.

    Parameters
    ----------
    x : (B, C, W, L); field_type : FieldType of x

    Returns
    -------
    (B, C, W + 2 across, L + 2 along)
    """
    _check_map(x, field_type)
    length = x.shape[-1]
    if along > length:
        y = unroll(x, field_type, torch.arange(-along, length + along, device=x.device))
    elif along > 0:
        ends = mirror(torch.cat([x[..., length - along :], x[..., :along]], dim=-1), field_type)
        y = torch.cat([ends[..., :along], x, ends[..., along:]], dim=-1)
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
