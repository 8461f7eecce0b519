"""Clips, metrics, rate–distortion maths, anchors and the results schema."""
