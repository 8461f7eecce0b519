"""Per-process limits and the sandbox profile, with defaults sized for one evaluation.

Every encode (all levels of one clip) and every decode (one level) runs in its own process
under these limits; `validate_codec` uses the same ones on a tiny clip. They travel to the
child as JSON, so the trusted parent and the child agree on them, and the parent checks the
child's real limits from /proc before the candidate runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MIB = 1 << 20
GIB = 1 << 30
_SWITCHES = ("accept_weaker", "gpu", "pod")


@dataclass(frozen=True)
class SandboxLimits:
    """What one candidate process may use before it is stopped, and under which profile."""

    wall_seconds: float = 120.0
    """Wall-clock time per level of one process (an encode of n levels gets n times this);
    past it the process group is killed."""
    cpu_seconds: int = 240
    """CPU time per level of one process, all its threads together (RLIMIT_CPU)."""
    address_space_bytes: int = 6 * GIB
    """Virtual memory of one process (RLIMIT_AS); torch alone maps about 0.7 GiB. Not set
    under the GPU profile, where the pod's memory limit does this job."""
    max_processes: int = 128
    """Tasks (threads included) of the sandbox user (RLIMIT_NPROC, where the child has a user
    of its own: dropped to nobody as root, or in its user namespace)."""
    max_file_bytes: int = 1 * GIB
    """Largest file a process may write (RLIMIT_FSIZE)."""
    max_written_bytes: int = 2 * GIB
    """All files of one process together: its working directory is a tmpfs of this size."""
    max_open_files: int = 256
    """Open file descriptors (RLIMIT_NOFILE)."""
    max_bitstream_bytes: int = 256 * MIB
    """Largest bitstream accepted from an encoder; more is a `size` error."""
    max_source_bytes: int = 512 * 1024
    """Largest candidate source file; embedded tables beyond it are a `size` error."""
    parallel: int = 0
    """Processes run side by side (0: one per CPU core); each gets cores // parallel threads."""
    accept_weaker: bool = False
    """Run even where a required layer is missing (recorded in the results); by default the
    sandbox refuses and names what is missing."""
    gpu: bool = False
    """GPU profile: the NVIDIA device nodes are reachable and RLIMIT_AS is not set (it breaks
    the CUDA runtime). Memory is then the pod's limit, so outside a pod it needs
    `accept_weaker`."""
    pod: bool = False
    """Inside a sandbox pod (`aivc.kube.jobs`): the pod's containers keep the steps apart and
    its limits and NetworkPolicy stand behind the process, so namespaces are used where the
    runtime allows them but not required."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _SWITCHES:
                if type(value) is not bool:
                    raise ValueError(f"SandboxLimits.{f.name} must be true or false, got {value!r}")
            elif value < 0 or (value == 0 and f.name != "parallel"):
                raise ValueError(f"SandboxLimits.{f.name} must be positive, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SandboxLimits:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def parse(cls, pairs: list[str], **base: Any) -> SandboxLimits:
        """Fields from ``NAME=VALUE`` strings (numbers, or true/false for the switches)."""
        types = {f.name: f.type for f in fields(cls)}
        values = dict(base)
        for pair in pairs:
            name, sep, text = pair.partition("=")
            if not sep or name not in types:
                raise ValueError(f"{pair!r}: expected NAME=VALUE with NAME one of {', '.join(types)}")
            values[name] = _value(name, types[name], text)
        return cls(**values)

    def scaled(self, levels: int) -> SandboxLimits:
        """The limits of a process that does the work of `levels` levels."""
        n = max(1, levels)
        return _replace(self, wall_seconds=self.wall_seconds * n, cpu_seconds=self.cpu_seconds * n)


def _value(name: str, kind: Any, text: str) -> Any:
    if name in _SWITCHES:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}={text!r}: expected true or false")
    try:
        return float(text) if kind in (float, "float") else int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: {text!r} is not a number") from None


def _replace(limits: SandboxLimits, **changes: Any) -> SandboxLimits:
    return SandboxLimits(**{**limits.to_dict(), **changes})
