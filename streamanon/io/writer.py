"""Encode anonymized frames to MP4/MKV, keeping timing, rotation and audio, with provenance.

Choices (see also :mod:`streamanon.io.metadata` for the tag policy):

- **Timing**: each output frame keeps its input ``pts`` in the input time base (VFR kept).
  MP4 keeps that time base; Matroska stores milliseconds (its fixed 1/1000 time base).
  A frame whose pts is missing gets ``index / fps``; a pts not above the previous one is
  raised by one tick (encoders refuse repeated timestamps) and a warning is logged.
- **Odd sizes**: 4:2:0 H.264/H.265 cannot code an odd width or height (the cropping unit is
  2 pixels; libx264 refuses ``yuv420p`` at 321x241). The exact resolution is kept by
  encoding odd-sized video as ``yuv444p`` (High 4:4:4 / Main 4:4:4 profile), even sizes as
  ``yuv420p``. Some hardware decoders cannot play 4:4:4.
- **Rotation**: the input display matrix is written to the output stream (players show it
  upright); pixels are stored unrotated, as read.
- **Provenance**: one SEI per encoded packet (:mod:`streamanon.provenance.sei`), container
  tags, the sidecar JSON and optional C2PA signing (MP4 only).
- **Atomic output**: everything goes to a hidden temporary file beside the destination and
  is renamed on success; :meth:`VideoWriter.abort` (and any exception inside ``with``)
  removes it.
- **Ctrl-C**: ``KeyboardInterrupt`` inside ``with`` calls :meth:`finalize_partial`: the
  frames written so far are flushed into a playable file (audio cut at the last video
  frame, sidecar ``"complete": false``) and the interrupt propagates. A runner that catches
  the interrupt itself calls :meth:`finalize_partial`, or :meth:`close` from inside its
  ``except KeyboardInterrupt:`` block (close() sees the interrupt being handled and does the
  same).
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..config import EncoderConfig, ProvenanceConfig
from ..errors import InputError, OutputError, OutputExistsError, check
from ..provenance.manifest import RecordLog, frame_payload, sidecar_path, write_sidecar
from ..provenance.sei import insert_sei, sei_nal
from ..types import FrameRecord, VideoFrame
from .metadata import container_format, muxer_options, provenance_tags
from .reader import MediaInfo

log = logging.getLogger(__name__)

_ENCODERS = {"h264": "libx264", "h265": "libx265"}
_BT709 = 1


class VideoWriter:
    """``with VideoWriter(dst, reader.info, cfg.encoder, cfg.provenance, cfg.digest(), mode,
    source_path=src) as w: w.write(frame, record)``.

    ``config`` (optional, ``Config.to_dict()``) goes into the sidecar with the salt removed.
    """

    def __init__(self, path: str | Path, info: MediaInfo, encoder: EncoderConfig,
                 provenance: ProvenanceConfig, config_digest: str, mode: str,
                 source_path: str | Path | None = None, overwrite: bool = False,
                 config: dict[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.info = info
        self.encoder = encoder
        self.provenance = provenance
        self.config_digest = config_digest
        self.mode = mode
        self.source_path = Path(source_path) if source_path is not None else None
        self.config = config
        self.frames_written = 0
        """Frames muxed into the file so far (the encoder holds a few more until flushed)."""
        self._pending: dict[int, dict[str, Any]] = {}
        self._last_pts: int | None = None
        self._last_time: Fraction | None = None
        self._closed = False
        self._signer = None
        self.format = container_format(self.path, encoder.container)
        self._check_destination(overwrite)
        if provenance.c2pa_cert or provenance.c2pa_key:
            from ..provenance.c2pa_sign import C2paSigner

            check(self.format == "mp4", OutputError, "C2PA signing container", "mp4", self.format)
            self._signer = C2paSigner(provenance.c2pa_cert, provenance.c2pa_key)
        self._tmp = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex[:8]}.part"
        self._records = RecordLog(self.path.parent, self.path.name)
        self._open()

    def _check_destination(self, overwrite: bool) -> None:
        if self.path.exists() and not overwrite:
            raise OutputExistsError(f"output {self.path}: exists (use --overwrite to replace it)")
        if self.path.is_dir():
            raise OutputError(f"output {self.path}: expected a file path, got a directory")
        parent = self.path.parent
        if not parent.is_dir():
            raise OutputError(f"output {self.path}: folder {parent} does not exist")
        if not os.access(parent, os.W_OK):
            raise OutputError(f"output {self.path}: folder {parent} is not writable")
        if self.source_path is not None and self.path.resolve() == self.source_path.resolve():
            raise OutputError(f"output {self.path}: expected a path other than the input")

    def _open(self) -> None:
        import av

        info, enc = self.info, self.encoder
        try:
            self._out = av.open(str(self._tmp), "w", format=self.format,
                                options=muxer_options(self.format, info.time_base))
        except (OSError, av.error.FFmpegError) as exc:
            self._records.close()
            raise OutputError(f"output {self.path}: cannot be created ({exc})") from None
        try:
            self._stream = self._add_video_stream()
            if self.provenance.container_tags:
                self._out.metadata.update(provenance_tags(self.config_digest, self.mode))
            self._copier = None
            if self.source_path is not None:
                from .passthrough import StreamCopier

                self._copier = StreamCopier(self.source_path, self._out, info.video_stream_index)
        except BaseException:
            self.abort()
            raise
        log.debug("writing %s (%s, %s, %dx%d %s)", self.path, self.format, enc.codec,
                  info.width, info.height, self._stream.pix_fmt)

    def _add_video_stream(self):
        info, enc = self.info, self.encoder
        odd = info.width % 2 or info.height % 2
        stream = self._out.add_stream(_ENCODERS[enc.codec], rate=info.fps)
        stream.width, stream.height = info.width, info.height
        stream.pix_fmt = "yuv444p" if odd else "yuv420p"
        stream.time_base = info.time_base
        stream.codec_context.time_base = info.time_base
        options = {"crf": str(enc.crf), "preset": enc.preset}
        if enc.codec == "h265":
            options["x265-params"] = "log-level=error"
            if self.format == "mp4":
                stream.codec_tag = "hvc1"  # parameter sets in the sample entry: Apple players need it
        stream.options = options
        if enc.threads:
            stream.codec_context.thread_count = enc.threads
        if self.info.color_space == _BT709:
            ctx = stream.codec_context
            ctx.colorspace = ctx.color_primaries = ctx.color_trc = _BT709
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        return stream

    # -- writing -------------------------------------------------------------------------

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        elif issubclass(exc_type, KeyboardInterrupt):
            try:
                self.finalize_partial()
            except Exception:
                log.exception("could not finalize %s after the interrupt; removing it", self.path)
                self.abort()
        else:
            self.abort()
        return False

    def write(self, frame: VideoFrame, record: FrameRecord) -> None:
        """Encode one frame; its SEI carries ``record``."""
        import av

        check(not self._closed, OutputError, f"output {self.path} state", "open", "closed")
        check(record.index == frame.index, InputError, "frame record index", frame.index, record.index)
        shape = (self.info.height, self.info.width, 3)
        check(frame.image.shape == shape, InputError, f"frame {frame.index} shape", shape, frame.image.shape)
        pts = self._next_pts(frame)
        video = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
        if self.info.color_space == _BT709:
            video = video.reformat(format=self._stream.pix_fmt, dst_colorspace="ITU709")
        video.pts, video.time_base = pts, self.info.time_base
        payload = frame_payload(record, frame.index, pts, self.info.time_base, self.config_digest)
        self._pending[pts] = payload
        try:
            packets = self._stream.encode(video)
            for packet in packets:
                self._mux_video(packet)
        except av.error.FFmpegError as exc:
            raise OutputError(f"output {self.path}: encoding frame {frame.index} failed ({exc})") from None

    def _next_pts(self, frame: VideoFrame) -> int:
        tb = self.info.time_base
        if frame.pts is None or frame.time_base is None:
            pts = int(round(frame.index / (self.info.fps * tb)))
        elif Fraction(frame.time_base) != tb:
            pts = int(round(frame.pts * Fraction(frame.time_base) / tb))
        else:
            pts = int(frame.pts)
        if self._last_pts is not None and pts <= self._last_pts:
            log.warning("frame %d pts %d not after %d: written as %d", frame.index, pts,
                        self._last_pts, self._last_pts + 1)
            pts = self._last_pts + 1
        self._last_pts = pts
        self._last_time = pts * tb
        return pts

    def _mux_video(self, packet) -> None:
        import av

        payload = self._pending.pop(packet.pts, None)
        check(payload is not None, OutputError, "encoded packet pts", "the pts of a written frame", packet.pts)
        if self.provenance.sei:
            data = insert_sei(self.encoder.codec, bytes(packet), sei_nal(self.encoder.codec, payload))
            marked = av.Packet(data)
            marked.pts, marked.dts, marked.time_base = packet.pts, packet.dts, packet.time_base
            marked.duration = packet.duration
            marked.is_keyframe = packet.is_keyframe
            marked.stream = self._stream
            packet = marked
        self._out.mux(packet)
        self._records.append(payload)  # only frames that reached the file
        self.frames_written += 1
        if self._copier is not None and packet.dts is not None:
            self._copier.advance(packet.dts * packet.time_base)

    # -- finishing -----------------------------------------------------------------------

    def close(self) -> None:
        """Flush the encoder, copy the remaining audio, finalize, sign, rename, write the sidecar.

        Called while a ``KeyboardInterrupt`` is being handled, it acts as :meth:`finalize_partial`.
        """
        self._finish(complete=not isinstance(sys.exc_info()[1], KeyboardInterrupt))

    def finalize_partial(self) -> None:
        """Like :meth:`close` after an interruption: audio stops at the last frame written."""
        self._finish(complete=False)

    def _finish(self, complete: bool) -> None:
        import av

        if self._closed:
            return
        self._closed = True
        try:
            for packet in self._stream.encode(None):
                self._mux_video(packet)
            check(self.frames_written > 0, OutputError, f"output {self.path} frames", ">= 1", 0)
            if self._copier is not None:
                self._copier.finish(None if complete else self._last_time)
            self._out.close()
            if self._signer is not None:
                self._signer.sign_file(self._tmp, self.source_path, self.mode, self.config_digest)
            os.replace(self._tmp, self.path)
        except av.error.FFmpegError as exc:
            self._remove_partial()
            raise OutputError(f"output {self.path}: cannot be finalized ({exc})") from None
        except BaseException:
            self._remove_partial()
            raise
        try:
            if self.provenance.sidecar:
                tags = provenance_tags(self.config_digest, self.mode) if self.provenance.container_tags else {}
                config = self.config or {"encoder": asdict(self.encoder), "provenance": asdict(self.provenance)}
                write_sidecar(self.path, self.source_path, config, self.config_digest, self.mode,
                              self._records, self._records.count, complete, self._signer is not None, tags)
            else:
                sidecar_path(self.path).unlink(missing_ok=True)  # a stale one would contradict the file
        finally:
            self._records.close()

    def abort(self) -> None:
        """Stop and remove the partial output (the destination is left untouched)."""
        self._closed = True
        self._remove_partial()

    def _remove_partial(self) -> None:
        for closer in (getattr(self, "_copier", None), getattr(self, "_out", None), self._records):
            if closer is None:
                continue
            try:
                closer.close()
            except Exception as exc:  # closing a broken muxer: the file goes anyway
                log.debug("while aborting %s: %s", self.path, exc)
        self._tmp.unlink(missing_ok=True)
