"""Errors a user can act on.

Anything raised as `AivcError` reaches the terminal as one clear line (no traceback): a
missing clip, an unreadable file, a codec that breaks the contract, a bad manifest.
"""


class AivcError(Exception):
    """A problem with the user's input or environment, reported as one line."""


class ContractError(AivcError):
    """A codec, video or manifest does not meet its documented contract."""
