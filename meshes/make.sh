#!/bin/sh
# Regenerate the meshes of this folder (run from the repository root: sh meshes/make.sh).
# Needs gaugeconv installed; ant.obj also needs pyvista (it ships ant.ply with its examples).
set -e
gaugeconv shape icosahedron --level 3 -o meshes/icosphere3.obj
gaugeconv shape mobius --length 6.283185307179586 --width 1 --n-length 48 --n-width 8 -o meshes/mobius.obj
gaugeconv shape torus -o meshes/torus.obj
python - <<'PY'
# pyvista's bundled ant: triangulate, merge coincident points, drop unused points; then
# gaugeconv's validation (repair=True would drop degenerate/duplicate faces; the ant needs none).
import pyvista as pv
from pyvista import examples

from gaugeconv import make_mesh, save_mesh

ant = pv.read(examples.antfile).triangulate().clean(tolerance=1e-9)
mesh = make_mesh(ant.points, ant.faces.reshape(-1, 4)[:, 1:], name="ant", repair=True)
save_mesh(mesh, "meshes/ant.obj")
print(f"ant: {mesh.n_vertices} vertices, {mesh.n_faces} faces, {mesh.n_components} components -> meshes/ant.obj")
PY
