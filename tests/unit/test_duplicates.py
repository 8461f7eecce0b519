"""Programs already tried are recognised: the same code however it is formatted or commented,
and the same bits on the validation clip from different code."""

from __future__ import annotations

import json

from aivc.evaluate.results import EvaluationResult, LevelResult
from aivc.research.duplicates import find_duplicate, fingerprint, same_bitstreams

CODE = '''"""A codec."""
import zlib

LEVELS = 2


def encode(video, level):
    """Pack it."""
    return zlib.compress(bytes(video.y), 9 - level)
'''


def test_comments_blank_lines_formatting_and_docstrings_do_not_make_a_new_program():
    noisy = ('# a comment\n"""Another docstring."""\nimport zlib\n\n\n\nLEVELS = (2)\n\n'
             'def encode(video, level):   # why not\n    return zlib.compress(bytes(video.y),'
             '\n                         9 - level)\n')
    assert fingerprint(noisy) == fingerprint(CODE)


def test_any_change_of_what_the_code_computes_is_a_new_program():
    assert fingerprint(CODE.replace("9 - level", "8 - level")) != fingerprint(CODE)
    assert fingerprint(CODE.replace("LEVELS = 2", "LEVELS = 3")) != fingerprint(CODE)


def test_an_unparsable_source_matches_only_itself_up_to_whitespace():
    broken = "def encode(:\n  pass"
    assert fingerprint(broken) == fingerprint("def encode(:\n\n  pass  ") != fingerprint(CODE)


def test_find_duplicate_names_the_first_known_program_it_repeats():
    known = [(fingerprint("X = 1\n"), "experiment #1"), (fingerprint(CODE), "experiment #2 (adopted as v1)")]
    assert find_duplicate(CODE + "\n# trailing note\n", known) == "experiment #2 (adopted as v1)"
    assert find_duplicate("X = 2\n", known) is None


def test_an_equal_validation_digest_names_the_first_earlier_experiment_and_none_matches_nothing():
    earlier = [("c-0001", "aa"), ("c-0002", None), ("c-0003", "bb"), ("c-0004", "bb")]
    assert same_bitstreams("bb", earlier) == "c-0003"
    assert same_bitstreams("cc", earlier) is None
    assert same_bitstreams(None, earlier) is None and same_bitstreams("", [("c-0002", "")]) is None


def _result(*shas: str) -> EvaluationResult:
    levels = [LevelResult(clip="clip", level=i, frames=4, bytes=10, kbps=1.0, psnr_y=30.0,
                          psnr_u=30.0, psnr_v=30.0, psnr_yuv=30.0, ssim_y=0.9, encode_seconds=0.0,
                          decode_seconds=0.0, bitstream_sha256=sha) for i, sha in enumerate(shas)]
    return EvaluationResult(mode="validate", codec_sha256="c", levels=levels)


def test_the_digest_covers_every_level_and_is_withheld_when_one_lacks_its_hash():
    assert _result("a", "b").bitstreams_digest() == _result("a", "b").bitstreams_digest() != ""
    assert _result("a", "b").bitstreams_digest() != _result("a", "c").bitstreams_digest()
    assert _result("a", "").bitstreams_digest() == "" and _result().bitstreams_digest() == ""
    summary = json.loads(_result("a", "b").summary())
    assert summary["bits"] == _result("a", "b").bitstreams_digest()[:32]
