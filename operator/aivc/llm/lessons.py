"""The planner's memory: a short, deduplicated list of lessons fed into every prompt.

Lessons are stored on each Experiment as one line (`[keep] ...` / `[avoid] ...`), so the
memory is rebuilt from history after a restart without calling the API. Near-identical
lessons (the same advice in other words) are merged rather than repeated, and the list is
bounded: when full, the lesson seen least often and longest ago goes first.

A review is stored the same way, as a `[review]` line beside the lesson of the experiment
whose learning triggered it (`review_line`, `parse_review_line`), so its verdict — which
steers the next designs — survives a restart too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

ADVICE = ("keep", "avoid", "note")
_PREFIX = re.compile(r"^\s*\[(keep|avoid|note)\]\s*", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9.+-]+")


@dataclass(frozen=True)
class Lesson:
    text: str
    advice: str  # keep | avoid | note
    seen: int = 1
    last_sequence: int = 0

    def line(self) -> str:
        """The one-line form stored in `Outcome.lesson`; `parse_lesson` reads it back."""
        return f"[{self.advice}] {self.text}"


def parse_lesson(line: str) -> tuple[str, str]:
    """`"[avoid] text"` → `("avoid", "text")`; a line without a tag is a `note`."""
    match = _PREFIX.match(line)
    advice = match.group(1).lower() if match else "note"
    text = " ".join(line[match.end():].split()) if match else " ".join(line.split())
    return advice, text


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def similar(a: str, b: str, threshold: float = 0.8) -> bool:
    """Near-identical: most words shared, or nearly the same character sequence."""
    wa, wb = _words(a), _words(b)
    if not wa or not wb:
        return False
    sa, sb = set(wa), set(wb)
    jaccard = len(sa & sb) / len(sa | sb)
    if jaccard >= threshold:
        return True
    return SequenceMatcher(None, " ".join(wa), " ".join(wb)).ratio() >= max(threshold, 0.85)


class LessonMemory:
    """Bounded and deduplicated; `render()` is what the prompts show."""

    def __init__(self, max_lessons: int = 24, threshold: float = 0.8) -> None:
        self.max_lessons = max_lessons
        self.threshold = threshold
        self._lessons: list[Lesson] = []

    def __len__(self) -> int:
        return len(self._lessons)

    @property
    def lessons(self) -> list[Lesson]:
        return list(self._lessons)

    def add(self, text: str, advice: str, sequence: int = 0) -> Lesson | None:
        """Store a lesson or merge it into its near-duplicate (the newer wording and advice win)."""
        text = " ".join(text.split())
        if not text:
            return None
        advice = advice if advice in ADVICE else "note"
        for i, old in enumerate(self._lessons):
            if similar(old.text, text, self.threshold):
                merged = replace(old, text=text, advice=advice, seen=old.seen + 1,
                                 last_sequence=max(old.last_sequence, sequence))
                self._lessons[i] = merged
                return merged
        lesson = Lesson(text=text, advice=advice, last_sequence=sequence)
        self._lessons.append(lesson)
        if len(self._lessons) > self.max_lessons:
            drop = min(self._lessons, key=lambda les: (les.seen, les.last_sequence))
            self._lessons.remove(drop)
        return lesson

    def add_line(self, line: str, sequence: int = 0) -> Lesson | None:
        advice, text = parse_lesson(line)
        return self.add(text, advice, sequence)

    def clear(self) -> None:
        self._lessons.clear()

    def render(self, limit: int | None = None) -> str:
        """The lessons, `keep` first; with `limit`, only the most often seen and newest."""
        if not self._lessons:
            return "(none yet)"
        chosen = self._lessons if limit is None else sorted(
            self._lessons, key=lambda les: (-les.seen, -les.last_sequence))[:limit]
        ordered = sorted(chosen, key=lambda les: (les.advice != "keep", les.advice))
        return "\n".join(f"- {les.line()}" + (f" (seen {les.seen}x)" if les.seen > 1 else "")
                         for les in ordered)


REVIEW_TAG = "[review]"
_IDEA = " | idea: "


def review_line(on_track: bool, question: str, idea: str | None) -> str:
    """`[review] off track: QUESTION | idea: IDEA`, one line."""
    verdict = "on track" if on_track else "off track"
    text = f"{REVIEW_TAG} {verdict}: {' '.join(question.split())}"
    return text + (f"{_IDEA}{' '.join(idea.split())}" if idea else "")


def parse_review_line(line: str) -> tuple[bool, str, str | None] | None:
    """(on_track, question, idea) from a `review_line`; None for any other line."""
    text = line.strip()
    if not text.startswith(REVIEW_TAG):
        return None
    verdict, _, rest = text[len(REVIEW_TAG):].strip().partition(":")
    question, _, idea = rest.partition(_IDEA)
    return verdict.strip() == "on track", question.strip(), idea.strip() or None
