"""The codec contract (DESIGN.md §3), the reference codecs and the search space."""

from aivc.codec.contract import Video, check_video

__all__ = ["Video", "check_video"]
