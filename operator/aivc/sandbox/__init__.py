"""Runs untrusted codec code: separate encode and decode processes, limits, result JSON.

Every candidate is written by an LLM, so it may loop, hoard memory, read secrets, phone
home, or cheat (decode from the source instead of the bitstream, smuggle state from encoder
to decoder, wrap an off-the-shelf encoder). The threat model and the layers per mode (as
root, as a normal user, in a Kubernetes pod) are in docs/sandbox.md. In short:

1. **Nothing the candidate says is a number.** One process encodes every asked level of a
   clip (`steps.encode_clip`); the parent copies each bitstream out (its *file size* is the
   rate). Each level is decoded by a fresh process holding only that bitstream
   (`steps.decode_level`), twice for the determinism check (`redecode`: every level, or a
   level per clip the candidate cannot predict). The parent reads the planes back, checks
   their format, and measures them with `aivc.evaluate.quality`. Times are the parent's
   clock and include the candidate's import (`watch.Watch`).
2. **Only kernel-enforced layers are boundaries**, and the parent checks them. The child
   (`child`, `confine`) enters namespaces (`namespaces`: mount, network, IPC, UTS, PID, and
   a user namespace without root), builds a read-only view with a capped tmpfs working
   directory (`fsview`), drops privileges, sets rlimits, imports the libraries it needs,
   then adds seccomp (`seccomp`), Landlock (`landlock`) and the audit hook (`hook`, early
   clear errors only: a candidate can remove it). Then it waits: the parent reads its real
   state from /proc (`layers`) and lets it go on, or refuses to run without the layers its
   mode requires unless a weaker sandbox was accepted (`SandboxLimits.accept_weaker`). The
   results record what the parent saw (`EvaluationResult.sandbox`).
3. **The parent is bounded** whatever the child writes (`watch`, `steps`).

Error categories (DESIGN.md §4): wall or CPU limit → `timeout`; MemoryError / RLIMIT_AS →
`memory`; the hook, a SIGSYS from seccomp, a forbidden import in the source, or a flood of
the status channel → `forbidden`; an exception, a signal, `sys.exit` or `os._exit` →
`crash`; wrong LEVELS or return types → `contract`; unparsable source or a failing import →
`import`; decoded output unlike the source or non-deterministic → `mismatch`; source,
bitstream, a file or the working directory over its cap → `size`. Each carries a short
excerpt for the planner to repair from. Candidate misbehaviour never raises; a failure of
the sandbox itself raises `HarnessError`, and missing required layers `SandboxUnavailable`.

Speed: processes run side by side (`SandboxLimits.parallel`, default one per core, each
with cores // parallel threads). A child starts in about 0.3 s (interpreter, namespaces,
numpy, the parent's check); torch adds about 2 s per process when a candidate imports it.

Entry points: `validate_codec` (import, contract, first and last level on a 64×48×4
synthetic clip, decoded twice), `evaluate_codec` (clips × levels, any subset; results
of several calls join with `EvaluationResult.merge`), and ``python -m aivc.sandbox
validate|evaluate|encode|decode|measure`` (the last three are a sandbox pod's steps,
`podsteps`). The results schema lives in `aivc.evaluate.results` and is re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aivc.evaluate.results import ClipInfo, ErrorRecord, EvaluationResult, LevelResult
from aivc.sandbox.limits import SandboxLimits

if TYPE_CHECKING:
    from aivc.sandbox.evaluation import evaluate_codec, validate_codec
    from aivc.sandbox.process import HarnessError, SandboxUnavailable

_LAZY = {"evaluate_codec": "evaluation", "validate_codec": "evaluation",
         "HarnessError": "process", "SandboxUnavailable": "process"}

__all__ = ["ClipInfo", "ErrorRecord", "EvaluationResult", "HarnessError", "LevelResult",
           "SandboxLimits", "SandboxUnavailable", "evaluate_codec", "validate_codec"]


def __getattr__(name: str) -> Any:
    """The runners load on first use, so the child process (a submodule) starts lean."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"aivc.sandbox.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'aivc.sandbox' has no attribute {name!r}")
