# expect: forbidden
# Tries to switch the audit hook off, then reads a file outside the sandbox.
import sys

LEVELS = 1


def encode(video, level):
    sys.audit = lambda *args: None  # has no effect on hooks already installed
    for name, mod in list(sys.modules.items()):
        if name.startswith("aivc.sandbox"):
            for attr in ("install", "_make_hook", "DENIED_EVENTS", "PROCESS_EVENTS"):
                if hasattr(mod, attr):
                    setattr(mod, attr, None)
    gc = __import__("gc")
    for obj in gc.get_objects():  # hunting for the hook function itself
        if callable(obj) and getattr(obj, "__name__", "") == "hook":
            obj.__code__ = (lambda event, args: None).__code__
    with open("/etc/passwd", "rb") as f:
        return f.read()


def decode(bitstream):
    return None
