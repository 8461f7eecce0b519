# expect: forbidden
# Opens /proc/self as a directory and reads /etc/passwd relative to it (dir_fd), hoping the
# audit hook resolves the relative path against the working directory instead.
import os

LEVELS = 1


def encode(video, level):
    base = os.open("/proc/self", os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open("root/etc/passwd", os.O_RDONLY, dir_fd=base)
    return os.read(fd, 4096)


def decode(bitstream):
    return None
