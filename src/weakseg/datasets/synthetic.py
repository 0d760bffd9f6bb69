"""The embedded synthetic indoor dataset: parametric rooms scanned like an RGB-D sensor.

A room is a rectangle of walls and a floor (no ceiling: ScanNet has no ceiling class) furnished
with objects built from boxes and vertical cylinders ("parts"). Each frame is ray-cast with
Open3D; the noisy hits of all frames are fused into a voxel-downsampled point cloud, so density
is uneven and occluded surfaces (behind furniture, under beds) are missing, as in a real scan.
Everything random comes from one `np.random.default_rng(seed)`, so a scene is bit-reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import open3d as o3d

from .. import io
from ..classes import SCANNET20
from .synthetic_plan import ROOM_TYPES

_SIDE = {"bedroom": (3.0, 5.0), "office": (3.0, 6.0), "living_room": (3.6, 6.2),
         "bathroom": (2.2, 3.8), "kitchen": (2.8, 5.5), "conference_room": (4.5, 6.5)}
# p(door), p(window), p(curtain | window), p(pictures), p(other furniture clutter)
_OPENINGS = {"bedroom": (0.75, 0.6, 0.4, 0.35, 0.55), "office": (0.75, 0.55, 0.2, 0.25, 0.75),
             "living_room": (0.7, 0.65, 0.35, 0.45, 0.75), "bathroom": (0.8, 0.3, 0.0, 0.1, 0.6),
             "kitchen": (0.7, 0.5, 0.1, 0.1, 0.6), "conference_room": (0.8, 0.55, 0.3, 0.3, 0.7)}

(WALL, FLOOR, CABINET, BED, CHAIR, SOFA, TABLE, DOOR, WINDOW, BOOKSHELF, PICTURE, COUNTER, DESK,
 CURTAIN, FRIDGE, SHOWER_CURTAIN, TOILET, SINK, BATHTUB, OTHER) = range(20)

# Material palettes (RGB). Materials are shared across classes (wood tables, desks, doors and
# floors), so colour is informative but never a class key.
_PALETTES = {
    "wall": [(226, 222, 210), (236, 232, 222), (212, 202, 182), (202, 206, 210), (222, 212, 192), (192, 202, 188)],
    "wood_floor": [(150, 105, 65), (176, 132, 86), (120, 86, 56), (196, 160, 118)],
    "tile": [(202, 200, 194), (172, 166, 160), (140, 140, 146), (216, 210, 196)],
    "carpet": [(112, 106, 100), (92, 96, 112), (132, 122, 102), (150, 140, 130)],
    "wood": [(160, 116, 72), (122, 82, 46), (192, 152, 102), (92, 62, 38), (202, 178, 142)],
    "white": [(236, 236, 230), (222, 222, 216), (246, 246, 244)],
    "grey": [(122, 122, 126), (82, 82, 88), (162, 162, 162), (52, 52, 56)],
    "metal": [(172, 172, 178), (142, 146, 152), (202, 202, 208)],
    "fabric": [(140, 42, 42), (62, 82, 122), (92, 112, 82), (182, 172, 152), (112, 102, 132), (72, 72, 78)],
    "bedding": [(232, 232, 236), (202, 212, 232), (222, 202, 192), (182, 192, 202)],
    "leather": [(62, 42, 32), (32, 32, 32), (122, 82, 52)],
    "ceramic": [(246, 246, 246), (234, 234, 240), (226, 226, 220)],
    "glass": [(172, 202, 222), (192, 212, 226), (152, 182, 202)],
    "door": [(150, 106, 66), (232, 232, 226), (112, 76, 46), (186, 162, 132)],
    "art": [(202, 62, 52), (52, 122, 182), (222, 192, 62), (82, 152, 92), (42, 42, 42), (232, 222, 202)],
    "curtain": [(202, 192, 172), (122, 42, 52), (62, 72, 112), (232, 226, 216), (102, 122, 92)],
    "shower": [(242, 242, 246), (172, 212, 232), (232, 222, 202)],
    "stone": [(62, 62, 62), (222, 216, 206), (152, 142, 132), (32, 32, 36)],
    "plastic": [(42, 42, 42), (202, 52, 52), (62, 102, 162), (232, 232, 232), (82, 162, 82)],
    "cardboard": [(172, 132, 92), (192, 152, 106)],
}


# --------------------------------------------------------------------------- parts and meshes
def _B(mat, x0, x1, y0, y1, z0, z1):
    """A box part in an object's local frame (x across, back of the object at +y, z up)."""
    return (mat, "box", (x0, y0, z0), (x1, y1, z1))


def _Cy(mat, cx, cy, r, z0, z1):
    """A vertical cylinder part, given by its bounding box."""
    return (mat, "cyl", (cx - r, cy - r, z0), (cx + r, cy + r, z1))


_QUADS = np.array([[0, 1, 3, 2], [4, 5, 7, 6], [0, 1, 5, 4], [2, 3, 7, 6], [0, 2, 6, 4], [1, 3, 7, 5]])
_BOX_TRIS = np.concatenate([_QUADS[:, [0, 1, 2]], _QUADS[:, [0, 2, 3]]]).astype(np.uint32)
_NSEG = 12
_i, _j = np.arange(_NSEG), (np.arange(_NSEG) + 1) % _NSEG  # bottom ring, top ring (+_NSEG), two centres
_CYL_TRIS = np.concatenate([np.stack([_i, _j, _NSEG + _j], 1), np.stack([_i, _NSEG + _j, _NSEG + _i], 1),
                            np.stack([np.full(_NSEG, 2 * _NSEG), _j, _i], 1),
                            np.stack([np.full(_NSEG, 2 * _NSEG + 1), _NSEG + _i, _NSEG + _j], 1)]).astype(np.uint32)


def _part_mesh(kind, lo, hi):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if kind == "box":  # corner index = ix + 2 iy + 4 iz
        g = np.stack([lo, hi])
        v = np.array([[g[i & 1, 0], g[(i >> 1) & 1, 1], g[i >> 2, 2]] for i in range(8)])
        return v, _BOX_TRIS
    c, r = (lo[:2] + hi[:2]) / 2, (hi[:2] - lo[:2]).min() / 2
    a = 2 * np.pi * np.arange(_NSEG) / _NSEG
    ring = c + r * np.stack([np.cos(a), np.sin(a)], 1)
    v = np.concatenate([np.c_[ring, np.full(_NSEG, lo[2])], np.c_[ring, np.full(_NSEG, hi[2])],
                        [[*c, lo[2]], [*c, hi[2]]]])
    return v, _CYL_TRIS


def _extent(parts):
    """Local bounding box (lo, hi) of a list of parts."""
    return np.min([p[2] for p in parts], 0), np.max([p[3] for p in parts], 0)


def _rot(yaw, xy):
    c, s = math.cos(yaw), math.sin(yaw)
    xy = np.asarray(xy, float)
    return np.stack([c * xy[..., 0] - s * xy[..., 1], s * xy[..., 0] + c * xy[..., 1]], -1)


def _front(yaw):
    """World direction of an object's front (local -y)."""
    return np.array([math.sin(yaw), -math.cos(yaw)])


def _facing(direction):
    """Yaw that turns an object's front towards `direction`."""
    return math.atan2(direction[0], -direction[1])


# --------------------------------------------------------------------------- the room
class _Room:
    """Walls, floor and placed objects; rejects placements whose 3D boxes would interpenetrate."""

    def __init__(self, rng, width, depth, height, floor_mat):
        self.rng, self.W, self.D, self.H = rng, width, depth, height
        self.meshes = []  # (vertices (n,3), triangles (m,3), class, instance, rgb)
        self.boxes = np.zeros((0, 6))  # occupied world AABBs (incl. clearance in front of doors, windows)
        self.n_inst = 0
        self.light = np.array([0.0, 0.0, 1.0])
        # wall k: start point, direction along it, length, inward normal, yaw that faces an object's front inward
        self.walls = [((0, 0), (1, 0), width, (0, 1), math.pi), ((width, 0), (0, 1), depth, (-1, 0), -math.pi / 2),
                      ((width, depth), (-1, 0), width, (0, -1), 0.0), ((0, depth), (0, -1), depth, (1, 0), math.pi / 2)]
        t, W, D, H = 0.1, width, depth, height
        paint = self._color("wall")  # one paint for the room, one instance per wall plane
        for lo, hi in [((-t, -t, 0), (W + t, 0, H)), ((W, -t, 0), (W + t, D + t, H)),
                       ((-t, D, 0), (W + t, D + t, H)), ((-t, -t, 0), (0, D + t, H))]:
            self.add(WALL, [("wall", "box", lo, hi)], 0, 0, 0, check=False, register=False, colors={"wall": paint})
        self.add(FLOOR, [(floor_mat, "box", (-t, -t, -0.05), (W + t, D + t, 0))], 0, 0, 0, check=False, register=False)

    def p(self, prob):
        return self.rng.random() < prob

    def u(self, lo, hi):
        return self.rng.uniform(lo, hi)

    def pick(self, *options):
        return options[self.rng.integers(len(options))]

    def _color(self, mat):
        """An instance's base colour: a palette entry, brightness and hue jittered."""
        pal = _PALETTES[mat]
        base = np.array(pal[self.rng.integers(len(pal))], float)
        return np.clip(base * self.u(0.85, 1.12) + self.rng.normal(0, 8, 3), 0, 255)

    def add(self, cls, parts, x, y, yaw, *, check=True, register=True, clear=0.0, colors=None):
        """Place `parts` at (x, y, yaw); return the new instance id, or None if it does not fit.

        `clear` reserves that much free space in front of the object (door swing, window view).
        """
        lo, hi = _extent(parts)
        corners = np.array([[a, b] for a in (lo[0], hi[0]) for b in (lo[1] - clear, hi[1])])
        xy = _rot(yaw, corners) + (x, y)
        box = np.r_[xy.min(0), lo[2], xy.max(0), hi[2]]
        if check:
            e = 0.03  # wall-mounted items sink up to a centimetre into the wall
            if box[0] < -e or box[1] < -e or box[3] > self.W + e or box[4] > self.D + e or box[5] > self.H:
                return None
            if ((box[:3] < self.boxes[:, 3:] - 1e-3) & (box[3:] > self.boxes[:, :3] + 1e-3)).all(1).any():
                return None
        if register:
            self.boxes = np.vstack([self.boxes, box])
        inst, self.n_inst = self.n_inst, self.n_inst + 1
        colors = dict(colors or {})  # one base colour per (instance, material)
        for mat, kind, plo, phi in parts:
            if mat not in colors:
                colors[mat] = self._color(mat)
            v, tris = _part_mesh(kind, plo, phi)
            v[:, :2] = _rot(yaw, v[:, :2]) + (x, y)
            self.meshes.append((v, tris, cls, inst, colors[mat]))
        return inst

    def on_wall(self, cls, parts, *, wall=None, at=None, gap=None, clear=0.0, margin=0.0, tries=25, check=True):
        """Put an object with its back (+y) to a wall; return its pose (x, y, yaw, wall, t) or None.

        gap=None: local y=0 is the wall plane (wall-mounted items); else the back stays `gap` off it.
        at: position along the wall (None random, "corner" at either end).
        """
        lo, hi = _extent(parts)
        hw = (hi[0] - lo[0]) / 2
        for _ in range(tries):
            k = self.rng.integers(4) if wall is None else wall
            start, along, length, inward, yaw = self.walls[k]
            if length - 2 * (hw + margin) < 0:
                continue
            if at is None:
                t = self.u(hw + margin, length - hw - margin)
            elif at == "corner":
                t = self.pick(hw + margin, length - hw - margin)
            else:
                t = at
            off = 0.0 if gap is None else gap + hi[1]
            xy = np.add(start, np.multiply(along, t)) + np.multiply(inward, off)
            cx = (lo[0] + hi[0]) / 2  # centre the part's x extent on t
            xy -= _rot(yaw, (cx, 0.0))
            if self.add(cls, parts, xy[0], xy[1], yaw, clear=clear, check=check) is not None:
                return xy[0], xy[1], yaw, k, t
        return None

    def free(self, cls, parts, *, yaw=None, tries=30, margin=0.3):
        """Place an object anywhere on the floor (random yaw unless given)."""
        for _ in range(tries):
            x, y = self.u(margin, self.W - margin), self.u(margin, self.D - margin)
            a = self.u(-math.pi, math.pi) if yaw is None else yaw
            if self.add(cls, parts, x, y, a) is not None:
                return x, y, a
        return None

    def seat(self, x, y, yaw, spots, face, p=0.85, style=None):
        """Chairs at table-local `spots`, facing local direction `face` (towards the table), yaw jittered."""
        a = _facing(_rot(yaw, face))
        for spot in spots:
            if self.p(p):
                c = _rot(yaw, spot) + (x, y)
                self.add(CHAIR, _chair(self, style), c[0], c[1], a + self.rng.normal(0, 0.25))


# --------------------------------------------------------------------------- furniture (local frames)
def _table(r, w, d, h):
    mat = r.pick("wood", "white", "grey", "wood")
    leg = r.pick(mat, "metal")
    if abs(w - d) < 0.25 and r.p(0.35):  # round pedestal table
        rad = min(w, d) / 2
        return [_Cy(mat, 0, 0, rad, h - 0.04, h), _Cy(leg, 0, 0, 0.04, 0.03, h - 0.04), _Cy(leg, 0, 0, 0.25, 0, 0.03)]
    parts, s, e = [_B(mat, -w / 2, w / 2, -d / 2, d / 2, h - 0.04, h)], r.u(0.04, 0.07), 0.04
    for sx in (-1, 1):
        for sy in (-1, 1):
            cx, cy = sx * (w / 2 - e - s / 2), sy * (d / 2 - e - s / 2)
            parts.append(_B(leg, cx - s / 2, cx + s / 2, cy - s / 2, cy + s / 2, 0, h - 0.04))
    return parts


def _chair(r, style=None):
    style = style or r.pick("plain", "plain", "office")
    s, h = r.u(0.42, 0.5), r.u(0.42, 0.48)
    if style == "arm":  # upholstered armchair: a one-seat sofa
        return _sofa(r, r.u(0.7, 0.9))
    mat = r.pick("wood", "plastic", "fabric", "grey", "leather")
    back = _B(mat, -s / 2 + 0.02, s / 2 - 0.02, s / 2 - 0.04, s / 2, h, h + r.u(0.35, 0.5))
    seat = _B(mat, -s / 2, s / 2, -s / 2, s / 2, h - 0.05, h)
    if style == "office":  # star base, gas post
        m = r.pick("grey", "metal")
        return [_B(m, -0.3, 0.3, -0.03, 0.03, 0.02, 0.07), _B(m, -0.03, 0.03, -0.3, 0.3, 0.02, 0.07),
                _Cy(m, 0, 0, 0.03, 0.07, h - 0.05), seat, back]
    m, e = r.pick(mat, "metal", "wood"), 0.035
    legs = [_B(m, sx * (s / 2 - e) - e / 2, sx * (s / 2 - e) + e / 2, sy * (s / 2 - e) - e / 2,
               sy * (s / 2 - e) + e / 2, 0, h - 0.05) for sx in (-1, 1) for sy in (-1, 1)]
    return legs + [seat, back]


def _sofa(r, w):
    d, mat = r.u(0.8, 0.95), r.pick("fabric", "fabric", "leather")
    a, hs, hb, b = r.u(0.12, 0.2), r.u(0.4, 0.46), r.u(0.75, 0.9), r.u(0.15, 0.22)
    parts = [_B(r.pick("wood", "grey"), -w / 2 + 0.05, w / 2 - 0.05, -d / 2 + 0.05, d / 2 - 0.05, 0, 0.08),
             _B(mat, -w / 2, w / 2, d / 2 - b, d / 2, 0.08, hb),
             _B(mat, -w / 2, -w / 2 + a, -d / 2, d / 2 - b, 0.08, hs + 0.18),
             _B(mat, w / 2 - a, w / 2, -d / 2, d / 2 - b, 0.08, hs + 0.18),
             _B(mat, -w / 2 + a, w / 2 - a, -d / 2 + 0.02, d / 2 - b, 0.08, hs - 0.1)]
    edges = np.linspace(-w / 2 + a, w / 2 - a, 1 + max(1, int((w - 2 * a) / 0.65)))
    parts += [_B(mat, x0 + 0.01, x1 - 0.01, -d / 2, d / 2 - b, hs - 0.1, hs) for x0, x1 in zip(edges[:-1], edges[1:])]
    return parts


def _bed(r):
    w, l = r.pick(0.95, 1.4, 1.6, 1.8) + r.u(-0.05, 0.05), r.u(1.95, 2.1)
    fmat, hf, hm = r.pick("wood", "fabric", "white"), r.u(0.2, 0.35), r.u(0.18, 0.28)
    parts = [_B(fmat, -w / 2, w / 2, -l / 2, l / 2 - 0.06, 0, hf),
             _B(fmat, -w / 2, w / 2, l / 2 - 0.06, l / 2, 0, hf + r.u(0.5, 0.9)),  # headboard
             _B("bedding", -w / 2 + 0.03, w / 2 - 0.03, -l / 2 + 0.03, l / 2 - 0.07, hf, hf + hm)]
    if r.p(0.7):  # blanket over the lower part of the mattress
        top = hf + hm
        parts.append(_B("fabric", -w / 2 + 0.01, w / 2 - 0.01, -l / 2 + 0.01, l / 2 - 0.6, top - 0.05, top + 0.03))
    edges = np.linspace(-w / 2 + 0.08, w / 2 - 0.08, 2 if w < 1.2 else 3)  # one or two pillows
    for x0, x1 in zip(edges[:-1], edges[1:]):
        parts.append(_B("white", x0 + 0.02, x1 - 0.02, l / 2 - 0.55, l / 2 - 0.1, hf + hm, hf + hm + 0.12))
    return parts


def _bookshelf(r):
    w, d, h, t = r.u(0.6, 1.2), r.u(0.28, 0.4), r.u(1.0, 2.1), 0.02
    mat = r.pick("wood", "white", "grey", "wood")
    parts = [_B(mat, -w / 2, -w / 2 + t, -d / 2, d / 2, 0, h), _B(mat, w / 2 - t, w / 2, -d / 2, d / 2, 0, h),
             _B(mat, -w / 2, w / 2, d / 2 - 0.01, d / 2, 0, h), _B(mat, -w / 2, w / 2, -d / 2, d / 2, h - t, h),
             _B(mat, -w / 2 + t, w / 2 - t, -d / 2, d / 2, 0, 0.06)]
    for z in np.linspace(0.06, h - t, max(2, int(h / 0.35)) + 1)[1:-1]:
        parts.append(_B(mat, -w / 2 + t, w / 2 - t, -d / 2, d / 2 - 0.01, z - t / 2, z + t / 2))
    return parts


def _cabinet(r, tall=None):
    tall = r.p(0.4) if tall is None else tall
    w, d = r.u(0.4, 1.2), r.u(0.4, 0.6)
    h, mat = (r.u(1.6, 2.1) if tall else r.u(0.6, 1.0)), r.pick("wood", "white", "grey")
    parts = [_B(mat, -w / 2, w / 2, -d / 2 + 0.02, d / 2, 0.08, h),
             _B(mat, -w / 2 + 0.03, w / 2 - 0.03, -d / 2 + 0.05, d / 2, 0, 0.08)]  # recessed plinth
    edges = np.linspace(-w / 2, w / 2, 2 if w < 0.6 else 3)
    for x0, x1 in zip(edges[:-1], edges[1:]):  # doors with handles
        parts += [_B(mat, x0 + 0.004, x1 - 0.004, -d / 2, -d / 2 + 0.02, 0.1, h - 0.01),
                  _B("metal", (x0 + x1) / 2 - 0.05, (x0 + x1) / 2 + 0.05, -d / 2 - 0.025, -d / 2, h - 0.15, h - 0.12)]
    return parts


def _desk(r):
    w, d, h, mat = r.u(1.0, 1.6), r.u(0.6, 0.8), r.u(0.72, 0.76), r.pick("wood", "white", "grey")
    parts = [_B(mat, -w / 2, w / 2, -d / 2, d / 2, h - 0.03, h),  # top, side panels, modesty panel
             _B(mat, -w / 2, -w / 2 + 0.03, -d / 2 + 0.05, d / 2, 0, h - 0.03),
             _B(mat, w / 2 - 0.03, w / 2, -d / 2 + 0.05, d / 2, 0, h - 0.03),
             _B(mat, -w / 2 + 0.03, w / 2 - 0.03, d / 2 - 0.03, d / 2, 0.3, h - 0.03)]
    if r.p(0.5):  # drawer pedestal
        x0 = r.pick(-w / 2 + 0.03, w / 2 - 0.43)
        parts += [_B(mat, x0, x0 + 0.4, -d / 2 + 0.05, d / 2 - 0.05, 0, h - 0.03),
                  _B("metal", x0 + 0.15, x0 + 0.25, -d / 2 + 0.03, -d / 2 + 0.05, h - 0.15, h - 0.12)]
    return parts


def _fridge(r):
    w, d, h, mat = r.u(0.6, 0.9), r.u(0.65, 0.75), r.u(1.6, 1.95), r.pick("white", "metal", "grey", "white")
    zf = h * r.u(0.6, 0.7)
    return [_B(mat, -w / 2, w / 2, -d / 2 + 0.04, d / 2, 0, h),
            _B(mat, -w / 2, w / 2, -d / 2, -d / 2 + 0.04, 0.02, zf - 0.01),  # fridge and freezer doors
            _B(mat, -w / 2, w / 2, -d / 2, -d / 2 + 0.04, zf + 0.01, h - 0.01),
            _B("metal", w / 2 - 0.08, w / 2 - 0.05, -d / 2 - 0.05, -d / 2, zf - 0.5, zf - 0.1)]


def _toilet(r):
    d, rad, hb, c = r.u(0.62, 0.72), r.u(0.18, 0.21), r.u(0.36, 0.42), "ceramic"
    tw = r.u(0.19, 0.23)
    return [_Cy(c, 0, -d / 2 + rad, rad, 0, hb), _B(c, -0.12, 0.12, -d / 2 + rad, d / 2 - 0.18, 0, hb - 0.05),
            _B(c, -tw, tw, d / 2 - 0.18, d / 2, hb - 0.05, hb + r.u(0.35, 0.42)),
            _Cy(r.pick("ceramic", "white", "wood"), 0, -d / 2 + rad, rad + 0.01, hb, hb + 0.03)]


def _basin(mat, cx, cy, w, d, z0, h=0.14, t=0.02):
    """A sink bowl open at the top, plus a faucet behind it."""
    x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - d / 2, cy + d / 2
    return [_B(mat, x0, x1, y0, y1, z0, z0 + t), _B(mat, x0, x1, y0, y0 + t, z0, z0 + h),
            _B(mat, x0, x1, y1 - t, y1, z0, z0 + h), _B(mat, x0, x0 + t, y0, y1, z0, z0 + h),
            _B(mat, x1 - t, x1, y0, y1, z0, z0 + h), _Cy("metal", cx, y1 + 0.03, 0.018, z0, z0 + 0.3),
            _B("metal", cx - 0.015, cx + 0.015, y1 - 0.12, y1 + 0.03, z0 + 0.26, z0 + 0.29)]


def _bathtub(r):
    L, w, h, t, c = r.u(1.5, 1.75), r.u(0.7, 0.8), r.u(0.5, 0.6), 0.07, "ceramic"
    return [_B(c, -L / 2, L / 2, -w / 2, w / 2, 0, 0.12), _B(c, -L / 2, L / 2, -w / 2, -w / 2 + t, 0, h),
            _B(c, -L / 2, L / 2, w / 2 - t, w / 2, 0, h), _B(c, -L / 2, -L / 2 + t, -w / 2, w / 2, 0, h),
            _B(c, L / 2 - t, L / 2, -w / 2, w / 2, 0, h)]


def _sheet(mat, x0, x1, y, z0, z1, folds=3, amp=0.025, t=0.012):
    """A hanging fabric sheet: vertical strips staggered in depth to look folded."""
    e = np.linspace(x0, x1, folds + 1)
    return [_B(mat, e[i], e[i + 1], y + (i % 2) * amp, y + (i % 2) * amp + t, z0, z1) for i in range(folds)]


def _other(r, kind=None):
    kind = kind or r.pick("nightstand", "lamp", "bin", "boxes", "dresser", "stand", "bin")
    mat = r.pick("wood", "white", "grey", "plastic")
    if kind in ("nightstand", "dresser"):
        small = kind == "nightstand"
        w, d, h = r.u(0.4, 0.55) if small else r.u(0.8, 1.4), r.u(0.35, 0.5), r.u(0.45, 0.65) if small else r.u(0.75, 1.1)
        parts = [_B(mat, -w / 2, w / 2, -d / 2 + 0.02, d / 2, 0, h)]
        for z in np.arange(h - 0.2, 0.1, -0.25):  # drawer fronts with knobs
            parts += [_B(mat, -w / 2 + 0.02, w / 2 - 0.02, -d / 2, -d / 2 + 0.02, z - 0.1, z + 0.12),
                      _B("metal", -0.04, 0.04, -d / 2 - 0.02, -d / 2, z, z + 0.02)]
        return parts
    if kind == "lamp":
        h, m = r.u(1.3, 1.7), r.pick("metal", "grey", "wood")
        shade = _Cy(r.pick("white", "fabric"), 0, 0, r.u(0.15, 0.22), h - 0.28, h)
        return [_Cy(m, 0, 0, 0.14, 0, 0.03), _Cy(m, 0, 0, 0.015, 0.03, h - 0.25), shade]
    if kind == "bin":
        return [_Cy(r.pick("plastic", "metal", "grey"), 0, 0, r.u(0.12, 0.18), 0, r.u(0.3, 0.45))]
    if kind == "boxes":
        parts, z = [], 0.0
        for _ in range(r.rng.integers(1, 4)):
            w, d, h = r.u(0.25, 0.5), r.u(0.25, 0.45), r.u(0.2, 0.4)
            parts.append(_B("cardboard", -w / 2, w / 2, -d / 2, d / 2, z, z + h))
            z += h
        return parts
    w, h = r.u(0.35, 0.6), r.u(0.45, 0.7)  # small side stand
    return [_Cy(mat, 0, 0, w / 2, h - 0.03, h), _Cy(mat, 0, 0, 0.03, 0.02, h - 0.03), _Cy(mat, 0, 0, 0.18, 0, 0.02)]


# --------------------------------------------------------------------------- walls: doors, windows, pictures
def _door(r):
    w, h, m = r.u(0.8, 0.95), r.u(2.0, 2.1), r.pick("door", "door", "white", "wood")
    return [_B(m, -w / 2 - 0.07, w / 2 + 0.07, -0.012, 0.01, 0, h + 0.07),  # frame trim around the leaf
            _B(m, -w / 2, w / 2, -0.035, 0.01, 0, h), _B("metal", w / 2 - 0.14, w / 2 - 0.06, -0.09, -0.035, 0.95, 1.0)]


def _window(r):
    w, z0 = r.u(0.8, 2.0), r.u(0.8, 1.0)
    z1, fm, b = min(z0 + r.u(1.0, 1.5), r.H - 0.2), r.pick("white", "grey", "wood", "white"), 0.06
    parts = [_B("glass", -w / 2, w / 2, -0.012, 0.01, z0, z1),
             _B(fm, -w / 2 - 0.05, w / 2 + 0.05, -0.08, 0.01, z0 - 0.03, z0),  # sill
             _B(fm, -w / 2, -w / 2 + b, -0.04, 0.01, z0, z1), _B(fm, w / 2 - b, w / 2, -0.04, 0.01, z0, z1),
             _B(fm, -w / 2, w / 2, -0.04, 0.01, z1 - b, z1), _B(fm, -w / 2, w / 2, -0.04, 0.01, z0, z0 + b)]
    if w > 1.2:  # mullion
        parts.append(_B(fm, -0.03, 0.03, -0.04, 0.01, z0, z1))
    return parts, w, z0, z1


def _picture(r):
    w, h, zc = r.u(0.3, 1.2), r.u(0.3, 0.9), r.u(1.35, 1.75)
    fm, b = r.pick("wood", "grey", "white", "metal"), r.u(0.02, 0.06)
    return [_B(fm, -w / 2, w / 2, -0.025, 0.01, zc - h / 2, zc + h / 2),
            _B("art", -w / 2 + b, w / 2 - b, -0.03, 0.0, zc - h / 2 + b, zc + h / 2 - b)]


def _openings(r, p_door, p_window, p_curtain):
    if r.p(p_door) and r.on_wall(DOOR, _door(r), clear=0.85, margin=0.1) and r.p(0.2):
        r.on_wall(DOOR, _door(r), clear=0.85, margin=0.1)  # a second door (closet, bathroom)
    for i in range(2):
        if not r.p(p_window if i == 0 else 0.4):
            break
        parts, w, z0, z1 = _window(r)
        pose = r.on_wall(WINDOW, parts, clear=0.1, margin=0.2)
        if pose is None or not r.p(p_curtain):
            continue
        zb = r.pick(0.02, 0.02, max(z0 - 0.2, 0.02))
        zt = min(z1 + r.u(0.1, 0.25), r.H - 0.02)
        for side in (-1, 1):  # a panel each side of the window, covering part of it
            pw = r.u(0.3, 0.6)
            sheet = _sheet("curtain", -pw / 2, pw / 2, -0.25, zb, zt, folds=4, amp=0.03)  # clear of the window's box
            r.on_wall(CURTAIN, sheet, wall=pose[3], at=pose[4] + side * (w / 2 + pw / 2 - 0.12), gap=None, tries=1)


# --------------------------------------------------------------------------- room programs
def _with_desk(r, p_chair=0.85):
    pose = r.on_wall(DESK, _desk(r), gap=r.u(0.02, 0.08))
    if pose and r.p(p_chair):
        x, y, yaw = pose[:3]
        c = np.array([x, y]) + _front(yaw) * r.u(0.7, 0.95)
        r.add(CHAIR, _chair(r, r.pick("office", "plain")), c[0], c[1], yaw + math.pi + r.rng.normal(0, 0.4))


def _dining(r, style=None, big=False):
    if big:  # conference table spanning most of the room, chairs all round
        long_x = r.W >= r.D
        L, w = max(r.W, r.D) * r.u(0.45, 0.65), r.u(1.0, 1.5)
        yaw = 0.0 if long_x else math.pi / 2
        x, y = r.W / 2 + r.u(-0.2, 0.2), r.D / 2 + r.u(-0.2, 0.2)
        if r.add(TABLE, _table(r, L, w, r.u(0.72, 0.76)), x, y, yaw) is None:
            return
    else:
        L, w = r.u(0.8, 1.8), r.u(0.7, 1.0)
        pose = r.free(TABLE, _table(r, L, w, r.u(0.7, 0.76)), yaw=r.pick(0.0, math.pi / 2) + r.rng.normal(0, 0.1))
        if pose is None:
            return
        x, y, yaw = pose
    n = max(1, int(L / r.u(0.65, 0.8)))
    along = (np.arange(n) - (n - 1) / 2) * (L / n)
    for side in (-1, 1):
        off = side * (w / 2 + r.u(0.3, 0.45))
        r.seat(x, y, yaw, [(a, off) for a in along], (0.0, -side), style=style)
        if big or L > 1.3:  # chairs at the ends
            r.seat(x, y, yaw, [(side * (L / 2 + r.u(0.3, 0.45)), 0.0)], (-side, 0.0), p=0.4, style=style)


def _bedroom(r):
    if r.p(0.97):
        bed = _bed(r)
        half = _extent(bed)[1][0]
        pose = r.on_wall(BED, bed, gap=r.u(0.0, 0.05), tries=40)
        for side in (-1, 1) if pose else ():
            if r.p(0.5):  # nightstand beside the bed, against the same wall
                ns = _other(r, "nightstand")
                at = pose[4] + side * (half + _extent(ns)[1][0] + 0.05)
                r.on_wall(OTHER, ns, wall=pose[3], at=at, gap=0.03, tries=1)
    if r.p(0.4):
        r.on_wall(CABINET, _cabinet(r), gap=r.u(0.02, 0.06))
    if r.p(0.45):
        _with_desk(r)
    if r.p(0.5):
        r.free(CHAIR, _chair(r))
    if r.p(0.12):
        r.on_wall(SOFA, _sofa(r, r.u(1.4, 2.0)), gap=0.05)
    if r.p(0.35):
        r.free(TABLE, _table(r, r.u(0.5, 1.0), r.u(0.5, 0.8), r.u(0.45, 0.75)))
    if r.p(0.1):
        r.on_wall(BOOKSHELF, _bookshelf(r), gap=0.03)


def _office(r):
    if r.p(0.9):
        for _ in range(r.rng.integers(1, 5)):
            _with_desk(r, 0.92)
    if r.p(0.5):
        _dining(r, style="plain")
    for _ in range(r.rng.integers(0, 3)):
        r.free(CHAIR, _chair(r, r.pick("office", "plain")))
    if r.p(0.4):
        r.on_wall(CABINET, _cabinet(r), gap=0.03)
    if r.p(0.35):
        for _ in range(r.rng.integers(1, 3)):
            r.on_wall(BOOKSHELF, _bookshelf(r), gap=0.03)
    if r.p(0.2):
        r.on_wall(SOFA, _sofa(r, r.u(1.5, 2.2)), gap=0.05)
    if r.p(0.06):
        r.on_wall(FRIDGE, _fridge(r), gap=0.05)


def _living_room(r):
    if r.p(0.95):
        pose = r.on_wall(SOFA, _sofa(r, r.u(1.6, 2.6)), gap=r.u(0.02, 0.15), tries=40)
        if pose and r.p(0.85):  # coffee table in front of the sofa
            c = np.array(pose[:2]) + _front(pose[2]) * r.u(0.95, 1.2)
            r.add(TABLE, _table(r, r.u(0.8, 1.3), r.u(0.5, 0.7), r.u(0.35, 0.5)), c[0], c[1], pose[2])
        if r.p(0.3):
            r.on_wall(SOFA, _sofa(r, r.u(1.4, 2.2)), gap=0.05)
    for _ in range(r.rng.integers(1, 3) if r.p(0.6) else 0):
        r.free(CHAIR, _chair(r, "arm"))
    if r.p(0.25):
        _dining(r)
    if r.p(0.3):
        r.on_wall(CABINET, _cabinet(r, tall=False), gap=0.03)
    if r.p(0.25):
        r.on_wall(BOOKSHELF, _bookshelf(r), gap=0.03)


def _bathroom(r):
    if r.p(0.55):
        tub = _bathtub(r)
        (x0, y0, _), (x1, _, h) = _extent(tub)
        pose = r.on_wall(BATHTUB, tub, at="corner", gap=0.0, tries=40)
        if pose and r.p(0.9):  # shower curtain hanging above the tub's front edge, partly drawn
            x1 = x0 + r.u(0.3, 0.9) * (x1 - x0)
            sheet = _sheet("shower", x0, x1, y0 + 0.03, h + 0.1, min(r.u(1.9, 2.1), r.H - 0.05), folds=5, amp=0.03)
            r.add(SHOWER_CURTAIN, sheet, pose[0], pose[1], pose[2], check=False)
    if r.p(0.95):
        r.on_wall(TOILET, _toilet(r), gap=r.u(0.01, 0.05), tries=40)
    if r.p(0.9):
        if r.p(0.65):  # vanity: cabinet, optional counter top, basin on top
            w, d, h = r.u(0.6, 1.2), r.u(0.45, 0.55), r.u(0.78, 0.86)
            cab = [_B(r.pick("wood", "white", "grey"), -w / 2, w / 2, -d / 2, d / 2, 0, h),
                   _B("metal", -0.05, 0.05, -d / 2 - 0.02, -d / 2, h - 0.15, h - 0.12)]
            pose = r.on_wall(CABINET, cab, gap=0.0, tries=40)
            if pose:
                x, y, yaw = pose[:3]
                if r.p(0.2):
                    top = [_B("stone", -w / 2 - 0.02, w / 2 + 0.02, -d / 2 - 0.02, d / 2, h, h + 0.03)]
                    r.add(COUNTER, top, x, y, yaw, check=False)
                    h += 0.03
                basin = _basin(r.pick("ceramic", "white"), 0, -0.04, min(0.5, w - 0.1), 0.38, h)
                r.add(SINK, basin, x, y, yaw, check=False)
        else:  # pedestal sink
            sink = [_Cy("ceramic", 0, -0.2, 0.09, 0, 0.72)] + _basin("ceramic", 0, -0.22, 0.5, 0.4, 0.72)
            r.on_wall(SINK, sink, gap=0.0, tries=40)
    if r.p(0.1):
        r.on_wall(CABINET, _cabinet(r, tall=True), gap=0.03)


def _kitchen(r):
    runs = 0
    for i in range(2):
        if not r.p(0.9 if i == 0 else 0.45):
            break
        L, d, h = r.u(1.5, 3.5), 0.62, r.u(0.86, 0.92)
        cm = r.pick("wood", "white", "grey", "wood")
        edges = np.linspace(-L / 2, L / 2, max(2, round(L / 0.6)) + 1)
        cab = [_B(cm, -L / 2, L / 2, -d / 2 + 0.05, d / 2, 0, h - 0.04)]
        for x0, x1 in zip(edges[:-1], edges[1:]):
            cab += [_B(cm, x0 + 0.004, x1 - 0.004, -d / 2 + 0.02, -d / 2 + 0.05, 0.1, h - 0.05),
                    _B("metal", (x0 + x1) / 2 - 0.05, (x0 + x1) / 2 + 0.05, -d / 2, -d / 2 + 0.02, h - 0.15, h - 0.12)]
        pose = r.on_wall(CABINET, cab, gap=0.0, tries=40)
        if pose is None:
            continue
        runs += 1
        x, y, yaw, k, t = pose
        r.add(COUNTER, [_B(r.pick("stone", "wood", "white"), -L / 2, L / 2, -d / 2, d / 2, h - 0.04, h)], x, y, yaw,
              check=False)
        c = r.pick(-1, 1) * L / 4  # sink in one half, an appliance (microwave) in the other
        if r.p(0.9 if i == 0 else 0.15):
            r.add(SINK, _basin(r.pick("metal", "ceramic"), c, -0.05, 0.55, 0.42, h, h=0.12), x, y, yaw, check=False)
        if r.p(0.5):
            box = [_B(r.pick("grey", "white", "metal"), -c - 0.25, -c + 0.25, -0.1, 0.28, h, h + 0.3)]
            r.add(OTHER, box, x, y, yaw, check=False)
        if r.p(0.6):  # wall cabinets above the run
            z0 = r.u(1.4, 1.5)
            z1 = min(r.H - 0.05, z0 + r.u(0.6, 0.8))
            upper = [_B(cm, -L / 2, L / 2, -0.35, 0.0, z0, z1)]
            upper += [_B(cm, a + 0.004, b - 0.004, -0.37, -0.35, z0 + 0.01, z1 - 0.01)
                      for a, b in zip(edges[:-1], edges[1:])]
            r.on_wall(CABINET, upper, wall=k, at=t, gap=0.0, tries=1)
    if r.p(0.85):
        r.on_wall(FRIDGE, _fridge(r), gap=r.u(0.02, 0.06), tries=40)
    if r.p(0.6):
        _dining(r, style="plain")
    elif r.p(0.25):
        r.free(CHAIR, _chair(r, "plain"))
    if r.p(0.15 if runs else 0.6):
        r.on_wall(CABINET, _cabinet(r), gap=0.03)


def _conference_room(r):
    _dining(r, style=None, big=True)
    if r.p(0.2):
        r.on_wall(CABINET, _cabinet(r), gap=0.03)
    if r.p(0.1):
        r.on_wall(SOFA, _sofa(r, r.u(1.5, 2.2)), gap=0.05)
    if r.p(0.1):
        r.on_wall(BOOKSHELF, _bookshelf(r), gap=0.03)


_PROGRAMS = {"bedroom": _bedroom, "office": _office, "living_room": _living_room, "bathroom": _bathroom,
             "kitchen": _kitchen, "conference_room": _conference_room}


def _build_room(rng, room_type, room_scale):
    lo, hi = _SIDE[room_type]
    W, D, H = rng.uniform(lo, hi) * room_scale, rng.uniform(lo, hi) * room_scale, rng.uniform(2.5, 3.0)
    floor = ("wood_floor", "carpet", "tile", "wood_floor")[rng.integers(4)]
    r = _Room(rng, W, D, H, "tile" if room_type in ("bathroom", "kitchen") else floor)
    p_door, p_window, p_curtain, p_picture, p_other = _OPENINGS[room_type]
    _openings(r, p_door, p_window, p_curtain)
    _PROGRAMS[room_type](r)
    for _ in range(r.rng.integers(1, 4) if r.p(p_picture) else 0):
        r.on_wall(PICTURE, _picture(r), clear=0.1, margin=0.1)
    for _ in range(r.rng.integers(1, 4) if r.p(p_other) else 0):
        if r.p(0.8):
            r.on_wall(OTHER, _other(r), gap=r.u(0.02, 0.3), tries=10)
        else:
            r.free(OTHER, _other(r))
    a = rng.uniform(0, 2 * np.pi)
    r.light = np.array([np.cos(a), np.sin(a), 1.5]) / np.sqrt(3.25)  # one light direction per room, from above
    return r


# --------------------------------------------------------------------------- scanning
def _trajectory(r, num_frames):
    """Camera-to-world poses on a jittered loop around the room centre.

    Frames cycle through looking outward at the walls, inward across the room (steeper, to see the
    floor and furniture in the middle) and outward but down (the floor and furniture along the
    walls), like a hand-held scan.
    """
    rng, c = r.rng, np.array([r.W / 2, r.D / 2])
    rad = np.array([r.W, r.D]) * rng.uniform(0.2, 0.35, 2)
    phi0, turn = rng.uniform(0, 2 * np.pi), rng.choice([-1, 1])
    poses = []
    for i in range(num_frames):
        phi = phi0 + turn * 2 * np.pi * i / num_frames + rng.normal(0, 0.1)
        pos = np.r_[c + rad * [np.cos(phi), np.sin(phi)], rng.uniform(1.2, 1.6)]
        tall = r.boxes[r.boxes[:, 5] > pos[2] - 0.1]  # keep the camera out of (and off) tall furniture
        for _ in range(8):
            inside = ((pos[:2] > tall[:, :2] - 0.3) & (pos[:2] < tall[:, 3:5] + 0.3)).all(1).any()
            if not inside:
                break
            pos[:2] = c + (pos[:2] - c) * 0.6
        kind = i % 3
        yaw = phi + np.pi * (kind == 1) + rng.normal(0, 0.35)
        pitch = rng.uniform(*((-0.15, 0.3), (0.45, 0.85), (0.5, 0.85))[kind])
        f = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), -np.sin(pitch)])
        right = np.cross(f, [0, 0, 1])
        right /= np.linalg.norm(right)
        down = np.cross(f, right)
        T = np.eye(4)
        T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = right, down, f, pos
        poses.append(T)
    return np.array(poses)


def _scan(r, num_frames, width, height, depth_noise, max_depth=6.0):
    """Ray-cast every frame; return frame arrays and, per valid hit, world point, colour, mesh id, camera."""
    rng = r.rng
    rc = o3d.t.geometry.RaycastingScene()
    for v, tris, *_ in r.meshes:
        rc.add_triangles(o3d.core.Tensor(v.astype(np.float32)), o3d.core.Tensor(tris))
    colors = np.array([m[4] for m in r.meshes], np.float32)
    poses = _trajectory(r, num_frames)
    f = 0.8 * width
    K = np.array([[f, 0, width / 2 - 0.5], [0, f, height / 2 - 0.5], [0, 0, 1]])
    u, v = np.meshgrid(np.arange(width), np.arange(height))
    d_cam = np.stack([(u - K[0, 2]) / f, (v - K[1, 2]) / f, np.ones_like(u, float)], -1).reshape(-1, 3)
    dirs = d_cam[None] @ poses[:, :3, :3].transpose(0, 2, 1)  # (V, HW, 3); z_cam = 1, so t_hit is the z-depth
    origins = np.broadcast_to(poses[:, None, :3, 3], dirs.shape)
    rays = np.concatenate([origins, dirs], -1).reshape(-1, 6).astype(np.float32)
    ans = rc.cast_rays(o3d.core.Tensor(rays))
    gid = ans["geometry_ids"].numpy().astype(np.int64)
    hit = gid != rc.INVALID_ID
    gid[~hit] = 0
    z0 = np.where(hit, ans["t_hit"].numpy().astype(np.float64), 0.0)
    z = z0 + rng.standard_normal(z0.shape) * depth_noise * z0 * z0  # noise grows with depth^2
    dirs, origins = dirs.reshape(-1, 3), origins.reshape(-1, 3)
    pts = origins + dirs * z[:, None]
    valid = hit & (z > 0.1) & (z <= max_depth) & (pts[:, 2] <= r.H)  # sensor range; nothing above the walls
    # Lambert shading with the face normal turned towards the camera, a per-frame exposure, sensor noise.
    n = ans["primitive_normals"].numpy()
    cosl = np.abs(n @ r.light)
    exposure = np.repeat(rng.uniform(0.9, 1.1, num_frames), width * height)
    rgb = colors[gid] * ((0.5 + 0.5 * cosl) * exposure)[:, None] + rng.normal(0, 6, (len(z), 3))
    rgb = np.where(hit[:, None], np.clip(rgb, 0, 255), 0)
    frames = io.Frames(color=rgb.reshape(num_frames, height, width, 3).astype(np.uint8),
                       depth=np.where(valid, z, 0).reshape(num_frames, height, width).astype(np.float32),
                       color_intrinsic=np.repeat(K[None], num_frames, 0).astype(np.float32),
                       depth_intrinsic=np.repeat(K[None], num_frames, 0).astype(np.float32),
                       pose=poses.astype(np.float32))
    true = origins[valid] + dirs[valid] * z0[valid, None]
    return frames, pts[valid], true, rgb[valid], gid[valid], origins[valid]


def _fuse(pts, true, rgb, gid, cams, voxel, num_geoms):
    """One point per voxel: mean position, colour and camera of its hits; the part seen most often.

    Hits go to the voxel of their noise-free position and their noisy positions are averaged,
    which is what TSDF fusion does to depth noise: surfaces stay one voxel thick, slightly rough.
    """
    key = np.floor(true / voxel).astype(np.int64)
    key -= key.min(0)
    dims = key.max(0) + 1
    key = (key[:, 0] * dims[1] + key[:, 1]) * dims[2] + key[:, 2]
    _, inv = np.unique(key, return_inverse=True)
    inv = inv.ravel()
    cnt = np.bincount(inv).astype(np.float64)
    mean = lambda a: np.stack([np.bincount(inv, a[:, k]) for k in range(a.shape[1])], 1) / cnt[:, None]
    pair, pc = np.unique(inv * num_geoms + gid, return_counts=True)
    order = np.lexsort((-pc, pair // num_geoms))  # per voxel, most frequent part first
    first = np.r_[True, np.diff(pair[order] // num_geoms) != 0]
    return mean(pts), mean(rgb), pair[order][first] % num_geoms, mean(cams)


def generate_scene(scene_id: str, room_type: str, split: str, seed: int, *, num_frames=20, width=320, height=240,
                   fusion_voxel=0.03, depth_noise=0.005, room_scale=1.0) -> io.Scene:
    """Build the room, ray-cast RGB-D frames, fuse them into the point cloud. Deterministic for a seed."""
    if room_type not in ROOM_TYPES:
        raise ValueError(f"unknown room type {room_type!r}; expected one of {', '.join(ROOM_TYPES)}")
    rng = np.random.default_rng(seed)
    r = _build_room(rng, room_type, room_scale)
    frames, pts, true, rgb, gid, cams = _scan(r, num_frames, width, height, depth_noise)
    coord, color, part, cam = _fuse(pts, true, rgb, gid, cams, fusion_voxel, len(r.meshes))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(coord))
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * fusion_voxel, max_nn=24))
    normal = np.asarray(pcd.normals)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    normal *= np.where(((cam - coord) * normal).sum(1) < 0, -1.0, 1.0)[:, None]  # towards the camera
    cls = np.array([m[2] for m in r.meshes])
    inst = np.array([m[3] for m in r.meshes])
    scene = io.Scene(scene_id=scene_id, dataset="synthetic", split=split, class_names=SCANNET20,
                     coord=coord.astype(np.float32), color=np.clip(np.round(color), 0, 255).astype(np.uint8),
                     normal=normal.astype(np.float32), label=cls[part].astype(np.int16),
                     instance=inst[part].astype(np.int32), frames=frames)
    scene.validate(scene_id)
    return scene
