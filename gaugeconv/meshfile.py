"""Mesh files: read positions and triangles with the file's own vertex numbering; write them.

OBJ is read by the small parser below (the file's ``v`` lines are the vertices, in order, the
referenced ones and the unreferenced ones; faces in every index form: ``i``, ``i/t``,
``i//n``, ``i/t/n``, with absolute or negative (relative) indices; polygons are split into a
fan of triangles around their first corner). The other formats go through trimesh, which
keeps their vertex lists as stored. Files are opened here and handed to trimesh as open
binary files, so any file name the operating system accepts can be read (names that are not
valid UTF-8 included).

:func:`gaugeconv.load_mesh` and :func:`gaugeconv.save_mesh` are the public entry points;
this module only turns bytes into arrays and back.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np

from .errors import MeshError

__all__ = ["read_mesh_file", "read_obj", "write_mesh_file"]

_SLASH_TAIL = re.compile(rb"/\S*")
_COMMENT = re.compile(rb"#[^\r\n]*")
# a line that is indented, has a tab after its keyword or is a keyword alone: left to the exact
# path (searched in "\n" + data: every match starts at a line break, which keeps the search fast)
_UNUSUAL = re.compile(rb"\n(?:[ \t]|[vf](?:\t|[ \t]*\r?(?:\n|\Z)))")


def _fail(path: str, line: int, what: str) -> MeshError:
    return MeshError(f"{path}: line {line}: {what}; the file is not a valid OBJ mesh")


def _parse_obj_lines(data: bytes):
    """One pass over the lines: per ``v`` line its coordinate tokens and line number; per ``f``
    line its corner tokens, the number of vertices defined before it and its line number."""
    coords, vertex_line, corners, before, face_line = [], [], [], [], []
    for number, line in enumerate(data.splitlines(), start=1):
        if b"#" in line:
            line = line.split(b"#", 1)[0]
        parts = line.split()
        if not parts:
            continue
        key = parts[0]
        if key == b"v":
            coords.append(parts[1:4])
            vertex_line.append(number)
        elif key == b"f":
            corners.append(parts[1:])
            before.append(len(coords))
            face_line.append(number)
    return coords, vertex_line, corners, before, face_line


def _parse_numbers(text: bytes, dtype, count: int):
    """Whitespace-separated numbers (bytes) as one flat array of ``dtype``, parsed in C; None if
    a token is not a plain number or there are not ``count`` of them."""
    if count == 0:
        return np.zeros(0, dtype)
    if dtype is np.int64 and b"/" in text:
        text = _SLASH_TAIL.sub(b"", text)  # i/t/n -> i
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values = np.fromstring(text, dtype=dtype, sep=" ")
    except (ValueError, OverflowError):
        return None
    return values if values.size == count else None


def _fast_numbers(rows: list, dtype, count: int):
    """The tokens of ``rows`` (lists of bytes) as one flat array, or None (see _parse_numbers)."""
    return _parse_numbers(b" ".join(token for row in rows for token in row), dtype, count)


def _exact_numbers(rows: list, lines: list, kind, path: str) -> np.ndarray:
    """The tokens of ``rows`` read one by one with Python's float or int; the first token that
    is not a number is reported with its line."""
    values = []
    for row, line in zip(rows, lines):
        for token in row:
            text = token.split(b"/", 1)[0] if kind is int else token
            try:
                value = kind(text)
            except ValueError:
                what = "vertex index" if kind is int else "coordinate"
                raise _fail(path, line, f"{what} {token.decode('ascii', 'replace')!r} is not a number") from None
            if kind is int and not -(2**62) < value < 2**62:
                raise _fail(path, line, f"vertex index {value} is out of range")
            values.append(value)
    return np.asarray(values, dtype=np.float64 if kind is float else np.int64)


def read_obj(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read an OBJ file: ``(vertices (V, 3) float64, triangles (F, 3) int64, source (V,) int64)``.

    ``vertices`` are the file's ``v`` lines in order (``source`` is ``arange(V)``: OBJ vertex
    ``i`` is row ``i - 1``; a negative index ``-k`` is the k-th vertex defined before its face
    line); a polygon with n corners becomes n - 2 triangles ``(c0, c_k, c_k+1)``. Texture
    coordinates, normals, groups, materials, lines and points are ignored.

    Plain files (statements at the start of their lines, every token a number) are read by a
    vectorised path; anything else, and every file with an error, by an exact line-by-line path
    that names the line of the error. Both give the same arrays (tests/test_obj.py).

    Raises
    ------
    MeshError
        naming the line of the first token that is not a number, of a vertex with fewer than
        three coordinates, of a face with fewer than three corners, or of an index that refers
        to no vertex.
    """
    path = os.fsdecode(path)
    with open(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        data = data[3:]
    data = data.replace(b"\\\r\n", b" ").replace(b"\\\n", b" ")  # line continuations
    result = _read_obj_fast(data)
    vertices, triangles = result if result is not None else _read_obj_exact(data, path)
    return vertices, triangles, np.arange(len(vertices), dtype=np.int64)


def _read_obj_fast(data: bytes):
    """``(vertices, triangles)`` of a plain OBJ file, parsed in C per kind of line; None if the
    file is not plain or has any error (the exact path then reads it and says where)."""
    if b"#" in data:
        data = _COMMENT.sub(b"", data)
    if _UNUSUAL.search(b"\n" + data) or data.count(b"\r") != data.count(b"\r\n"):  # or a lone CR
        return None
    lines = data.splitlines()
    vertex_lines = [line for line in lines if line[:2] == b"v "]
    face_lines = [line for line in lines if line[:2] == b"f "]
    per_vertex = np.asarray([len(line.split()) - 1 for line in vertex_lines], dtype=np.int64)
    per_face = np.asarray([len(line.split()) - 1 for line in face_lines], dtype=np.int64)
    if (per_vertex.size and per_vertex.min() < 3) or (per_face.size and per_face.min() < 3):
        return None
    numbers = _parse_numbers(b" ".join([line[2:] for line in vertex_lines]), np.float64, int(per_vertex.sum()))
    flat = _parse_numbers(b" ".join([line[2:] for line in face_lines]), np.int64, int(per_face.sum()))
    if numbers is None or flat is None:
        return None
    if np.all(per_vertex == 3):
        vertices = numbers.reshape(-1, 3)
    else:  # w coordinates or colours after x y z
        vertices = numbers[(np.cumsum(per_vertex) - per_vertex)[:, None] + np.arange(3)]
    n = len(vertices)
    if flat.size and flat.min() < 0:  # relative indices count the vertices defined before their face
        is_vertex = np.fromiter((line[:2] == b"v " for line in lines), dtype=bool, count=len(lines))
        is_face = np.fromiter((line[:2] == b"f " for line in lines), dtype=bool, count=len(lines))
        before = np.cumsum(is_vertex)[is_face]
        index = np.where(flat < 0, np.repeat(before, per_face) + flat, flat - 1)
    else:
        index = flat - 1
    if index.size and (np.any(flat == 0) or index.min() < 0 or index.max() >= n):
        return None
    return vertices, _fan_triangles(index, per_face)


def _read_obj_exact(data: bytes, path: str):
    """``(vertices, triangles)`` read line by line; raises MeshError naming the line of an error."""
    coords, vertex_line, corners, before, face_line = _parse_obj_lines(data)
    short = [line for row, line in zip(coords, vertex_line) if len(row) < 3]
    if short:
        raise _fail(path, short[0], "a vertex needs three coordinates")
    counts = np.asarray([len(row) for row in corners], dtype=np.int64)
    if counts.size and counts.min() < 3:
        raise _fail(path, face_line[int(np.argmax(counts < 3))], "a face needs at least three vertices")
    vertices = _fast_numbers(coords, np.float64, 3 * len(coords))
    if vertices is None:
        vertices = _exact_numbers(coords, vertex_line, float, path)
    flat = _fast_numbers(corners, np.int64, int(counts.sum()))
    if flat is None:
        flat = _exact_numbers(corners, face_line, int, path)
    vertices = vertices.reshape(-1, 3)
    n = len(vertices)
    defined = np.repeat(np.asarray(before, dtype=np.int64), counts)  # vertices defined before each corner
    index = np.where(flat < 0, defined + flat, flat - 1)
    bad = (flat == 0) | (index < 0) | (index >= n)
    if bad.any():
        corner = int(np.argmax(bad))
        face = int(np.searchsorted(np.cumsum(counts), corner, side="right"))
        what = "index 0 (OBJ indices start at 1)" if flat[corner] == 0 else f"index {flat[corner]}"
        raise _fail(path, face_line[face], f"vertex {what} refers to no vertex ({n} in the file)")
    return vertices, _fan_triangles(index, counts)


def _fan_triangles(index: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Corner indices of faces with ``counts`` corners each -> triangles (T, 3), fans around corner 0."""
    if counts.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if np.all(counts == 3):
        return index.reshape(-1, 3)
    start = np.cumsum(counts) - counts  # first corner of each face
    per_face = counts - 2
    first = np.repeat(start, per_face)
    k = np.arange(per_face.sum()) - np.repeat(np.cumsum(per_face) - per_face, per_face) + 1
    return np.stack([index[first], index[first + k], index[first + k + 1]], axis=1)


def read_mesh_file(path, suffix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vertices (V, 3), faces (F, 3), source (V,))`` of a mesh file; ``source[i]`` is the
    index in the file's vertex list of vertex i (STL: of the first corner at that position).

    Raises
    ------
    MeshError
        for a file that cannot be read as a mesh, with one line saying why.
    """
    path = os.fsdecode(path)
    if suffix == ".obj":
        return read_obj(path)
    import trimesh

    try:
        with warnings.catch_warnings(), open(path, "rb") as fh:
            warnings.simplefilter("ignore")
            # gltf files name their buffers by relative paths: resolve them next to the file
            resolver = trimesh.resolvers.FilePathResolver(path) if suffix == ".gltf" else None
            loaded = trimesh.load(
                fh, file_type=suffix[1:], resolver=resolver, process=False, maintain_order=True, force="mesh"
            )
        vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64)
        faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))))
    except IndexError:
        raise MeshError(
            f"{path}: cannot read as a mesh (a face index is out of range of the vertices, or the file is corrupt)"
        ) from None
    except Exception as exc:  # trimesh raises many types for corrupt files
        message = " ".join(str(exc).split())[:120]
        raise MeshError(f"{path}: cannot read as a mesh ({type(exc).__name__}: {message})") from None
    if vertices.ndim != 2 or vertices.shape[1:] != (3,):
        raise MeshError(f"{path}: cannot read as a mesh (vertices of shape {vertices.shape})")
    source = np.arange(len(vertices), dtype=np.int64)
    if suffix == ".stl" and len(vertices):
        # STL stores three separate corners per face: merge corners at equal positions, in order
        # of first appearance, since that is the only connectivity STL has
        _, first, inverse = np.unique(vertices, axis=0, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first)] = np.arange(len(first))
        source = np.sort(first).astype(np.int64)
        vertices = vertices[source]
        faces = rank[inverse.reshape(-1)][faces]
    return vertices, faces, source


def write_mesh_file(vertices: np.ndarray, faces: np.ndarray, path: str, suffix: str) -> None:
    """Write positions and triangles to ``path`` (a temporary file; the caller renames it)."""
    import trimesh

    kwargs = {"digits": 15} if suffix in (".obj", ".off") else {}
    if suffix == ".obj":
        kwargs["include_normals"] = False
    data = trimesh.Trimesh(np.asarray(vertices), np.asarray(faces), process=False).export(
        file_type=suffix[1:], **kwargs
    )
    with open(path, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
