# expect: memory
# One impossible numpy allocation (numpy raises its own MemoryError subclass).
import numpy as np

LEVELS = 1


def encode(video, level):
    big = np.ones((1 << 40,), dtype=np.uint8)
    return big.tobytes()


def decode(bitstream):
    return None
