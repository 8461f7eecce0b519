# expect: timeout
# Eight threads spin; CPU time adds up across threads, so RLIMIT_CPU ends it.
import threading

LEVELS = 1


def spin():
    while True:
        pass


def encode(video, level):
    workers = [threading.Thread(target=spin, daemon=True) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return b""


def decode(bitstream):
    return None
