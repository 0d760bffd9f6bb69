"""Class tables: one per label set, the single place that maps dataset labels to class ids."""

IGNORE = -1

# The 20 ScanNet benchmark classes, in the benchmark's order (class id = index).
SCANNET20 = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
    "bookshelf", "picture", "counter", "desk", "curtain", "refrigerator",
    "shower curtain", "toilet", "sink", "bathtub", "otherfurniture",
)

# The NYU40 ids of the 20 benchmark classes, in the same order; every other NYU40 id is ignored.
SCANNET20_NYU40_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
NYU40_TO_SCANNET20 = {nyu40: index for index, nyu40 in enumerate(SCANNET20_NYU40_IDS)}

# The 13 S3DIS classes, in the usual order (class id = index).
S3DIS13 = (
    "ceiling", "floor", "wall", "beam", "column", "window", "door",
    "table", "chair", "sofa", "bookcase", "board", "clutter",
)
# Annotation file prefix (`<class>_<k>.txt`) -> class id. A few rooms have `stairs_<k>.txt`, a 14th
# name outside the 13 classes; it maps to clutter, as the usual S3DIS preprocessing does.
S3DIS_FILE_CLASS = {name: index for index, name in enumerate(S3DIS13)} | {"stairs": S3DIS13.index("clutter")}

LABEL_SETS = {"scannet20": SCANNET20, "s3dis13": S3DIS13}


def class_names(label_set):
    return LABEL_SETS[label_set]


# Colours (RGB 0-255), one per class in the order of its table, for coloured exports and legends.
# ScanNet's benchmark palette (create_color_palette in the ScanNet repository's util.py), taken at
# the NYU40 ids of the 20 classes.
SCANNET20_COLORS = (
    (174, 199, 232), (152, 223, 138), (31, 119, 180), (255, 187, 120), (188, 189, 34),
    (140, 86, 75), (255, 152, 150), (214, 39, 40), (197, 176, 213), (148, 103, 189),
    (196, 156, 148), (23, 190, 207), (247, 182, 210), (219, 219, 141), (255, 127, 14),
    (158, 218, 229), (44, 160, 44), (112, 128, 144), (227, 119, 194), (82, 84, 163),
)
# The S3DIS palette of PointNet's indoor3d_util.py (g_class2color), which later S3DIS work reuses.
S3DIS13_COLORS = (
    (0, 255, 0), (0, 0, 255), (0, 255, 255), (255, 255, 0), (255, 0, 255), (100, 100, 255),
    (200, 200, 100), (170, 120, 200), (255, 0, 0), (200, 100, 100), (10, 200, 100),
    (200, 200, 200), (50, 50, 50),
)
PALETTES = {"scannet20": SCANNET20_COLORS, "s3dis13": S3DIS13_COLORS}
# Points without a label (-1): black, as ScanNet's palette draws its unannotated id 0; no class
# colour of either palette is black.
UNLABELLED_COLOR = (0, 0, 0)


def palette(names):
    """The colours of a class table, given its class names (a scene's or a metrics file's), or
    None for a table that is none of LABEL_SETS."""
    for label_set, table in LABEL_SETS.items():
        if tuple(names) == table:
            return PALETTES[label_set]
    return None
