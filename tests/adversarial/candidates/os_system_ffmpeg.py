# expect: forbidden
# Shells out to ffmpeg to do the real compression.
import os

LEVELS = 1


def encode(video, level):
    os.system("ffmpeg -f rawvideo -s 64x48 -i source.yuv -c:v libx264 out.mp4")
    with open("out.mp4", "rb") as f:
        return f.read()


def decode(bitstream):
    return None
