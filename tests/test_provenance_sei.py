"""Per-frame SEI provenance: NAL layout, one record in every packet, verify() and the CLI."""

from __future__ import annotations

import json
import uuid

import av
import pytest
from media import make_clip, pass_through

from streamanon import PROJECT_UUID
from streamanon.cli import main as cli
from streamanon.config import Config
from streamanon.provenance.manifest import sidecar_path
from streamanon.provenance.sei import (add_emulation_prevention, insert_sei, iter_nals, length_size,
                                       read_records, remove_emulation_prevention, sei_nal)
from streamanon.provenance.verify import verify

FAST = Config().override({"encoder.preset": "ultrafast"})


def test_emulation_prevention_round_trip():
    raw = bytes([0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0])
    escaped = add_emulation_prevention(raw)
    assert b"\x00\x00\x00" not in escaped and b"\x00\x00\x01" not in escaped and b"\x00\x00\x02" not in escaped
    assert remove_emulation_prevention(escaped) == raw


@pytest.mark.parametrize("codec,header", [("h264", bytes([0x06])), ("hevc", bytes([0x4E, 0x01]))])
def test_sei_nal_layout(codec, header):
    payload = {"frame": 7, "note": "x" * 300, "zeros": "\u0000\u0000\u0001"}  # > 255 bytes, zero runs
    nal = sei_nal(codec, payload)
    assert nal.startswith(header)
    body = remove_emulation_prevention(nal[len(header):])
    assert body[0] == 5  # user_data_unregistered
    size = 0
    i = 1
    while body[i] == 0xFF:
        size += 255
        i += 1
    size += body[i]
    assert body[i + 1:i + 17] == uuid.UUID(PROJECT_UUID).bytes
    assert len(body) == i + 1 + size + 1 and body[-1] == 0x80
    assert b"\x00\x00\x01" not in nal
    packet = b"\x00\x00\x00\x01" + bytes([0x65 if codec == "h264" else 0x26, 0x01]) + b"\x88" * 20
    marked = insert_sei(codec, packet, nal)
    assert read_records(codec, marked, None) == [payload]
    nals = list(iter_nals(marked, None))
    assert nals[0] == nal and len(nals) == 2  # SEI before the slice


@pytest.mark.parametrize("ext,codec", [("mp4", "h264"), ("mkv", "h264"), ("mp4", "h265"), ("mkv", "h265")])
def test_every_packet_carries_its_frames_record(tmp_path, ext, codec):
    src = make_clip(tmp_path / "in.mp4", frames=20, vfr=True, audio=False)
    dst = pass_through(src, tmp_path / f"out.{ext}", FAST.override({"encoder.codec": codec}), mode="solid", faces=2)
    with av.open(str(dst)) as c:
        stream = c.streams.video[0]
        size = length_size(stream.codec_context.name, stream.codec_context.extradata)
        assert size == 4  # MP4 and MKV store length-prefixed NAL units
        per_packet = [(p.pts, p.time_base, read_records(stream.codec_context.name, bytes(p), size))
                      for p in c.demux(stream) if p.size]
    assert len(per_packet) == 20 and all(len(found) == 1 for _, _, found in per_packet)
    for pts, tb, (record,) in per_packet:  # packets are in decode order (B-frames): map by pts
        assert abs(pts * tb - record["pts"] * __import__("fractions").Fraction(record["tb"])) <= 0.0005
        assert record["faces"] == 2 and record["mode"] == "solid" and record["config"] == FAST.override(
            {"encoder.codec": codec}).digest()
    report = verify(dst)
    assert report.ok, report.problems
    assert report.frames == 20 and [r["frame"] for r in report.records] == list(range(20))


def test_h264_mp4_packets_are_reordered_yet_mapped(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=20, audio=False)
    dst = pass_through(src, tmp_path / "out.mp4", Config().override({"encoder.preset": "medium"}))
    with av.open(str(dst)) as c:
        s = c.streams.video[0]
        frames = [read_records("h264", bytes(p), 4)[0]["frame"] for p in c.demux(s) if p.size]
    assert frames != sorted(frames)  # B-frames: decode order differs from presentation order
    assert sorted(frames) == list(range(20))


def test_verify_reports_unmarked_file(tmp_path):
    clip = make_clip(tmp_path / "plain.mp4", frames=5, audio=False)
    report = verify(clip)
    assert not report.ok and report.records == ()
    assert any("ai_modified" in p for p in report.problems)


def test_verify_catches_tampered_file_and_sidecar(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=8, audio=False)
    dst = pass_through(src, tmp_path / "out.mp4")
    side = json.loads(sidecar_path(dst).read_text())
    assert side["input"]["sha256"] and side["frames"] == 8 and "salt" not in side["config"]["identity"]
    assert [r["frame"] for r in side["records"]] == list(range(8)) and side["complete"] is True
    side["output"]["sha256"] = "0" * 64
    sidecar_path(dst).write_text(json.dumps(side))
    report = verify(dst)
    assert not report.ok and any("sha256" in p for p in report.problems)


def test_no_sei_when_disabled_fails_verify(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=5, audio=False)
    dst = pass_through(src, tmp_path / "out.mp4", FAST.override({"provenance.sei": False}))
    report = verify(dst)
    assert not report.ok and any("record" in p for p in report.problems)


def test_cli_verify_exit_codes_and_json(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", frames=6, audio=False)
    dst = pass_through(src, tmp_path / "out.mkv")
    assert cli(["verify", str(dst)]) == 0
    assert "provenance ok" in capsys.readouterr().out
    assert cli(["verify", "--json", str(dst)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["frames"] == 6 and len(data["records"]) == 6
    assert cli(["verify", str(src)]) == 7
    assert cli(["verify", str(tmp_path / "missing.mp4")]) == 3
