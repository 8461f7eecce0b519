"""Programs already tried are recognised: the same code however it is formatted or commented,
and (once the sandbox records bitstream hashes) the same bits from different code."""

from __future__ import annotations

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


def test_identical_bitstreams_on_every_level_make_a_duplicate_and_a_partial_record_does_not():
    mine = {("carphone:8", 0): "aa", ("carphone:8", 1): "bb"}
    earlier = [("c-0001", {("carphone:8", 0): "aa", ("carphone:8", 1): "cc"}),
               ("c-0002", {("carphone:8", 0): "aa"}),
               ("c-0003", {("carphone:8", 0): "aa", ("carphone:8", 1): "bb", ("bikes", 0): "dd"})]
    assert same_bitstreams(mine, earlier) == "c-0003"
    assert same_bitstreams(mine, earlier[:2]) is None
    assert same_bitstreams({}, earlier) is None
