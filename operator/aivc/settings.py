"""Process-wide settings, read from the environment once at start-up.

This is the only module that reads `os.environ` (STYLE.md). Each concern is a small frozen
dataclass; `load()` builds them all. Modules receive the piece they need as an argument.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("AIVC_CACHE_DIR") or Path(base) / "aivc")


def _baked_clips() -> Path | None:
    value = os.environ.get("AIVC_CLIPS_DIR")
    return Path(value) if value else None


@dataclass(frozen=True)
class PathSettings:
    cache_dir: Path = field(default_factory=_default_cache)
    """Decoded clips and anchor curves are cached here (keyed by content and settings)."""
    clips_dir: Path | None = field(default_factory=_baked_clips)
    """AIVC_CLIPS_DIR: built-in clips decoded at image build time (the sandbox image has no
    ffmpeg); `aivc.evaluate.clips.bake_builtin_clips` writes it."""


@dataclass(frozen=True)
class LLMSettings:
    api_key: str | None = None
    """Anthropic API key from ANTHROPIC_API_KEY, or read from ANTHROPIC_API_KEY_FILE."""
    base_url: str | None = None
    """ANTHROPIC_BASE_URL: another endpoint speaking the Messages API (tests, proxies)."""

    def __repr__(self) -> str:  # never print the key
        return f"LLMSettings(api_key={'set' if self.api_key else 'unset'}, base_url={self.base_url!r})"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SandboxSettings:
    accept_weaker: bool = field(default_factory=lambda: _flag("AIVC_SANDBOX_ACCEPT_WEAKER"))
    """AIVC_SANDBOX_ACCEPT_WEAKER=1: run candidates even where a required isolation layer is
    missing (the results record what was missing); by default the sandbox refuses."""


@dataclass(frozen=True)
class BenchSettings:
    campaign_experiments: int = field(
        default_factory=lambda: int(os.environ.get("AIVC_BENCH_EXPERIMENTS") or 20))
    """AIVC_BENCH_EXPERIMENTS: experiments per run of the bench's campaign section."""
    hybrid_designs: int = field(
        default_factory=lambda: int(os.environ.get("AIVC_BENCH_HYBRID_DESIGNS") or 2))
    """AIVC_BENCH_HYBRID_DESIGNS: LLM programs per campaign of the bench's hybrid section."""
    hybrid_search: int = field(
        default_factory=lambda: int(os.environ.get("AIVC_BENCH_HYBRID_SEARCH") or 4))
    """AIVC_BENCH_HYBRID_SEARCH: the hybrid's search experiments per program there."""


@dataclass(frozen=True)
class Settings:
    paths: PathSettings = field(default_factory=PathSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    bench: BenchSettings = field(default_factory=BenchSettings)


def _read_key() -> str | None:
    key = os.environ.get("ANTHROPIC_API_KEY")
    if key:
        return key.strip()
    path = os.environ.get("ANTHROPIC_API_KEY_FILE")
    if path and Path(path).is_file():
        return Path(path).read_text().strip() or None
    return None


def load() -> Settings:
    return Settings(
        paths=PathSettings(),
        llm=LLMSettings(api_key=_read_key(), base_url=os.environ.get("ANTHROPIC_BASE_URL")),
        sandbox=SandboxSettings(),
    )
