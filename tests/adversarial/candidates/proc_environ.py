# expect: crash
# Reads another process's environment (pid 1, then its parent) for API keys. In its own PID
# namespace it is pid 1 itself and has no visible parent: it finds nothing and fails.
import os

LEVELS = 1


def encode(video, level):
    for pid in (1, os.getppid()):
        with open(f"/proc/{pid}/environ", "rb") as f:
            loot = f.read()
    return loot


def decode(bitstream):
    return None
