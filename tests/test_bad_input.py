"""The bad-input corpus (tests/bad_inputs.py): one clear WeaksegError per case, naming the file."""

import random
import shutil

import pytest

from bad_inputs import BAD_INPUTS, exercise
from tiny_sources import pointcept_scene, ply_folder_root, s3dis_root, scannet_root
from weakseg.errors import WeaksegError


@pytest.mark.parametrize("build, phrase", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_gives_one_message_naming_the_file_and_the_problem(tmp_path, build, phrase):
    settings, path = build(tmp_path)
    with pytest.raises(WeaksegError) as caught:
        exercise(settings)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    assert phrase in message, message
    assert "\n" not in message and "Traceback" not in message


def test_the_corpus_covers_each_case_once():
    names = [case[0] for case in BAD_INPUTS]
    assert len(names) == len(set(names))


def _layouts(root):
    """One tiny source per reader type, as (settings, folder holding every file the reader reads)."""
    ply, _ = ply_folder_root(root / "ply" / "scans")
    (root / "ply" / "tags.csv").write_text("scene_id,tags\noffice_1,chair\n")
    pointcept_scene(root / "pointcept" / "scene_a")
    return [({"type": "scannet", "root": str(scannet_root(root / "scannet", frames=True)), "frames": True, "frame_stride": 1},
             root / "scannet"),
            ({"type": "s3dis", "root": str(s3dis_root(root / "s3dis"))}, root / "s3dis"),
            ({"type": "scannet_pointcept", "root": str(root / "pointcept")}, root / "pointcept"),
            ({"type": "ply_folder", "root": str(ply), "tags_csv": str(root / "ply" / "tags.csv")}, root / "ply")]


def test_randomly_damaged_sources_give_weakseg_errors_only(tmp_path):
    """Truncate, overwrite or insert random bytes in one file of a tiny source: a clean load or one WeaksegError."""
    rng = random.Random(0)
    layouts = _layouts(tmp_path / "clean")
    for trial in range(400):
        settings, folder = layouts[trial % len(layouts)]
        work = tmp_path / f"trial{trial}"
        shutil.copytree(folder, work)
        settings = {k: v.replace(str(folder), str(work)) if isinstance(v, str) else v for k, v in settings.items()}
        victim = rng.choice(sorted(p for p in work.rglob("*") if p.is_file()))
        data = bytearray(victim.read_bytes())
        at = rng.randrange(len(data) + 1)
        if trial % 3 == 0:
            data = data[:at]
        elif trial % 3 == 1 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        else:
            data[at:at] = bytes([rng.randrange(256)])
        victim.write_bytes(bytes(data))
        try:
            exercise(settings)
        except WeaksegError:
            pass
        shutil.rmtree(work)
