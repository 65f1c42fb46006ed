"""Machine-readable provenance (EU AI Act Art. 50): per-frame SEI, container tags, sidecar
manifest, optional C2PA signing, optional visible label, and :func:`verify` to read it back.

Imports are lazy so ``import streamanon.provenance`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["VerifyReport", "verify", "draw_label", "sei_nal", "insert_sei", "read_records",
           "frame_payload", "read_manifest"]

_WHERE = {
    "VerifyReport": ".verify", "verify": ".verify", "draw_label": ".label",
    "sei_nal": ".sei", "insert_sei": ".sei", "read_records": ".sei",
    "frame_payload": ".manifest", "read_manifest": ".c2pa_sign",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
