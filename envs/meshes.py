"""The arm's visual meshes for the pixel camera (envs/camera.py): read once per file and process,
simplified by quadric decimation (``fast-simplification``) to at most ``max_triangles`` each.

TinyRenderer's cost grows with the triangles it draws: the Panda's meshes hold about 100,000, a
frame of them costs 19 ms at 64 x 64, and 4,000 (500 per mesh) cost 1.5 ms and look the same at
that size (docs/envs.md, "Pixels"). Any file ``trimesh`` reads works (.obj, .stl, .dae, .ply), so
a URDF of your own gets the same treatment.
"""

import functools
import os

import numpy as np

# Triangles per mesh kept by default: docs/envs.md, "Pixels", measures the cost of each choice.
MAX_TRIANGLES = 200
# simplify(): a result above STALL times the target is a stall; the grids tried then.
STALL = 1.25
CLUSTER_GRIDS = (0.005, 0.01, 0.02, 0.04)


@functools.lru_cache(maxsize=64)
def _read(path: str, modified: float, max_triangles: int | None):
    """(vertices, triangles, vertex normals) of the mesh file; `modified` keys the cache."""
    import fast_simplification  # imported here: only pixel envs need these two
    import trimesh

    try:
        mesh = trimesh.load(path, force="mesh")
        mesh.merge_vertices(merge_tex=True, merge_norm=True)
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
        faces = np.asarray(mesh.faces, dtype=np.int64)
    except Exception as error:  # trimesh raises many types, one per format
        raise ValueError(f"cannot read the mesh {path}: {error}") from None
    if len(faces) == 0:
        raise ValueError(f"the mesh {path} has no triangles to draw.")
    if max_triangles is not None and len(faces) > max_triangles:
        try:
            vertices, faces = simplify(fast_simplification, vertices, faces, max_triangles)
        except Exception as error:
            raise ValueError(
                f"cannot simplify the mesh {path} to {max_triangles} triangles: {error}; "
                "pass max_triangles=None to draw it in full."
            ) from None
    return vertices.astype(np.float64), faces.astype(np.int64), vertex_normals(vertices, faces)


def simplify(fast_simplification, vertices, faces, max_triangles: int):
    """Quadric decimation to `max_triangles`; on meshes where it stalls (collapses that would
    flip a triangle are refused: some meshes stop at 3-4 times the target), again after welding
    the vertices on ever coarser grids, CLUSTER_GRIDS, each a fraction of the mesh's size."""
    extent = float(np.ptp(vertices, axis=0).max())
    for grid in (None, *CLUSTER_GRIDS):
        welded = (vertices, faces) if grid is None else weld(vertices, faces, grid * extent)
        result = fast_simplification.simplify(
            welded[0].astype(np.float32), welded[1].astype(np.int32), target_count=max_triangles
        )
        if len(result[1]) <= STALL * max_triangles:
            break
    return result


def weld(vertices: np.ndarray, faces: np.ndarray, cell: float):
    """The mesh with its vertices merged per cube of side `cell` (m), collapsed triangles
    dropped."""
    cells, index = np.unique(np.round(vertices / cell), axis=0, return_inverse=True)
    merged = np.zeros((len(cells), 3))
    np.add.at(merged, index, vertices)
    merged /= np.bincount(index)[:, None]
    faces = index.reshape(-1)[faces]
    kept = (
        (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    )
    return merged, faces[kept]


def read(path: str, max_triangles: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mesh at `path`, simplified to at most `max_triangles` (None: all of them): vertices
    (n, 3), triangles (m, 3) as vertex indices, and unit vertex normals (n, 3)."""
    if not os.path.isfile(path):
        raise ValueError(f"the mesh file {path} does not exist.")
    return _read(path, os.path.getmtime(path), max_triangles)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Each vertex's normal: the sum of its triangles' normals, each weighted by its area."""
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.divide(normals, length, out=np.tile([0.0, 0.0, 1.0], (len(normals), 1)),
                     where=length > 0)  # fmt: skip
