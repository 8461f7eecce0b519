"""AIVC: an autonomous research system for video codecs.

An LLM (or, with no API key, a built-in search planner) proposes codec source code; the
sandbox measures it on real clips; the best versions are kept in git. See README.md.
"""

__version__ = "0.1.0"
