"""The results document every evaluation produces (DESIGN.md §4).

One schema serves the in-process evaluator, the sandbox (which prints it on stdout) and the
Kubernetes Job (whose compact `summary()` fits the pod's 4 KiB termination message). It
lives here rather than in `aivc.sandbox` so data flows one way (evaluate → sandbox →
research); `aivc.sandbox` re-exports it.

Error categories: `import`, `contract`, `timeout`, `memory`, `crash`, `mismatch`,
`forbidden` (DESIGN.md §4), plus `size` for a candidate source or bitstream over its cap.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1
ERROR_CATEGORIES = ("import", "contract", "timeout", "memory", "crash", "mismatch", "forbidden", "size")
SUMMARY_LIMIT_BYTES = 4096
MESSAGE_LIMIT = 600
"""Error messages handed on are cut to this (head and tail), so they fit the summary."""


@dataclass
class LevelResult:
    """Measured by the trusted side from the bitstream file and the decoded planes.

    Times are the parent's clock and include the candidate's import: `decode_seconds` is one
    fresh decode process's import plus its decode, `encode_seconds` this level's encode
    plus an equal share of the import of the one process that encoded every level of the
    clip. The import parts are recorded on their own too (`*_import_seconds`), so work a
    candidate moves into its module body is counted, and visible.
    """

    clip: str
    level: int
    frames: int
    bytes: int
    kbps: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    ssim_y: float
    encode_seconds: float
    decode_seconds: float
    encode_import_seconds: float = 0.0
    """The share of `encode_seconds` spent importing (libraries and the module body)."""
    decode_import_seconds: float = 0.0
    """The part of `decode_seconds` spent importing."""
    redecoded: bool = False
    """Decoded twice, in two fresh processes, with identical planes (the determinism check)."""
    bitstream_sha256: str = ""
    """SHA-256 of the bitstream file, so a candidate that writes the very bits an earlier one
    wrote is recognised (`EvaluationResult.bitstreams_digest`)."""


@dataclass
class ErrorRecord:
    """Why a candidate failed, short enough to hand to a planner for repair."""

    category: str
    message: str
    stage: str = ""  # import | validate | encode | decode | check
    clip: str = ""
    level: int = -1

    def __post_init__(self) -> None:
        if self.category not in ERROR_CATEGORIES:
            raise ValueError(f"unknown error category {self.category!r}")
        self.message = excerpt(self.message)

    def describe(self) -> str:
        """Where and what, as the planner and people read it; the same text whether it came
        from a local run or a pod's termination message (which keeps `MESSAGE_LIMIT`)."""
        level = "" if self.level < 0 else f"level {self.level}"
        where = " ".join(p for p in (self.stage, self.clip, level) if p)
        message = excerpt(self.message, MESSAGE_LIMIT)
        return f"{where}: {message}" if where else message


@dataclass
class ClipInfo:
    name: str
    width: int
    height: int
    frames: int
    fps: float


@dataclass
class EvaluationResult:
    """Everything one validation or evaluation run measured."""

    mode: str  # validate | evaluate
    codec_sha256: str
    levels_declared: int = 0
    clips: list[ClipInfo] = field(default_factory=list)
    levels: list[LevelResult] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    wall_seconds: float = 0.0
    sandbox: dict[str, Any] = field(default_factory=dict)
    """The isolation this result was measured under, as the parent saw it from outside:
    `mode` (root, user or pod), `layers` (seen in /proc in every process), `reported`
    (claimed by the harness before any candidate code ran: Landlock, the audit hook),
    `missing` (required but absent) and `weakerAccepted`."""
    schema: int = SCHEMA_VERSION

    @property
    def ok(self) -> bool:
        return not self.errors

    def first_error(self) -> ErrorRecord | None:
        return self.errors[0] if self.errors else None

    def for_clip(self, clip: str) -> list[LevelResult]:
        return sorted((r for r in self.levels if r.clip == clip), key=lambda r: r.level)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvaluationResult:
        return cls(
            mode=d["mode"],
            codec_sha256=d["codec_sha256"],
            levels_declared=d.get("levels_declared", 0),
            clips=[ClipInfo(**c) for c in d.get("clips", [])],
            levels=[LevelResult(**r) for r in d.get("levels", [])],
            errors=[ErrorRecord(**e) for e in d.get("errors", [])],
            wall_seconds=d.get("wall_seconds", 0.0),
            sandbox=dict(d.get("sandbox") or {}),
            schema=d.get("schema", SCHEMA_VERSION),
        )

    def merge(self, other: EvaluationResult) -> EvaluationResult:
        """One result from two runs of the same codec on other clips or levels (a cascade:
        a cheap first stage, then the rest). Levels measured twice, a different codec or a
        different LEVELS are refused; the sandbox record keeps the weaker of the two."""
        if other.codec_sha256 != self.codec_sha256:
            raise ValueError("cannot merge results of different codecs")
        if self.levels_declared and other.levels_declared \
                and self.levels_declared != other.levels_declared:
            raise ValueError(f"LEVELS differ: {self.levels_declared} and {other.levels_declared}")
        seen = {(r.clip, r.level) for r in self.levels}
        twice = sorted(f"{r.clip} level {r.level}" for r in other.levels if (r.clip, r.level) in seen)
        if twice:
            raise ValueError(f"measured in both results: {', '.join(twice)}")
        names = {c.name for c in self.clips}
        merged = EvaluationResult(
            mode=self.mode if self.mode == other.mode else "evaluate",
            codec_sha256=self.codec_sha256,
            levels_declared=self.levels_declared or other.levels_declared,
            clips=[*self.clips, *(c for c in other.clips if c.name not in names)],
            levels=[*self.levels, *other.levels], errors=[*self.errors, *other.errors],
            wall_seconds=self.wall_seconds + other.wall_seconds,
            sandbox=merge_sandbox(self.sandbox, other.sandbox))
        order = {c.name: i for i, c in enumerate(merged.clips)}
        merged.levels.sort(key=lambda r: (order.get(r.clip, len(order)), r.level))
        return merged

    @classmethod
    def from_json(cls, text: str) -> EvaluationResult:
        return cls.from_dict(json.loads(text))

    def bitstreams_digest(self) -> str:
        """One SHA-256 over every (clip, level, bitstream SHA-256) measured, or "" when there
        is none or one level lacks its hash: equal digests mean identical bitstreams."""
        if not self.levels or any(not r.bitstream_sha256 for r in self.levels):
            return ""
        lines = sorted(f"{r.clip}\t{r.level}\t{r.bitstream_sha256}" for r in self.levels)
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def summary(self) -> str:
        """A compact JSON under 4 KiB: the clips, and per clip and level the rate and every
        quality the score needs (so a lost pod log still leaves a scorable result); the first
        error. Rows are [clip index, level, kbps, PSNR-Y, PSNR-U, PSNR-V, PSNR-YUV, SSIM-Y]."""
        index = {c.name: i for i, c in enumerate(self.clips)}
        rows = [[index.get(r.clip, -1), r.level, round(r.kbps, 2), round(r.psnr_y, 3),
                 round(r.psnr_u, 3), round(r.psnr_v, 3), round(r.psnr_yuv, 3), round(r.ssim_y, 4)]
                for r in self.levels]
        err = self.first_error()
        doc: dict[str, Any] = {
            "schema": self.schema, "mode": self.mode, "ok": self.ok,
            "sha": self.codec_sha256[:16],
            "bits": self.bitstreams_digest()[:32],
            "clips": [[c.name, c.width, c.height, c.frames, round(c.fps, 4)] for c in self.clips],
            "rows": rows,
            "error": None if err is None else {
                "category": err.category, "stage": err.stage, "clip": err.clip, "level": err.level,
                "message": excerpt(err.message, MESSAGE_LIMIT)},
            "wall": round(self.wall_seconds, 2),
            "sandbox": {"mode": self.sandbox.get("mode"), "missing": self.sandbox.get("missing", [])},
        }
        text = json.dumps(doc, separators=(",", ":"))
        while len(text.encode()) > SUMMARY_LIMIT_BYTES and doc["rows"]:
            doc["rows"] = doc["rows"][:-1]
            doc["truncated"] = True
            text = json.dumps(doc, separators=(",", ":"))
        return text


def merge_sandbox(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The isolation two runs had in common: layers both had, anything either missed."""
    if not a or not b:
        return dict(a or b)
    return {"mode": a.get("mode") if a.get("mode") == b.get("mode") else "mixed",
            "layers": [x for x in a.get("layers", []) if x in b.get("layers", [])],
            "reported": [x for x in a.get("reported", []) if x in b.get("reported", [])],
            "missing": sorted({*a.get("missing", []), *b.get("missing", [])}),
            "weakerAccepted": bool(a.get("weakerAccepted") or b.get("weakerAccepted"))}


def excerpt(text: str, limit: int = 1500) -> str:
    """Keep the head and the tail of a long error: the tail usually names the cause."""
    text = text.strip()
    if len(text) <= limit:
        return text
    half = limit // 2 - 10
    return text[:half] + "\n[...]\n" + text[-half:]
