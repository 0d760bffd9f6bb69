"""Which scenes a dataset has. Pure Python (no numpy), so the Snakefile can import it cheaply."""

ROOM_TYPES = ("bedroom", "office", "living_room", "bathroom", "kitchen", "conference_room")


def synthetic_plan(num_train, num_val, seed):
    """scene id -> {"room_type", "split", "seed"} for the synthetic dataset.

    Train and validation scenes are numbered separately and each scene's seed depends only on
    (seed, split, index), so adding scenes leaves the existing ones unchanged (and cached).
    Room types cycle so that every type appears in both splits when the counts allow.
    """
    plan = {}
    for split, count, offset in (("train", num_train, 0), ("val", num_val, 3)):
        for i in range(count):
            plan[f"synth_{split}_{i:04d}"] = {
                "room_type": ROOM_TYPES[(i + offset) % len(ROOM_TYPES)],
                "split": split,
                "seed": (seed * 1_000_003 + (0 if split == "train" else 500_000) + i) % 2**31,
            }
    return plan
