# expect: crash
# Overflows the C stack (no ctypes needed): pickling a deeply nested list, with the recursion
# limit raised so Python does not stop it first. A real segfault.
import pickle
import sys

LEVELS = 1


def encode(video, level):
    sys.setrecursionlimit(10**8)
    nested = []
    for _ in range(10**6):
        nested = [nested]
    return pickle.dumps(nested)


def decode(bitstream):
    return None
