# expect: forbidden
# Finds an already-loaded socket module through another module and opens a socket with it.
import sys

LEVELS = 1


def encode(video, level):
    sock = None
    for mod in list(sys.modules.values()):
        sock = getattr(mod, "socket", None)
        if sock is not None and hasattr(sock, "AF_INET"):
            break
    if sock is None:
        sock = __import__("_soc" + "ket")
    s = sock.socket(sock.AF_INET, sock.SOCK_STREAM)
    s.connect(("1.1.1.1", 80))
    return b"x"


def decode(bitstream):
    return None
