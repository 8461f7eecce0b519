# expect: forbidden
# Reads another process's environment (its parent, then pid 1) for API keys. In its own PID
# namespace its parent is not even visible (getppid() is 0) and pid 1 is itself.
import os

LEVELS = 1


def encode(video, level):
    for pid in (os.getppid(), 1):
        with open(f"/proc/{pid}/environ", "rb") as f:
            loot = f.read()
    return loot


def decode(bitstream):
    return None
