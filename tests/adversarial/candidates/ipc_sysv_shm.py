# expect: forbidden
# unhook
# The attack that passed the old sandbox: with the audit hook gone, the encoder puts the
# whole source in a System V shared-memory segment and the decoder reads it back, from a
# 16-byte bitstream. seccomp kills shmget; the IPC namespace would hide the segment anyway.
import struct

import numpy as np

LEVELS = 1
KEY = 0x41495643


def _libc():
    ctypes = __import__("ct" + "ypes")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    return ctypes, libc


def encode(video, level):
    ctypes, libc = _libc()
    data = b"".join(p.tobytes() for p in (video.y, video.u, video.v))
    shm = libc.shmget(KEY, len(data), 0o1666)
    ctypes.memmove(libc.shmat(shm, None, 0), data, len(data))
    return struct.pack("<IIII", *video.y.shape, len(data))


def decode(bitstream):
    ctypes, libc = _libc()
    t, h, w, n = struct.unpack("<IIII", bitstream)
    raw = np.frombuffer(ctypes.string_at(libc.shmat(libc.shmget(KEY, n, 0), None, 0), n), np.uint8)
    c = t * (h // 2) * (w // 2)
    y, u, v = raw[:t * h * w], raw[t * h * w:t * h * w + c], raw[t * h * w + c:]
    return y.reshape(t, h, w), u.reshape(t, h // 2, w // 2), v.reshape(t, h // 2, w // 2)
