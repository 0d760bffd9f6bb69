"""Class tables: one per label set, the single place that maps dataset labels to class ids."""

IGNORE = -1

# The 20 ScanNet benchmark classes, in the benchmark's order (class id = index).
SCANNET20 = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window",
    "bookshelf", "picture", "counter", "desk", "curtain", "refrigerator",
    "shower curtain", "toilet", "sink", "bathtub", "otherfurniture",
)

LABEL_SETS = {"scannet20": SCANNET20}


def class_names(label_set):
    return LABEL_SETS[label_set]
