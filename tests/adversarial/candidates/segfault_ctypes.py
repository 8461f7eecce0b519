# expect: forbidden
# Dereferences a null pointer through ctypes (imported by a computed name).
import importlib

LEVELS = 1


def encode(video, level):
    ct = importlib.import_module("ct" + "ypes")
    ct.string_at(0)
    return b"x"


def decode(bitstream):
    return None
