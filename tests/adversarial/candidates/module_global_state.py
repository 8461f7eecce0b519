# expect: crash
# Keeps the frames in a module global during encode and hands them back in decode; the
# decoder runs in a fresh process, so the cache is empty there.
LEVELS = 1
_CACHE = {}


def encode(video, level):
    _CACHE["frames"] = (video.y, video.u, video.v)
    return b"x"


def decode(bitstream):
    return _CACHE["frames"]
