# expect: forbidden
# Finds _posixsubprocess (its fork_exec is not audited) through a module that imported
# subprocess before the hook (scipy does), and runs ffmpeg in a bounded loop; the seccomp
# filter kills the process at the clone() syscall.
import os
import sys

import scipy  # allowed, and it loads subprocess

LEVELS = 1


def find_fork_exec():
    for mod in list(sys.modules.values()):
        for value in list(vars(mod).values()):
            fork_exec = getattr(value, "_fork_exec", None)  # subprocess keeps it as a global
            if fork_exec is not None:
                return fork_exec
    raise RuntimeError("no _posixsubprocess reachable")


def encode(video, level):
    fork_exec = find_fork_exec()
    argv = [b"/usr/bin/ffmpeg", b"-version"]
    for _ in range(100):
        r, w = os.pipe()
        fork_exec(argv, argv[:1], True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w,
                  False, False, -1, None, None, None, -1, None, False)
    return b"x"


def decode(bitstream):
    return None
