"""gaugeconv: gauge-equivariant convolutional networks on meshes and manifolds.

Two stages: preprocessing (numpy) turns a mesh into a :class:`Geometry` of buffers;
the layers in :mod:`gaugeconv.nn` (torch) consume only those buffers.
"""

from .buffers import Geometry, PoolMap
from .fileformat import FORMAT_VERSION, GeometryFileError
from .fileformat import load as load_geometry
from .fileformat import save as save_geometry
from .groups import FieldType
from .mesh import Mesh, MeshError, load_mesh, make_mesh, save_mesh
from .preprocessing import PreprocessOptions, preprocess

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "FieldType",
    "Geometry",
    "GeometryFileError",
    "Mesh",
    "MeshError",
    "PoolMap",
    "PreprocessOptions",
    "load_geometry",
    "load_mesh",
    "make_mesh",
    "preprocess",
    "save_geometry",
    "save_mesh",
    "__version__",
]
