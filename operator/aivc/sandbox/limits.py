"""Per-process limits for candidate code, with defaults sized for one evaluation.

Every encode or decode of one clip at one level runs in its own process under these
limits; `validate_codec` uses the same ones on a tiny clip. They travel to the child as
JSON, so the trusted parent and the child agree on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class SandboxLimits:
    """What one candidate process may use before it is stopped."""

    wall_seconds: float = 120.0
    """Wall-clock time of one encode or decode process; past it the process group is killed."""
    cpu_seconds: int = 240
    """CPU time of one process, all its threads together (RLIMIT_CPU): SIGXCPU, then SIGKILL."""
    address_space_bytes: int = 6 * GIB
    """Virtual memory of one process (RLIMIT_AS); torch alone maps about 0.7 GiB."""
    max_processes: int = 128
    """Tasks (threads included) of the sandbox user (RLIMIT_NPROC, only once dropped to it)."""
    max_file_bytes: int = 1 * GIB
    """Largest file a process may write (RLIMIT_FSIZE): SIGXFSZ beyond it."""
    max_open_files: int = 256
    """Open file descriptors (RLIMIT_NOFILE)."""
    max_bitstream_bytes: int = 256 * MIB
    """Largest bitstream accepted from an encoder; more is a `size` error."""
    max_source_bytes: int = 512 * 1024
    """Largest candidate source file; embedded tables beyond it are a `size` error."""
    parallel: int = 0
    """Processes run side by side (0: one per CPU core); each gets cores // parallel threads."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value < 0 or (value == 0 and f.name != "parallel"):
                raise ValueError(f"SandboxLimits.{f.name} must be positive, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SandboxLimits:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
