"""AES-CCM with a 4-byte tag, the cipher BTHome v2 and the ATC/pvvx firmwares use.

``cryptography`` is imported on first use so that listing plugins works without it. Cipher
objects are cached per key (a gateway has at most a few hundred keyed devices; the cache
holds 256 so a key schedule is not rebuilt per packet).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from edgerun_ble.decoders.base import AuthenticationFailed

TAG_LENGTH = 4
KEY_LENGTH = 16


@lru_cache(maxsize=256)
def _cipher(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    return AESCCM(key, tag_length=TAG_LENGTH)


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, tag: bytes, aad: bytes | None) -> bytes:
    """Decrypt and authenticate; raises :class:`AuthenticationFailed` on a bad tag or key."""
    if len(key) != KEY_LENGTH:
        raise AuthenticationFailed(f"bindkey must be {KEY_LENGTH} bytes, got {len(key)}")
    from cryptography.exceptions import InvalidTag

    try:
        return bytes(_cipher(key).decrypt(nonce, ciphertext + tag, aad))
    except InvalidTag:
        raise AuthenticationFailed(
            "authentication failed: wrong bindkey or corrupted frame"
        ) from None


def encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes | None) -> tuple[bytes, bytes]:
    """Encrypt (for tests and simulators); returns ``(ciphertext, tag)``."""
    sealed = bytes(_cipher(key).encrypt(nonce, plaintext, aad))
    return sealed[:-TAG_LENGTH], sealed[-TAG_LENGTH:]
