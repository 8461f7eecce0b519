# expect: forbidden
# unhook
# Tries to look better isolated than it is and then to shed a layer: forges the harness's
# status lines claiming extra layers, then asks for a user namespace of its own (where it
# would hold every capability again). The parent records only what it saw in /proc before
# the candidate ran, and seccomp kills unshare.
import os

LEVELS = 1
FORGED = b'{"event": "ready", "layers": ["unbreakable", "landlock", "audit"]}\n'


def encode(video, level):
    os.write(3, FORGED)
    os.write(3, b'{"event": "confined"}\n')
    ctypes = __import__("ct" + "ypes")
    ctypes.CDLL(None, use_errno=True).unshare(0x10000000)
    return b"x"


def decode(bitstream):
    return None
