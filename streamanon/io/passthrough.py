"""Carry the input's audio (and, best effort, subtitles) into the output, interleaved.

Audio is stream-copied when the output container accepts its codec, otherwise decoded and
re-encoded to AAC. Subtitles are copied when the container accepts their codec, else
skipped; data streams (timecode, GPS tracks, camera telemetry) and attachments are always
skipped: they can carry location and device data. Packets are pulled from the source in
time order and muxed as the video advances (:meth:`StreamCopier.advance`), so nothing is
buffered until the end.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

from .metadata import kept_stream_tags

log = logging.getLogger(__name__)


class StreamCopier:
    """Copies or re-encodes the non-video streams of ``source`` into ``output``.

    Create it after the video stream and before the first packet is muxed (the muxer
    header is written then); call :meth:`advance` after each video packet and
    :meth:`finish` before closing the output.
    """

    def __init__(self, source: str | Path, output, video_index: int) -> None:
        import av

        self._input = av.open(str(source), "r")
        self._output = output
        self._map: dict[int, tuple[object, object | None]] = {}
        self.skipped: list[str] = []
        for stream in self._input.streams:
            if stream.index == video_index or stream.type == "video":
                continue
            target = self._add(stream)
            if target is not None:
                self._map[stream.index] = target
        self._packets = self._input.demux(*[self._input.streams[i] for i in self._map]) if self._map else iter(())
        self._pending = None
        self._done = not self._map
        self._next_sample: dict[int, int] = {}  # re-encoded stream -> pts (1/rate) of its next frame

    @property
    def copied(self) -> int:
        return len(self._map)

    def _add(self, stream):
        if stream.type == "audio":
            try:
                out = self._output.add_stream_from_template(stream)
                out.metadata.clear()
                out.metadata.update(kept_stream_tags(stream.metadata))
                return out, None
            except ValueError:
                return self._add_reencoded_audio(stream)
        if stream.type == "subtitle":
            try:
                out = self._output.add_stream_from_template(stream)
                out.metadata.clear()
                out.metadata.update(kept_stream_tags(stream.metadata))
                return out, None
            except ValueError as exc:  # a codec the muxer refuses: skip it
                self.skipped.append(f"subtitle #{stream.index} ({exc})")
                log.info("skipping subtitle stream #%d: %s", stream.index, exc)
                return None
        self.skipped.append(f"{stream.type} #{stream.index}")
        log.info("skipping %s stream #%d (not carried)", stream.type, stream.index)
        return None

    def _add_reencoded_audio(self, stream):
        ctx = stream.codec_context
        if ctx is None:
            self.skipped.append(f"audio #{stream.index} (no decoder)")
            return None
        rate = ctx.sample_rate or 48000
        out = self._output.add_stream("aac", rate=rate)
        channels = len(ctx.layout.channels) if ctx.layout else 2
        out.layout = {1: "mono", 2: "stereo", 6: "5.1"}.get(channels, "stereo")  # AAC's default orders
        out.metadata.update(kept_stream_tags(stream.metadata))
        log.info("re-encoding audio #%d (%s) to AAC: the container cannot carry it", stream.index, ctx.name)
        return out, stream

    def advance(self, until: Fraction | None) -> None:
        """Mux every source packet that starts before ``until`` seconds (None: all)."""
        while not self._done:
            if self._pending is None:
                try:
                    self._pending = next(self._packets)
                except StopIteration:
                    self._done = True
                    break
                except Exception as exc:  # a damaged source: keep what was copied
                    log.warning("stopped copying audio/subtitles: %s", exc)
                    self._done = True
                    break
            packet = self._pending
            if (packet.dts is None and packet.pts is None) or packet.size == 0:
                self._pending = None  # demuxer flush packets carry nothing
                continue
            start = (packet.dts if packet.dts is not None else packet.pts) * packet.time_base
            if until is not None and start > until:
                break
            self._pending = None
            self._mux(packet)

    def _mux(self, packet) -> None:
        out, decode_from = self._map[packet.stream_index]
        if decode_from is None:
            packet.stream = out
            self._output.mux(packet)
            return
        self._encode(out, decode_from, decode_from.decode(packet))

    def _encode(self, out, source, frames) -> None:
        """Re-encode decoded audio, timed from the source's first sample, then by sample count."""
        rate = out.codec_context.sample_rate
        for frame in frames:
            if source.index not in self._next_sample:
                start = frame.pts * (frame.time_base or source.time_base) if frame.pts is not None else 0
                self._next_sample[source.index] = int(round(start * rate))
            frame.pts, frame.time_base = self._next_sample[source.index], Fraction(1, rate)
            self._next_sample[source.index] += frame.samples
            self._output.mux(out.encode(frame))

    def finish(self, until: Fraction | None = None) -> None:
        """Mux what is left (up to ``until`` seconds after an interruption), flush encoders."""
        self.advance(until)
        for out, decode_from in self._map.values():
            if decode_from is not None:
                self._encode(out, decode_from, decode_from.decode(None))
                self._output.mux(out.encode(None))
        self.close()

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None
        self._done = True
