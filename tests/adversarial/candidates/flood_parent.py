# expect: forbidden
# unhook
# Tries to exhaust the trusted parent's memory: 256 MiB on stdout, 256 MiB on stderr, then
# an endless stream of well-formed lines on the harness's status channel (fd 3). The parent
# keeps a bounded tail of the output and kills a child that floods its status channel.
import os

LEVELS = 1


def encode(video, level):
    block = b"x" * (1 << 20)
    for fd in (1, 2):
        for _ in range(256):
            os.write(fd, block)
    line = b'{"event": "start", "level": 0}\n' * 4096
    while True:
        os.write(3, line)


def decode(bitstream):
    return None
