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
