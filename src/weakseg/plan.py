"""Which scenes a dataset has. Pure Python (no numpy), so the Snakefile can import it cheaply."""

ROOM_TYPES = ("bedroom", "office", "living_room", "bathroom", "kitchen", "conference_room")
# Share of each room type; with the generator's per-type presence probabilities it gives
# ScanNet-like scene-presence frequencies per class (MPRM's table of class presence).
ROOM_MIX = (0.20, 0.20, 0.17, 0.17, 0.15, 0.11)


def room_sequence(count):
    """The first `count` room types of one fixed sequence that keeps every prefix as close to
    ROOM_MIX as possible (largest deficit next). The first six are all different, and a longer
    split extends a shorter one instead of reshuffling it."""
    made = [0] * len(ROOM_TYPES)
    types = []
    for i in range(count):
        k = max(range(len(ROOM_TYPES)), key=lambda t: ROOM_MIX[t] * (i + 1) - made[t])
        made[k] += 1
        types.append(ROOM_TYPES[k])
    return types


def synthetic_plan(num_train, num_val, seed):
    """scene id -> {"room_type", "split", "seed"} for the synthetic dataset.

    Train and validation scenes are numbered separately and a scene's seed depends only on
    (seed, split, index), so adding scenes leaves the existing ones unchanged (and cached).
    """
    plan = {}
    for split, count, base in (("train", num_train, 0), ("val", num_val, 500_000)):
        for i, room_type in enumerate(room_sequence(count)):
            plan[f"synth_{split}_{i:04d}"] = {
                "room_type": room_type,
                "split": split,
                "seed": (seed * 1_000_003 + base + i) % 2**31,
            }
    return plan
