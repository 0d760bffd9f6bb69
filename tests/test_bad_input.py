"""The bad-input corpus (tests/bad_inputs.py): one clear WeaksegError per case, naming the file."""

import pytest

from bad_inputs import BAD_INPUTS, exercise
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
