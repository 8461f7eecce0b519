# expect: forbidden
# unhook
# The same through a System V message queue: the encoder posts the frames' mean, the decoder
# picks it up. Killed at msgget.
import struct

import numpy as np

LEVELS = 1
KEY = 0x41495644


def _libc():
    ctypes = __import__("ct" + "ypes")
    return ctypes, ctypes.CDLL(None, use_errno=True)


def encode(video, level):
    ctypes, libc = _libc()
    q = libc.msgget(KEY, 0o1666)
    msg = struct.pack("<qd", 1, float(video.y.mean()))
    libc.msgsnd(q, msg, 8, 0)
    return struct.pack("<III", *video.y.shape)


def decode(bitstream):
    ctypes, libc = _libc()
    t, h, w = struct.unpack("<III", bitstream)
    buf = ctypes.create_string_buffer(16)
    libc.msgrcv(libc.msgget(KEY, 0), buf, 8, 0, 0)
    mean = struct.unpack("<qd", buf.raw)[1]
    y = np.full((t, h, w), mean, np.uint8)
    c = np.full((t, h // 2, w // 2), 128, np.uint8)
    return y, c, c.copy()
