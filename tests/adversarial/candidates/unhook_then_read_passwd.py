# expect: crash
# unhook
# Takes the audit hook out (numpy raw memory), imports ctypes, then reads /etc/passwd. The
# hook would have said `forbidden`; without it the kernel refuses (the file is not in the
# view, and Landlock denies it): a crash, with the hook provably gone.
LEVELS = 1


def encode(video, level):
    __import__("ct" + "ypes")  # the hook would stop this import
    with open("/etc/passwd", "rb") as f:
        return f.read()


def decode(bitstream):
    return None
