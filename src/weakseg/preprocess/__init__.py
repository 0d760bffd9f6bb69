"""Per-scene geometry computed once and cached (issue 4): supervoxels, their graph, PFH, and
point-pixel correspondences. Two entry points, each `f(scene, settings) -> dict of arrays`:

    geometry(scene, settings)     -> write with io.write_geometry
    projections(scene, settings)  -> write with io.write_projections (scenes with frames only)

`settings` is a plain dict, config.yaml's `preprocess.geometry` or `preprocess.projections` block
(its values checked by the config schema); missing keys take DEFAULTS, unknown keys are refused.

geometry() arrays (N points, S supervoxels, E undirected edges):
    supervoxel    (N,)    int32   supervoxel id 0..S-1 of every point
    sv_size       (S,)    int32   points per supervoxel
    sv_coord      (S,3)   float32 mean position (m)
    sv_color      (S,3)   float32 mean colour, 0-255
    sv_normal     (S,3)   float32 unit mean normal (normalised sum of the points' normals)
    edges         (E,2)   int32   touching supervoxels i < j, each pair once, sorted
    edge_contacts (E,)    int32   touching voxel pairs along the border (graph.py)
    pfh           (S,125) float32 PFH per supervoxel, rows sum to 1 (0 if no valid pair; pfh.py)
    fpfh          (N,33)  float32 Open3D FPFH per point, only when settings["fpfh"] is true
projections() arrays (M point-pixel pairs, ordered by frame then point):
    point (M,) int32, frame (M,) int16, u (M,) int16 colour column, v (M,) int16 colour row,
    depth (M,) float32 the point's z in the camera (m)
"""

from __future__ import annotations

import numpy as np

from ..errors import WeaksegError
from . import graph, pfh, projection, supervoxels

# "vccs": VCCS alone (measured best on ScanNet, bench/README.md); "vccs+region_growing":
# VCCS patches merged into normal-based regions the way GrowSP does; "mesh_segments": the
# scene's own mesh segments (ScanNet segs.json, scene.segment).
SUPERVOXEL_METHODS = ("vccs", "vccs+region_growing", "mesh_segments")

GEOMETRY_DEFAULTS = {
    "method": "vccs",  # one of SUPERVOXEL_METHODS
    "voxel_size": 0.05,  # m; VCCS voxel (PCL voxel_resolution), also the graph's touching test
    "seed_resolution": 0.5,  # m; VCCS seed grid (GrowSP: 10 voxels)
    "spatial_importance": 0.4,
    "normal_importance": 1.0,
    "color_importance": 0.2,
    "rg_normal_radius": 0.15,  # m; region growing: normals and curvature over this radius
    "rg_neighbours": 15,  # region growing: kNN
    "rg_angle_deg": 5.0,  # region growing: smoothness threshold (degrees)
    "rg_curvature": 1.0,  # region growing: only points below this curvature keep growing
    "merge_share": 0.5,  # GrowSP merge: a patch joins a region covering more than this share
    "pfh_max_points": 128,  # PFH: points per supervoxel (a fixed-seed subset when larger)
    "fpfh": False,  # also compute per-point FPFH (Open3D)
    "fpfh_radius": 0.25,  # m
    "fpfh_max_nn": 100,
    "seed": 0,  # PFH subsets
}

PROJECTION_DEFAULTS = {
    "depth_tolerance": 0.05,  # m; visible when |z - depth| <= this + relative * z
    "depth_tolerance_relative": 0.02,
    "min_depth": 0.05,  # m; points closer to (or behind) the camera are not listed
}

DEFAULTS = {"geometry": GEOMETRY_DEFAULTS, "projections": PROJECTION_DEFAULTS}


def _settings(settings, block):
    """The block's defaults with `settings` over them. Values are checked by the config schema
    (workflow/schemas/config.schema.yaml, `preprocess:`) before the DAG runs; here only unknown
    keys are refused, so a misspelt key never falls back to its default silently."""
    defaults = DEFAULTS[block]
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise WeaksegError("config.yaml", f"preprocess.{block}: unknown key(s) {', '.join(unknown)}; known: {', '.join(defaults)}")
    return {**defaults, **settings}


def supervoxel_ids(scene, settings):
    """(N,) int64 supervoxel id per point for the chosen method (settings already complete)."""
    s = settings
    if s["method"] not in SUPERVOXEL_METHODS:  # (the config schema lists the same names)
        raise WeaksegError("config.yaml", f"preprocess.geometry.method: unknown {s['method']!r}; known: {', '.join(SUPERVOXEL_METHODS)}")
    if s["method"] == "mesh_segments":
        if scene.segment is None or not (scene.segment >= 0).any():
            raise WeaksegError(scene.scene_id, "method mesh_segments needs the scene's mesh segments (segs.json); this scene has none")
        return supervoxels.mesh_segments(scene.coord, scene.segment)
    vox = supervoxels.Voxels(scene.coord, scene.color, scene.normal, s["voxel_size"])
    src, dst = vox.adjacency()
    sv = supervoxels.vccs(vox, src, dst, seed_resolution=s["seed_resolution"], spatial_importance=s["spatial_importance"],
                          normal_importance=s["normal_importance"], color_importance=s["color_importance"])
    if s["method"] == "vccs+region_growing":
        nrm, curv = supervoxels.normals_and_curvature(vox.xyz, s["rg_normal_radius"])
        region = supervoxels.region_growing(vox.xyz, nrm, curv, neighbours=s["rg_neighbours"], angle_deg=s["rg_angle_deg"],
                                            curvature_threshold=s["rg_curvature"])
        sv = supervoxels.growsp_merge(sv, region, s["merge_share"])
    return sv[vox.inverse]


def geometry(scene, settings=None) -> dict:
    """Supervoxels, supervoxel graph, PFH (and optionally FPFH) of one scene; see the module docstring."""
    s = _settings(settings, "geometry")
    sv = supervoxel_ids(scene, s)
    size, coord, color, normal = graph.supervoxel_means(scene.coord, scene.color, scene.normal, sv)
    edges, contacts = graph.supervoxel_graph(scene.coord, sv, s["voxel_size"])
    out = {
        "supervoxel": sv.astype(np.int32),
        "sv_size": size,
        "sv_coord": coord,
        "sv_color": color,
        "sv_normal": normal,
        "edges": edges,
        "edge_contacts": contacts,
        "pfh": pfh.supervoxel_pfh(scene.coord, scene.normal, sv, s["pfh_max_points"], s["seed"]),
    }
    if s["fpfh"]:
        out["fpfh"] = pfh.point_fpfh(scene.coord, scene.normal, s["fpfh_radius"], s["fpfh_max_nn"])
    return out


def projections(scene, settings=None) -> dict:
    """Point-pixel pairs of a scene with frames; see projection.py. Needs read_scene(..., frames=True)."""
    s = _settings(settings, "projections")
    if scene.frames is None:
        raise WeaksegError(scene.scene_id, "projections need RGB-D frames; this scene has none (read it with frames=True)")
    return projection.point_pixel_pairs(scene.coord, scene.frames, depth_tolerance=s["depth_tolerance"],
                                        depth_tolerance_relative=s["depth_tolerance_relative"], min_depth=s["min_depth"],
                                        path=scene.scene_id)
