"""Small 3-D geometry helpers shared by the mesh reader (.off) and the generated shapes."""
from __future__ import annotations

import numpy as np


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) vertices and (F, 3) triangle indices -> (F,) areas."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))             # each (F, 3)
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def sample_mesh_surface(vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly distributed over the surface of a triangle mesh -> (n, 3).

    Triangles are chosen with probability proportional to their area, and a point inside each by
    uniform barycentric coordinates (the square-root trick). The caller ensures a positive area.
    """
    areas = triangle_areas(vertices, faces)                          # (F,)
    tri = rng.choice(len(faces), size=n, p=areas / areas.sum())      # (n,)
    r1 = np.sqrt(rng.random(n))[:, None]
    r2 = rng.random(n)[:, None]
    a, b, c = (vertices[faces[tri, k]] for k in range(3))            # each (n, 3)
    return (1 - r1) * a + r1 * (1 - r2) * b + r1 * r2 * c


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix drawn uniformly from SO(3) (QR of a Gaussian matrix, sign-fixed) -> (3, 3)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q
