"""Per-buffer provenance metas: the JSON a file's SEI carries, attached to GStreamer buffers.

Each anonymized buffer gets two metas with the same compact JSON (``frame_payload``):

- ``GstVideoSEIUserDataUnregisteredMeta`` (GStreamer's own, 1.22+), UUID
  :data:`streamanon.PROJECT_UUID`: what SEI-aware elements understand; encoders copy it to
  the encoded buffer, and ``streamanonsei`` writes it into H.264/H.265 as an SEI NAL.
- A custom meta named :data:`CUSTOM_META` whose structure has one string field ``json``:
  readable from Python probes without ctypes,
  ``buf.get_custom_meta(CUSTOM_META).get_structure().get_value("json")``.

GStreamer 1.22's introspection data cannot pass the SEI meta's UUID array or byte data
(no array annotations), and structures returned by ``GstCustomMeta`` are copies in Python,
so both are written through ctypes on the ``GstBuffer*`` (``hash(buffer)`` is the pointer
in PyGObject). Reading the SEI meta also goes through ctypes (:func:`read_payloads`).
"""

from __future__ import annotations

import ctypes
import json
import uuid
from functools import lru_cache
from typing import Any

from .. import PROJECT_UUID
from ..errors import StreamanonError

CUSTOM_META = "StreamanonProvenanceMeta"
"""Name of the custom meta (``gst_buffer_get_custom_meta``); its structure field is ``json``."""
UUID_BYTES = uuid.UUID(PROJECT_UUID).bytes
_G_TYPE_STRING = 16 << 2


class _MetaHeader(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint), ("info", ctypes.c_void_p)]


class _SeiMeta(ctypes.Structure):
    """``GstVideoSEIUserDataUnregisteredMeta`` as laid out in gstvideosei.h (1.22)."""

    _fields_ = [("meta", _MetaHeader), ("uuid", ctypes.c_uint8 * 16),
                ("data", ctypes.POINTER(ctypes.c_uint8)), ("size", ctypes.c_size_t)]


class _Libs:
    def __init__(self) -> None:
        try:
            self.gst = ctypes.CDLL("libgstreamer-1.0.so.0")
            self.video = ctypes.CDLL("libgstvideo-1.0.so.0")
        except OSError as exc:
            raise StreamanonError(f"GStreamer libraries not found ({exc}); install GStreamer 1.22+ "
                                  "(Debian: gstreamer1.0-plugins-base)") from None
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        self._sig(self.video.gst_buffer_add_video_sei_user_data_unregistered_meta, vp, [vp, cp, cp, ctypes.c_size_t])
        self._sig(self.video.gst_video_sei_user_data_unregistered_meta_api_get_type, ctypes.c_size_t, [])
        self._sig(self.gst.gst_buffer_iterate_meta_filtered, vp, [vp, ctypes.POINTER(vp), ctypes.c_size_t])
        self._sig(self.gst.gst_buffer_add_custom_meta, vp, [vp, cp])
        self._sig(self.gst.gst_custom_meta_get_structure, vp, [vp])
        self._sig(self.gst.gst_mini_object_is_writable, ctypes.c_int, [vp])
        self.gst.gst_structure_set.restype = None  # variadic: argtypes stay open
        self.sei_api = self.video.gst_video_sei_user_data_unregistered_meta_api_get_type()

    @staticmethod
    def _sig(fn: Any, restype: Any, argtypes: list) -> None:
        fn.restype, fn.argtypes = restype, argtypes


@lru_cache(maxsize=1)
def _libs() -> _Libs:
    return _Libs()


def register_custom_meta() -> None:
    """Register :data:`CUSTOM_META` in this process (idempotent; needs ``Gst.init``)."""
    from gi.repository import Gst

    if Gst.meta_get_info(CUSTOM_META) is None:
        Gst.meta_register_custom(CUSTOM_META, [], None, None)


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """The JSON exactly as :func:`streamanon.provenance.sei.sei_nal` writes it."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def attach(buffer: Any, payload: dict[str, Any]) -> None:
    """Add both provenance metas to a writable ``Gst.Buffer``."""
    libs = _libs()
    data = payload_bytes(payload)
    ptr = hash(buffer)  # PyGObject: the GstBuffer* of a boxed Gst.Buffer
    meta = libs.video.gst_buffer_add_video_sei_user_data_unregistered_meta(ptr, UUID_BYTES, data, len(data))
    if not meta:
        raise RuntimeError("gst_buffer_add_video_sei_user_data_unregistered_meta failed (buffer not writable?)")
    custom = libs.gst.gst_buffer_add_custom_meta(ptr, CUSTOM_META.encode())
    if custom:
        structure = libs.gst.gst_custom_meta_get_structure(custom)
        libs.gst.gst_structure_set(ctypes.c_void_p(structure), b"json", ctypes.c_size_t(_G_TYPE_STRING),
                                   ctypes.c_char_p(data), ctypes.c_void_p(None))


def is_writable(buffer: Any) -> bool:
    """``gst_buffer_is_writable`` (not in the 1.22 bindings, and PyGObject's wrapper does not count)."""
    return bool(_libs().gst.gst_mini_object_is_writable(hash(buffer)))


def read_payloads(buffer: Any) -> list[dict[str, Any]]:
    """streamanon JSON payloads of every ``GstVideoSEIUserDataUnregisteredMeta`` on ``buffer``."""
    libs = _libs()
    ptr = hash(buffer)
    state = ctypes.c_void_p(None)
    out = []
    while True:
        meta = libs.gst.gst_buffer_iterate_meta_filtered(ptr, ctypes.byref(state), libs.sei_api)
        if not meta:
            return out
        sei = ctypes.cast(meta, ctypes.POINTER(_SeiMeta)).contents
        if bytes(sei.uuid) == UUID_BYTES and sei.size:
            out.append(json.loads(ctypes.string_at(sei.data, sei.size).decode()))


def read_custom_payload(buffer: Any) -> dict[str, Any] | None:
    """The payload of the :data:`CUSTOM_META` of ``buffer`` (pure introspection, no ctypes)."""
    meta = buffer.get_custom_meta(CUSTOM_META)
    if meta is None:
        return None
    text = meta.get_structure().get_value("json")
    return json.loads(text) if text else None
