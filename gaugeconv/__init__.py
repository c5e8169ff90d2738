"""gaugeconv: gauge-equivariant convolutional networks on meshes and manifolds.

Two stages: preprocessing (numpy) turns a mesh into a :class:`Geometry` of buffers;
the layers in :mod:`gaugeconv.nn` (torch) consume only those buffers.
"""

from .buffers import FORMAT_VERSION, Geometry, GeometryFileError, preprocess
from .groups import FieldType
from .mesh import Mesh, MeshError, load_mesh, make_mesh

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "FieldType",
    "Geometry",
    "GeometryFileError",
    "Mesh",
    "MeshError",
    "load_mesh",
    "make_mesh",
    "preprocess",
    "__version__",
]
