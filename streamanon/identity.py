"""Synthetic identity seeds, derived from (salt, stream, track); one seeder per stream."""

from __future__ import annotations

import hashlib
import secrets


def new_salt() -> str:
    """A random salt: identities differ between runs unless the user fixes the salt."""
    return secrets.token_hex(16)


class IdentitySeeder:
    """Maps a stream's track ids to fixed 63-bit seeds. Holds no state beyond its inputs."""

    def __init__(self, salt: str, stream: str) -> None:
        self._prefix = f"streamanon-identity\x00{salt}\x00{stream}\x00".encode()

    def seed(self, track_id: int) -> int:
        digest = hashlib.blake2b(self._prefix + str(track_id).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") & ((1 << 63) - 1)
