# expect: forbidden
# Wraps OpenCV's JPEG encoder (caught by the source scan before anything runs).
import cv2
import numpy as np

LEVELS = 1


def encode(video, level):
    ok, buf = cv2.imencode(".jpg", video.y[0])
    return buf.tobytes()


def decode(bitstream):
    return cv2.imdecode(np.frombuffer(bitstream, np.uint8), 0)
