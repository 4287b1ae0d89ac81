"""Counter-based randomness keyed by (seed, stage, row id, epoch) and a per-row counter.

A 64-bit key per row, mixed with a counter (e.g. 4 x token index + stream) through splitmix64, gives
uniforms that depend only on those values: results do not change with batch size, shards or the order of
other rows, and a whole batch is drawn with a few numpy operations instead of a generator per row.
"""

from __future__ import annotations

import hashlib

import numpy as np

_M1, _M2, _GOLDEN = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def uniform(key: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Uniforms in [0, 1) from (key, counter) pairs, 53 bits each."""
    bits = _mix(key + counter.astype(np.uint64) * _GOLDEN)
    return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def row_keys(ids: list[str], seed: int, epoch: int, stage: str = "switch") -> np.ndarray:
    """The 64-bit random key of each row: a stable hash of (seed, stage, row id, epoch)."""
    salt = int.from_bytes(hashlib.blake2b(f"cstool.{stage}".encode(), digest_size=8).digest(), "little")
    base = _mix(np.array([(seed * 0x9E3779B1 + salt + epoch * 0x632BE5AB) % (1 << 64)], dtype=np.uint64))
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(i.encode(), digest_size=8).digest() for i in ids])
    h = np.frombuffer(digests, dtype="<u8").astype(np.uint64)  # each digest read as a little-endian integer
    return _mix(h ^ base)


def keyed_rng(seed: int, *key: object) -> np.random.Generator:
    """A numpy generator determined by ``seed`` and a key (e.g. the stage and task name)."""
    digest = hashlib.blake2b(repr((seed,) + key).encode(), digest_size=16).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest, "little")))
