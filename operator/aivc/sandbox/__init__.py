"""Runs untrusted codec code: separate encode and decode processes, limits, result JSON.

Every candidate is written by an LLM, so it may loop, hoard memory, read secrets, phone
home, or cheat (decode from the source instead of the bitstream, smuggle state from encoder
to decoder, wrap an off-the-shelf encoder). Two rules answer both risks:

1. **Nothing the candidate says is a number.** Each clip × level is a round trip of fresh
   processes (`roundtrip`): the encoder gets a new empty working directory holding only the
   source frames; the parent copies ``bitstream.bin`` out (its *file size* is the rate) and
   deletes that directory; two decoders, each in a new directory holding only the bitstream,
   write raw planes (``.npy``) that the parent reads back itself (dtype, shape and frame count
   must match the source exactly, and the two decodes must be identical, else `mismatch`)
   and measures with `aivc.evaluate.quality`. Encode/decode seconds are the parent's own
   clock, from the child's ``start`` line to its exit.
2. **The candidate runs behind layers, each enough for some attacks, together for all.**
   In the child (`child`, `confine`), in this order, before the candidate is imported:

   - as root: a fresh network namespace (only a down loopback), a private mount namespace
     with a chroot holding only the interpreter and library roots (read-only), /proc, four
     device files and the working directory (`fsview`); /tmp, /dev/shm, /root, the
     repository and the built-in clips are not there; then the drop to uid/gid 65534;
   - resource limits: RLIMIT_AS, CPU, FSIZE, NOFILE, CORE=0, and NPROC once dropped
     (`SandboxLimits`); the parent kills the whole process group at the wall limit;
   - the libraries the candidate imports (found with `ast`, `policy`) are imported now,
     while loading native code is still allowed;
   - a seccomp filter (`seccomp`): no fork/exec/sockets/namespaces/ptrace, for every thread;
   - Landlock (`landlock`): the kernel's path allowlist, read-only libraries, read-write
     working directory, no TCP, no signals or abstract sockets outside the sandbox;
   - a CPython audit hook (`hook`): stops, with `forbidden`, sockets, processes, ctypes,
     heap walking, signals, links, chdir, imports of denied modules (codecs, process and
     network modules), writes outside the working directory and reads outside it and the
     library roots. It cannot be removed from Python, and it calls only functions it
     captured, so monkey-patching modules cannot steer it.

Error categories (DESIGN.md §4): wall or CPU limit → `timeout`; MemoryError / RLIMIT_AS →
`memory`; the hook, a SIGSYS from seccomp, or a forbidden import in the source →
`forbidden`; an exception, a signal, `sys.exit` or `os._exit` → `crash`; wrong LEVELS or
return types → `contract`; unparsable source or a failing import → `import`; decoded output
unlike the source or non-deterministic → `mismatch`; source, bitstream or a written file over
its cap → `size`. Each carries a short excerpt (the candidate's own frames of the traceback,
or the tail of its output) for the planner to repair from. Candidate misbehaviour never
raises; a failure of the sandbox itself raises `HarnessError`.

**Without root** (a developer's account, or the Kubernetes pod, which runs as 65534) the
namespace, chroot and uid layers are skipped; rlimits (NPROC excepted: it would count all of
the user's processes), seccomp, Landlock (Linux 5.13+, else skipped) and the audit hook
remain, and the pod's own limits and NetworkPolicy stand behind them. The child reports the
layers it applied (`ChildRun.layers`).

Speed: levels run side by side (`SandboxLimits.parallel`, default one per core, each child
with cores // parallel threads). A child starts in about 0.2–0.3 s (interpreter, numpy,
confinement); torch adds about 2 s per process when a candidate imports it.

Entry points: `validate_codec` (import, contract, first and last level on a 64×48×4
synthetic clip, decoded twice), `evaluate_codec` (every clip × level), and
``python -m aivc.sandbox validate|evaluate`` for the Kubernetes Jobs. The results schema
lives in `aivc.evaluate.results` and is re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.sandbox.limits import SandboxLimits

if TYPE_CHECKING:
    from aivc.sandbox.evaluation import evaluate_codec, validate_codec
    from aivc.sandbox.process import HarnessError

_LAZY = {"evaluate_codec": "evaluation", "validate_codec": "evaluation",
         "HarnessError": "process"}

__all__ = ["ClipInfo", "ErrorRecord", "EvaluationResult", "HarnessError", "LevelResult",
           "SandboxLimits", "evaluate_codec", "validate_codec"]


def __getattr__(name: str) -> Any:
    """The runners load on first use, so the child process (a submodule) starts lean."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"aivc.sandbox.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'aivc.sandbox' has no attribute {name!r}")
