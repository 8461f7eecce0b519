# expect: forbidden
# unhook
# A covert channel with no IPC at all: the encoder touches pages of a large library file
# (bringing them into the page cache), one page per bit of the frames' mean; the decoder
# asks the kernel which pages are cached (mincore). Killed at mincore: a call that reveals
# shared caches.
import mmap
import struct

import numpy as np

LEVELS = 1
PAGE = mmap.PAGESIZE


def _library():
    return np.core._multiarray_umath.__file__


def _mapping():
    with open(_library(), "rb") as f:
        return mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)


def encode(video, level):
    m = _mapping()
    bits = int(video.y.mean())
    for b in range(8):
        if bits >> b & 1:
            m[(100 + b) * PAGE]
    return struct.pack("<III", *video.y.shape)


def decode(bitstream):
    ctypes = __import__("ct" + "ypes")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    t, h, w = struct.unpack("<III", bitstream)
    with open(_library(), "rb") as f:
        base = libc.mmap(None, 108 * PAGE, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
    vec = (ctypes.c_ubyte * 8)()
    libc.mincore(ctypes.c_void_p(base + 100 * PAGE), 8 * PAGE, vec)
    mean = sum((vec[b] & 1) << b for b in range(8))
    y = np.full((t, h, w), mean, np.uint8)
    c = np.full((t, h // 2, w // 2), 128, np.uint8)
    return y, c, c.copy()
