# expect: forbidden
# Opens a network socket, importing the module by a computed name to dodge the source scan.
import importlib

LEVELS = 1


def encode(video, level):
    sock = importlib.import_module("so" + "cket")
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.connect(("1.1.1.1", 80))
    return b"x"


def decode(bitstream):
    return None
