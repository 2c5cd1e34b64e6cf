"""Election names, identities and metadata: validated once, at the edge."""

from __future__ import annotations

import os
import re
import secrets
import socket

from .errors import ConfigError

_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
NAME_RULE = "[A-Za-z0-9._-]{1,128}, not '.' or '..'"
MAX_METADATA = 1024
MAX_IDENTITY = 256


def validate_name(name: object) -> str:
    """Return ``name`` if it is a valid election name, else raise ``ConfigError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(f"invalid election name {name!r}: must match {NAME_RULE}")
    return name


def default_identity() -> str:
    """Where this process runs: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def validate_identity(identity: object) -> str:
    """A caller's identity, or the default one; printable and short."""
    if identity is None:
        return default_identity()
    if not isinstance(identity, str):
        raise ConfigError(f"identity must be a string or None, got {type(identity).__name__}")
    if not identity or len(identity) > MAX_IDENTITY or not identity.isprintable():
        raise ConfigError(
            f"identity must be 1..{MAX_IDENTITY} printable characters (no control characters, "
            f"tabs, newlines or lone surrogates), got {identity!r}"
        )
    return identity


def validate_metadata(metadata: object) -> str:
    """The short string published with leadership ('' when absent); printable, valid UTF-8."""
    if metadata is None:
        return ""
    if not isinstance(metadata, str):
        raise ConfigError(f"metadata must be a string or None, got {type(metadata).__name__}")
    if not metadata.isprintable():  # also refuses lone surrogates, which cannot be encoded
        raise ConfigError(
            "metadata must be printable characters (no control characters, tabs, newlines or "
            f"lone surrogates), got {metadata!r}"
        )
    if len(metadata.encode()) > MAX_METADATA:
        raise ConfigError(f"metadata must be at most {MAX_METADATA} bytes in UTF-8")
    return metadata
