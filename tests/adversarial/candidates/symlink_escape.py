# expect: forbidden
# Plants a symlink to a host file in its working directory, then reads through it.
import os

LEVELS = 1


def encode(video, level):
    os.symlink("/etc/shadow", "innocent.txt")
    with open("innocent.txt", "rb") as f:
        return f.read()


def decode(bitstream):
    return None
