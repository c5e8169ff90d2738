"""Group elements of O(2) and its subgroups, as plain numpy arrays.

An element of O(2) is stored as a pair ``(angle, flip)``: ``g = R(angle) @ F**flip`` with
``R(a)`` the rotation by ``a`` radians (counter-clockwise, from e1 towards e2) and
``F = diag(1, -1)`` the reflection across e1. SO(2) is the subset ``flip == False``; C_N and
D_N are the subsets whose angle is a multiple of ``2*pi/N``.

Every function broadcasts over arrays of elements; angles are float64 radians, flips bool.
These helpers are used by preprocessing (transporters, gauge transformations) and by the
field types of the layers.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

__all__ = [
    "TWO_PI",
    "Field",
    "FieldType",
    "as_numpy",
    "group_elements",
    "o2_act_on_angle",
    "o2_compose",
    "o2_conjugate",
    "o2_inverse",
    "o2_matrix",
    "wrap_angle",
]

TWO_PI = 2.0 * np.pi


def wrap_angle(angle):
    """Wrap angles to ``[-pi, pi)``.

    Parameters
    ----------
    angle : array_like, any shape
    """
    angle = np.asarray(angle, dtype=np.float64)
    turns = np.asarray(angle + np.pi)  # the whole turns to subtract, computed in one temporary
    turns /= TWO_PI
    np.floor(turns, out=turns)
    turns *= TWO_PI
    return angle - turns


def o2_compose(a1, f1, a2, f2):
    """Product ``g1 @ g2`` of O(2) elements ``g_i = R(a_i) F**f_i``.

    Uses ``F R(a) = R(-a) F``, so ``R(a1) F^f1 R(a2) F^f2 = R(a1 + (-1)^f1 a2) F^(f1 xor f2)``.

    Returns
    -------
    angle : ndarray, broadcast shape, wrapped to ``[-pi, pi)``
    flip : ndarray of bool, broadcast shape
    """
    f1 = np.asarray(f1, dtype=bool)
    f2 = np.asarray(f2, dtype=bool)
    sign = np.where(f1, -1.0, 1.0)
    return wrap_angle(np.asarray(a1) + sign * np.asarray(a2)), np.logical_xor(f1, f2)


def o2_inverse(angle, flip):
    """Inverse of ``R(angle) F**flip``: ``R(-angle)`` for rotations, itself for reflections."""
    flip = np.asarray(flip, dtype=bool)
    angle = np.asarray(angle, dtype=np.float64)
    return wrap_angle(np.where(flip, angle, -angle)), flip.copy()


def o2_conjugate(angle_p, flip_p, angle, flip, angle_q, flip_q):
    """``h_p^-1 T h_q``: a transporter ``T = R(angle) F**flip`` from q's gauge to p's after the
    gauge changes ``h_p`` at p and ``h_q`` at q (each ``R(a) F**f``). The one place this rule lives:
    geometries, pooling maps and the Möbius reduction all change gauges through it.

    Returns
    -------
    angle : ndarray, broadcast shape, wrapped to ``[-pi, pi)``
    flip : ndarray of bool, broadcast shape
    """
    inv_angle, inv_flip = o2_inverse(angle_p, flip_p)
    a, f = o2_compose(inv_angle, inv_flip, angle, flip)
    return o2_compose(a, f, angle_q, flip_q)


def o2_act_on_angle(angle, flip, theta):
    """Direction angle of ``g @ (cos theta, sin theta)`` for ``g = R(angle) F**flip``."""
    flip = np.asarray(flip, dtype=bool)
    theta = np.asarray(theta, dtype=np.float64)
    return wrap_angle(np.asarray(angle) + np.where(flip, -theta, theta))


def o2_matrix(angle, flip):
    """The 2x2 matrices ``R(angle) @ F**flip``.

    Returns
    -------
    ndarray of shape ``(..., 2, 2)``
    """
    angle = np.asarray(angle, dtype=np.float64)
    sign = np.where(np.asarray(flip, dtype=bool), -1.0, 1.0)
    c, s = np.cos(angle), np.sin(angle)
    out = np.empty(np.broadcast(angle, sign).shape + (2, 2))
    out[..., 0, 0] = c
    out[..., 1, 0] = s
    out[..., 0, 1] = -s * sign
    out[..., 1, 1] = c * sign
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Field types
# ---------------------------------------------------------------------------------------------------------------------

_TERM = re.compile(r"^(?:(\d+)\s*x\s*)?(0-|\d+|reg)$")
_GROUP = re.compile(r"^(SO2|O2|C([1-9]\d*)|D([1-9]\d*))$")
_ANGLE_TOL = 1e-9


def _parse_group(group) -> tuple[str, int]:
    """``("SO2" | "O2" | "C" | "D", N)``; N = 0 for the continuous groups."""
    match = _GROUP.match(str(group)) if isinstance(group, str) else None
    if match is None:
        raise ValueError(f"group must be 'SO2', 'O2', 'C<N>' or 'D<N>' with N >= 1, got {group!r}")
    if match.group(2):
        return "C", int(match.group(2))
    if match.group(3):
        return "D", int(match.group(3))
    return match.group(1), 0


class Field(NamedTuple):
    """One field of a :class:`FieldType`: its kind and its channels ``start : start + width``.

    A tuple ``(kind, start, width)``, so ``for kind, start, width in field_type`` unpacks it.
    """

    kind: str
    start: int
    width: int

    @property
    def stop(self) -> int:
        """One past the last channel."""
        return self.start + self.width

    @property
    def slice(self) -> slice:
        """``slice(start, stop)``: the field's channels, e.g. ``x[..., field.slice]``."""
        return slice(self.start, self.start + self.width)

    @property
    def order(self) -> int | None:
        """The irrep order k (0 for ``"0"`` and ``"0-"``); None for a regular field."""
        if self.kind == "reg":
            return None
        return int(self.kind.rstrip("-"))


class FieldType:
    """The representation of the structure group on the channels of a feature field.

    Parameters
    ----------
    spec : str
        Terms ``"mxk"`` joined by ``+``, e.g. ``"16x0 + 8x1 + 4x2"``; ``"1x"`` may be omitted.
        Kinds ``k``: ``"0"`` trivial (1 channel); ``"0-"`` sign (1 channel; rotations act
        trivially, reflections as -1; only for O2 and D_N); ``"1"``, ``"2"``, ... irreps of order k
        (2 channels ``(c, s)``, ``rho_k(R(a)) = R(k a)``, ``rho_k(F) = diag(1, -1)``); ``"reg"`` the
        regular representation (only for C_N and D_N; see :meth:`rho` for the channel order).
    group : {"SO2", "O2", "C<N>", "D<N>"}
        The structure group: rotations; rotations and reflections; the N rotations by multiples of
        ``2 pi / N``; those and their reflections (D1 = {e, F}).

    Channels follow the spec order, fields concatenated. Immutable and hashable;
    ``eval(repr(t)) == t``; ``str(t)`` is the normalised spec. Types of the same group add:
    ``FieldType("4x0") + FieldType("2x1") == FieldType("4x0 + 2x1")``.

    The channel layout lives here and nowhere else: :attr:`layout` (one :class:`Field` per field,
    also what iterating gives), :attr:`slices`, :attr:`field_of_channel`, :meth:`mask` and
    :meth:`channels`; the group acts through :meth:`rho` (numpy matrices) and :meth:`act` (torch,
    on any channel axis, without matrices).

    Examples
    --------
    >>> FieldType("16x0 + 8x1 + 4x2").dim
    48
    >>> FieldType("4x0 + 4xreg", group="D4").dim
    36
    >>> [f.slice for f in FieldType("0 + 1")]
    [slice(0, 1, None), slice(1, 3, None)]
    """

    __slots__ = ("_cache", "_dim", "_fields", "_group", "_kind", "_n")

    def __init__(self, spec: str, group: str = "SO2"):
        kind, n = _parse_group(group)
        if not isinstance(spec, str) or not spec.strip():
            raise ValueError(f"spec must be a non-empty string like '16x0 + 8x1', got {spec!r}")
        fields = []
        for term in spec.split("+"):
            match = _TERM.match(term.strip())
            if match is None:
                raise ValueError(
                    f"bad term {term.strip()!r} in field type {spec!r}: expected 'mxk', k in 0, 0-, 1, 2, ..., reg"
                )
            mult = int(match.group(1)) if match.group(1) is not None else 1
            k = match.group(2)
            if mult < 1:
                raise ValueError(f"multiplicity must be >= 1 in term {term.strip()!r} of {spec!r}")
            if k == "0-" and kind not in ("O2", "D"):
                raise ValueError(f"the sign field '0-' needs reflections: use group 'O2' or 'D<N>', not {group!r}")
            if k == "reg" and kind not in ("C", "D"):
                raise ValueError(f"regular fields 'reg' need a finite group 'C<N>' or 'D<N>', not {group!r}")
            if k not in ("0-", "reg"):
                k = str(int(k))
            fields.append((mult, k))
        self._group = str(group)
        self._kind, self._n = kind, n
        self._fields = tuple(fields)
        self._dim = sum(m * self._kind_dim(k) for m, k in fields)
        self._cache = {}  # derived index arrays (numpy, read-only) and per-device torch tensors

    def _kind_dim(self, k: str) -> int:
        if k in ("0", "0-"):
            return 1
        if k == "reg":
            return self._n if self._kind == "C" else 2 * self._n
        return 2

    def __reduce__(self):
        return FieldType, (str(self), self._group)

    def _cached(self, key, build):
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = build()
        return value

    # ------------------------------------------------------------------ basic protocol
    @property
    def group(self) -> str:
        """The structure group, ``"SO2"``, ``"O2"``, ``"C<N>"`` or ``"D<N>"``."""
        return self._group

    @property
    def fields(self) -> tuple:
        """``((multiplicity, kind), ...)`` in spec order; kind in ``"0"``, ``"0-"``, ``"1"``, ..., ``"reg"``."""
        return self._fields

    @property
    def dim(self) -> int:
        """Number of channels C."""
        return self._dim

    @property
    def order(self) -> int:
        """N for C_N and D_N, 0 for SO2 and O2."""
        return self._n

    @property
    def has_reflections(self) -> bool:
        """True for O2 and D_N (reflections act on the fields)."""
        return self._kind in ("O2", "D")

    @property
    def max_order(self) -> int:
        """Largest irrep order k among the fields (a regular field counts as ``N // 2``)."""
        orders = [int(k) if k not in ("0-", "reg") else (0 if k == "0-" else self._n // 2) for _, k in self._fields]
        return max(orders)

    def __str__(self) -> str:
        return " + ".join(f"{m}x{k}" for m, k in self._fields)

    def __repr__(self) -> str:
        return f"FieldType({str(self)!r}, group={self._group!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, FieldType) and other._group == self._group and other._fields == self._fields

    def __hash__(self) -> int:
        return hash((self._group, self._fields))

    def __add__(self, other: FieldType) -> FieldType:
        if not isinstance(other, FieldType):
            return NotImplemented
        if other._group != self._group:
            raise ValueError(f"cannot add field types of groups {self._group} and {other._group}")
        return FieldType(f"{self} + {other}", group=self._group)

    # ------------------------------------------------------------------ channel layout
    @property
    def layout(self) -> tuple:
        """One :class:`Field` ``(kind, start, width)`` per field, multiplicities expanded, in channel order."""

        def build():
            out, start = [], 0
            for mult, k in self._fields:
                width = self._kind_dim(k)
                for _ in range(mult):
                    out.append(Field(k, start, width))
                    start += width
            return tuple(out)

        return self._cached("layout", build)

    def __iter__(self):
        """Iterate over the :class:`Field` ``(kind, start, width)`` of every single field."""
        return iter(self.layout)

    @property
    def n_fields(self) -> int:
        """Number of single fields (multiplicities expanded)."""
        return len(self.layout)

    @property
    def slices(self) -> tuple:
        """The channel slice of every field, ``x[..., s]`` for ``s`` in it."""
        return tuple(f.slice for f in self.layout)

    @property
    def field_of_channel(self) -> np.ndarray:
        """(C,) int64, read-only: the index of the field (in :attr:`layout`) of every channel."""
        return self._cached(
            "field_of", lambda: _readonly(np.repeat(np.arange(self.n_fields), [f.width for f in self.layout]))
        )

    def mask(self, *kinds: str) -> np.ndarray:
        """(C,) bool, read-only: the channels of the fields of the given kinds.

        Kinds: ``"0"`` trivial, ``"0-"`` sign, ``"reg"`` regular, ``"1"``, ``"2"``, ... the irrep of
        that order, ``"irrep"`` every irrep of order >= 1. E.g. ``mask("0", "reg")`` are the channels
        the group only permutes (no signs, no rotations).
        """

        def build():
            wanted = set(kinds)
            keep = [f.kind in wanted or ("irrep" in wanted and f.order) for f in self.layout]
            return _readonly(np.repeat(np.array(keep, dtype=bool), [f.width for f in self.layout]))

        return self._cached(("mask", kinds), build)

    def channels(self, kind: str) -> np.ndarray:
        """(n, width) int64, read-only: the channels of the n fields of one ``kind`` (see :meth:`mask`;
        ``"irrep"``: the ``(c, s)`` pairs of every irrep of order >= 1, in channel order)."""

        def build():
            rows = [np.arange(f.start, f.stop) for f in self.layout if f.kind == kind or (kind == "irrep" and f.order)]
            width = 2 if kind == "irrep" else self._kind_dim(kind)
            return _readonly(np.array(rows, dtype=np.int64).reshape(len(rows), width))

        return self._cached(("channels", kind), build)

    @property
    def irrep_orders(self) -> np.ndarray:
        """(n,) int64, read-only: the order of every irrep field of order >= 1, rows of ``channels("irrep")``."""
        return self._cached("orders", lambda: _readonly(np.array([f.order for f in self.layout if f.order], np.int64)))

    # ------------------------------------------------------------------ the group action in torch
    def act(self, x, angle, flip=None, dim: int = -1):
        """``rho(R(angle) F**flip)`` applied to the channel axis ``dim`` of a torch tensor, without matrices.

        Irreps of order k rotate their ``(c, s)`` pair by ``k angle`` after mirroring ``s`` for a flip;
        sign fields change sign under flips; regular fields of C_N / D_N are permuted (the
        convention of :meth:`rho`); trivial fields are unchanged.

        Parameters
        ----------
        x : torch tensor with ``C = self.dim`` channels on axis ``dim``
        angle : float, numpy array or tensor, radians; broadcast against the other axes of ``x``
            (e.g. ``(V,)`` for features ``(B, V, C)`` or ``(B, C, V)``: one element per vertex)
        flip : None (rotations only), bool, array or tensor broadcast like ``angle``
        dim : the channel axis

        Returns
        -------
        tensor of x's dtype and device, the shape of x broadcast with angle and flip (x itself when
        every channel is trivial)

        Raises
        ------
        ValueError if ``x`` has the wrong number of channels, a flip is given for a group without
        reflections, or (with regular fields) an angle is not a multiple of ``2 pi / N`` within 1e-6.
        """
        import torch

        from ._action import act

        if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[dim] != self._dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"act: expected a tensor with {self._dim} channels on axis {dim}, got {shape}")
        return act(self, x, angle, flip, dim)

    # ------------------------------------------------------------------ group elements
    def _check_element(self, angle, flip) -> None:
        if flip.any() and not self.has_reflections:
            raise ValueError(f"group {self._group} has no reflections, but a flip was given")
        if self._kind in ("C", "D"):
            steps = angle * self._n / TWO_PI
            if np.any(np.abs(steps - np.round(steps)) > _ANGLE_TOL * self._n):
                raise ValueError(f"angle not a multiple of 2*pi/{self._n}: not an element of {self._group}")

    def rho(self, angle, flip=False) -> np.ndarray:
        """Representation matrices ``rho(R(angle) F**flip)``, block diagonal over the fields.

        Conventions: irrep k: ``R(k angle) @ diag(1, -1)**flip``; ``"0-"``: ``(-1)**flip``.
        C_N ``"reg"``: channel i is the orientation ``i 2pi/N``; the rotation by ``j 2pi/N`` moves
        channel i to channel ``i + j mod N``. D_N ``"reg"``: channel ``i + N f`` is the element
        ``g = R(i 2pi/N) F**f`` and ``rho(h)`` moves channel g to channel ``h g`` (left regular
        representation), so rotations shift both halves forward and ``F`` maps channel ``(i, f)`` to
        ``(-i mod N, 1 - f)``.

        Parameters
        ----------
        angle : array_like (...), radians
        flip : array_like of bool (...), broadcast with angle

        Returns
        -------
        ndarray (..., C, C) float64

        Raises
        ------
        ValueError if an element is not in the group (a flip in SO2/C_N; an angle not a multiple
        of ``2 pi / N`` within 1e-9 for C_N/D_N).
        """
        angle, flip = np.broadcast_arrays(np.asarray(angle, np.float64), np.asarray(flip, bool))
        self._check_element(angle, flip)
        out = np.zeros(angle.shape + (self._dim, self._dim))
        sign = np.where(flip, -1.0, 1.0)
        step = None
        if self._kind in ("C", "D"):
            step = np.round(angle * self._n / TWO_PI).astype(np.int64) % self._n
        for k, s, w in self:
            if k == "0":
                out[..., s, s] = 1.0
            elif k == "0-":
                out[..., s, s] = sign
            elif k == "reg":
                n = self._n
                flat = out.reshape(-1, self._dim, self._dim)
                rows = np.arange(flat.shape[0])
                st, fl = step.reshape(-1), flip.reshape(-1)
                for src in range(w):
                    i, f = src % n, src // n
                    # h g with h = R(step) F^flip, g = R(i) F^f is R(step + (-1)^flip i) F^(flip xor f)
                    dst = (st + np.where(fl, -i, i)) % n + n * np.logical_xor(fl, bool(f))
                    flat[rows, s + dst, s + src] = 1.0
            else:
                block = o2_matrix(int(k) * angle, flip)
                out[..., s : s + 2, s : s + 2] = block
        return out

    # ------------------------------------------------------------------ geometry compatibility
    def check_geometry(self, geometry) -> None:
        """Raise ValueError if these fields cannot live on ``geometry``'s transporters.

        SO2 and C_N types need a geometry without flipped transporters (``structure_group ==
        "SO2"``); C_N and D_N types need every transport angle to be a multiple of ``2 pi / N``
        within 1e-9. Works for numpy and torch geometries.
        """
        flips = as_numpy(geometry.transport_flip).astype(bool)
        if not self.has_reflections and (geometry.structure_group == "O2" or flips.any()):
            raise ValueError(
                f"field type {self} of group {self._group} cannot be used on {geometry.name!r}: its structure "
                f"group is O2 (non-orientable or flipped gauges); use group 'O2' or 'D<N>'"
            )
        if self._kind in ("C", "D"):
            angle = as_numpy(geometry.transport_angle).astype(np.float64)
            steps = angle * self._n / TWO_PI
            bad = np.abs(steps - np.round(steps)) > _ANGLE_TOL * self._n
            if bad.any():
                raise ValueError(
                    f"field type of group {self._group} needs transport angles that are multiples of 2*pi/{self._n}; "
                    f"{int(bad.sum())} of {bad.size} transporters of {geometry.name!r} are not (use SO2/O2 irreps)"
                )

    # ------------------------------------------------------------------ irreps decomposition
    def to_irreps(self) -> tuple[FieldType, np.ndarray]:
        """Decompose into irreps of SO2 (for C_N) or O2 (for D_N): ``(irreps_type, Q)``.

        ``Q`` (D, C) has orthonormal columns and satisfies ``irreps_type.rho(g) @ Q = Q @ self.rho(g)``
        for every g of this group, so ``x -> Q x`` maps features into the irreps basis and ``Q.T``
        maps back. A regular field of C_N becomes ``0 + 1 + ... + (N-1)//2`` plus, for even N, the
        1-dim sign-alternating irrep embedded as the first channel of the order-N/2 irrep (its second
        row of Q is zero). A regular field of D_N becomes ``0 + 0- + 2x1 + ... + 2x((N-1)//2)`` plus,
        for even N, the order-N/2 irrep of O2 (both of its channels). SO2 and O2 types return
        ``(self, identity)``.
        """
        if self._kind in ("SO2", "O2"):
            return self, np.eye(self._dim)
        target = "SO2" if self._kind == "C" else "O2"
        n = self._n
        terms, blocks = [], []
        for k, s, w in self:
            if k != "reg":
                terms.append(k)
                row = np.zeros((self._kind_dim(k), self._dim))
                row[:, s : s + w] = np.eye(w)
                blocks.append(row)
                continue
            i = np.arange(w) % n
            f = np.arange(w) // n
            a = TWO_PI * i / n
            sign = np.where(f == 1, -1.0, 1.0)
            rows = [("0", [np.ones(w)])]
            if self._kind == "D":
                rows.append(("0-", [sign]))
            for order in range(1, (n + 1) // 2):
                c, sn = np.cos(order * a), np.sin(order * a)
                # columns of sum_g x_g rho_k(g), rho_k(g) = R(k a) F^f
                rows.append((str(order), [c, sn]))
                if self._kind == "D":
                    rows.append((str(order), [-sn * sign, c * sign]))
            if n % 2 == 0:
                alt = np.cos(np.pi * i)
                second = alt * sign if self._kind == "D" else np.zeros(w)
                rows.append((str(n // 2), [alt, second]))
            for k_, vecs in rows:
                terms.append(k_)
                row = np.zeros((len(vecs), self._dim))
                for r, vec in enumerate(vecs):
                    norm = np.linalg.norm(vec)
                    row[r, s : s + w] = vec / norm if norm > 0 else 0.0
                blocks.append(row)
        spec = " + ".join(terms)
        return FieldType(spec, group=target), np.concatenate(blocks, axis=0)


def group_elements(group: str, top: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A finite set of elements to average over: the whole group for C_N and D_N; for SO2 (O2) the
    rotations C_M (and reflections D_M) with ``M = top + 1``.

    On representations whose angular frequencies are at most ``top`` the average over C_M is the
    average over SO(2) (the mean of ``e^{i k a}`` over C_M vanishes for ``0 < |k| < M``), so the
    group-average projector onto invariants is exact there.

    Returns
    -------
    angle : (G,) float64, flip : (G,) bool
    """
    kind, n = _parse_group(group)
    m = n if kind in ("C", "D") else int(top) + 1
    angle = TWO_PI * np.arange(m) / m
    if kind in ("O2", "D"):
        return np.concatenate([angle, angle]), np.repeat([False, True], m)
    return angle, np.zeros(m, dtype=bool)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def as_numpy(value) -> np.ndarray:
    """A numpy view of an array-like or a (detached, CPU) torch tensor."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)
