"""H.264 / H.265 SEI ``user_data_unregistered`` (payload type 5) carrying streamanon records.

Writing: :func:`sei_nal` builds one complete NAL unit (header, SEI message, emulation
prevention, RBSP trailing bits) and :func:`insert_sei` puts it, with a 4-byte start code,
in front of the first picture NAL of an Annex B access unit. libx264 and libx265 hand
PyAV Annex B packets (start codes) even for MP4/MKV; the muxer converts them to
length-prefixed NAL units (AVCC/HVCC) on write.

Reading: :func:`iter_nals` splits either layout and :func:`read_records` returns the JSON
payloads whose UUID is ours. Packets are parsed directly because x264's own SEI on the
first frame hides later SEI messages from FFmpeg's side-data export.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

from .. import PROJECT_UUID
from ..errors import ProvenanceError

PAYLOAD_USER_DATA_UNREGISTERED = 5
H264_SEI = 6
HEVC_PREFIX_SEI = 39
UUID_BYTES = uuid.UUID(PROJECT_UUID).bytes
START_CODE = b"\x00\x00\x00\x01"


def nal_type(codec: str, nal: bytes) -> int:
    """NAL unit type from the header byte(s)."""
    if not nal:
        return -1
    return (nal[0] >> 1) & 0x3F if _is_hevc(codec) else nal[0] & 0x1F


def is_picture(codec: str, nal: bytes) -> bool:
    """True for a VCL NAL unit (a coded slice)."""
    kind = nal_type(codec, nal)
    return 0 <= kind <= 31 if _is_hevc(codec) else 1 <= kind <= 5


def _is_hevc(codec: str) -> bool:
    return codec in ("hevc", "h265", "libx265")


def add_emulation_prevention(rbsp: bytes) -> bytes:
    """Insert 0x03 after every two zero bytes that precede a byte <= 3."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def remove_emulation_prevention(ebsp: bytes) -> bytes:
    """Drop the 0x03 that follows every two zero bytes."""
    out = bytearray()
    zeros = 0
    for byte in ebsp:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _ff_coded(value: int) -> bytes:
    """SEI payload type / size coding: 0xFF for every full 255, then the rest."""
    return b"\xff" * (value // 255) + bytes([value % 255])


def sei_nal(codec: str, payload: dict[str, Any]) -> bytes:
    """One SEI NAL unit (no start code) carrying ``payload`` as compact JSON."""
    body = UUID_BYTES + json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    message = _ff_coded(PAYLOAD_USER_DATA_UNREGISTERED) + _ff_coded(len(body)) + body
    rbsp = message + b"\x80"  # rbsp_stop_one_bit and alignment
    header = bytes([HEVC_PREFIX_SEI << 1, 0x01]) if _is_hevc(codec) else bytes([H264_SEI])
    return header + add_emulation_prevention(rbsp)


def split_annexb(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every NAL unit payload in an Annex B buffer (start codes excluded)."""
    starts = []
    i, n = 0, len(data)
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        starts.append((j, j + 3))
        i = j + 3
    spans = []
    for k, (code_at, begin) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n
        while end > begin and data[end - 1] == 0:  # the next 4-byte start code's zero, trailing zeros
            end -= 1
        spans.append((begin, end))
    return spans


def insert_sei(codec: str, packet: bytes, nal: bytes) -> bytes:
    """Annex B ``packet`` with ``nal`` (plus a start code) just before its first picture NAL."""
    i = 0
    while (j := packet.find(b"\x00\x00\x01", i)) >= 0:
        begin = j + 3
        if is_picture(codec, packet[begin:begin + 2]):
            at = j - 1 if j > 0 and packet[j - 1] == 0 else j  # keep a 4-byte start code together
            return packet[:at] + START_CODE + nal + packet[at:]
        i = begin
    raise ProvenanceError(f"{codec} packet of {len(packet)} bytes: expected a picture NAL unit, got none")


def length_size(codec: str, extradata: bytes | None) -> int | None:
    """NAL length field size from avcC / hvcC extradata; None when the stream is Annex B."""
    if not extradata or extradata[:3] == b"\x00\x00\x01" or extradata[:4] == START_CODE:
        return None
    if _is_hevc(codec):
        return (extradata[21] & 3) + 1 if len(extradata) > 22 else 4
    return (extradata[4] & 3) + 1 if len(extradata) > 4 else 4


def iter_nals(packet: bytes, size: int | None) -> Iterator[bytes]:
    """NAL units of one packet: length-prefixed when ``size`` is given, else Annex B."""
    if size is None or packet[:4] == START_CODE or packet[:3] == b"\x00\x00\x01":
        for begin, end in split_annexb(packet):
            yield packet[begin:end]
        return
    i = 0
    while i + size <= len(packet):
        length = int.from_bytes(packet[i:i + size], "big")
        i += size
        yield packet[i:i + length]
        i += length


def _read_ff_coded(rbsp: bytes, i: int) -> tuple[int, int] | None:
    """An SEI payload type or size (0xFF bytes add 255 each, then a last byte) read at ``i``:
    (value, next index), or None when the message is cut short."""
    value = 0
    while i < len(rbsp) and rbsp[i] == 0xFF:
        value += 255
        i += 1
    if i >= len(rbsp):
        return None
    return value + rbsp[i], i + 1


def _sei_messages(rbsp: bytes) -> Iterator[tuple[int, bytes]]:
    i = 0
    while i < len(rbsp) and not (rbsp[i] == 0x80 and i == len(rbsp) - 1):
        kind = _read_ff_coded(rbsp, i)
        size = None if kind is None else _read_ff_coded(rbsp, kind[1])
        if kind is None or size is None:
            return
        i = size[1]
        yield kind[0], rbsp[i:i + size[0]]
        i += size[0]


def read_records(codec: str, packet: bytes, size: int | None) -> list[dict[str, Any]]:
    """Every streamanon JSON payload in one packet (normally exactly one)."""
    records = []
    header = 2 if _is_hevc(codec) else 1
    for nal in iter_nals(packet, size):
        if nal_type(codec, nal) not in ((HEVC_PREFIX_SEI, 40) if _is_hevc(codec) else (H264_SEI,)):
            continue
        for kind, body in _sei_messages(remove_emulation_prevention(nal[header:])):
            if kind == PAYLOAD_USER_DATA_UNREGISTERED and body[:16] == UUID_BYTES:
                try:
                    records.append(json.loads(body[16:].decode()))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise ProvenanceError(f"streamanon SEI payload: expected JSON, got {exc}") from None
    return records
