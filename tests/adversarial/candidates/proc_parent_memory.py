# expect: forbidden
# Reads its parent's memory through /proc, where the source frames live.
import os

LEVELS = 1


def encode(video, level):
    with open(f"/proc/{os.getppid()}/mem", "rb") as f:
        return f.read(4096)


def decode(bitstream):
    return None
