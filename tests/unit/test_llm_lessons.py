"""The lessons memory stays short: near-duplicates merge, and it never grows past its bound."""

from __future__ import annotations

from aivc.llm.lessons import LessonMemory, parse_lesson, similar


def test_a_reworded_lesson_merges_into_the_one_it_repeats():
    memory = LessonMemory()
    memory.add("Using an 8x8 DCT instead of 4x4 lowered BD-rate by 6%.", "keep", 1)
    merged = memory.add("using an 8x8 DCT instead of the 4x4 lowered the BD-rate by 6%", "keep", 4)
    assert len(memory) == 1
    assert merged is not None and merged.seen == 2 and merged.last_sequence == 4


def test_different_lessons_are_kept_apart():
    memory = LessonMemory()
    memory.add("An 8x8 DCT beat 4x4 blocks by 6% BD-rate.", "keep")
    memory.add("A deblocking filter cost 2 dB at low rates; avoid strong filtering.", "avoid")
    memory.add("Chroma QP offset +6 saved 9% bits with no PSNR-Y loss.", "keep")
    assert len(memory) == 3
    assert not similar("Chroma QP offset +6 saved bits", "Luma QP offset -2 cost bits")


def test_newer_advice_wins_when_a_lesson_is_repeated_with_the_opposite_verdict():
    memory = LessonMemory()
    memory.add("Motion search range 16 helps on bikes", "keep", 1)
    memory.add("motion search range 16 helps on bikes.", "avoid", 2)
    assert [les.advice for les in memory.lessons] == ["avoid"]


def test_the_memory_is_bounded_and_drops_the_least_seen_oldest_lesson_first():
    memory = LessonMemory(max_lessons=3)
    memory.add("alpha lesson about quantisation matrices", "keep", 1)
    memory.add("beta lesson about motion vectors", "keep", 2)
    memory.add("alpha lesson about quantisation matrices!", "keep", 3)  # seen twice now
    memory.add("gamma lesson about entropy contexts", "avoid", 4)
    memory.add("delta lesson about loop filters", "keep", 5)
    texts = [les.text for les in memory.lessons]
    assert len(texts) == 3
    assert not any("beta" in t for t in texts)
    assert any("alpha" in t for t in texts)


def test_lesson_lines_round_trip_through_the_stored_form():
    memory = LessonMemory()
    stored = memory.add("Zig-zag  scan plus run-length saves 4%", "keep")
    assert stored is not None and stored.line() == "[keep] Zig-zag scan plus run-length saves 4%"
    assert parse_lesson(stored.line()) == ("keep", "Zig-zag scan plus run-length saves 4%")
    assert parse_lesson("[AVOID] x") == ("avoid", "x")
    assert parse_lesson("plain text") == ("note", "plain text")


def test_rendering_lists_keep_lessons_first_and_says_when_there_are_none():
    memory = LessonMemory()
    assert memory.render() == "(none yet)"
    memory.add("strong deblocking blurs texture", "avoid")
    memory.add("adaptive quantisation by block variance helps", "keep")
    lines = memory.render().splitlines()
    assert lines[0].startswith("- [keep]") and lines[1].startswith("- [avoid]")
