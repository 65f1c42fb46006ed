"""The ``streamanon`` GStreamer element: a thin in-place shell around one :class:`Anonymizer`.

    ... ! decodebin ! videoconvert ! streamanon mode=blur ! videoconvert ! x264enc ! ...

Raw video in RGB, BGR, RGBA, RGBx, BGRA, BGRx, I420 or NV12 passes through with its caps,
timestamps and framerate unchanged; each buffer is read out as RGB, anonymized by the same
:class:`streamanon.pipeline.Anonymizer` ``streamanon run`` uses, and only the pixels that
changed are written back (YUV is converted inside the faces only). Every buffer leaves with
the provenance metas of :mod:`streamanon.gst.meta` (the JSON of the file output's SEI).

Properties are read when the element goes READY -> PAUSED; that builds the element's own
Anonymizer (tracker, identity salt, generator: one stream state per element instance).
Like ``streamanon run``, the element holds ``lookahead`` frames (config
``runtime.lookahead``) so that a face first detected late is covered in the frames before;
it reports that hold as latency (``lookahead`` frame durations, plus ``processing-latency``)
and flushes held frames at EOS. ``lookahead=0`` holds nothing. Detection and rendering run in
the streaming thread. Any failure is an element error: a frame is never passed on
un-anonymized.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, GObject, Gst, GstBase, GstVideo  # noqa: E402

from ..config import AnonymizerConfig, Config, load_config  # noqa: E402
from .convert import FORMATS, RawLayout, changed_region, read_rgb, write_rgb  # noqa: E402
from .meta import attach, is_writable, register_custom_meta  # noqa: E402

log = logging.getLogger(__name__)

Gst.init(None)
register_custom_meta()

NANOSECONDS = Fraction(1, Gst.SECOND)
_DRAIN_BEFORE = (Gst.EventType.EOS, Gst.EventType.CAPS, Gst.EventType.SEGMENT, Gst.EventType.STREAM_START)
"""Serialized events that must not overtake held frames (tags and others pass at once)."""
_DEFAULTS = AnonymizerConfig()
_CAPS = Gst.Caps.from_string(f"video/x-raw, format=(string){{ {', '.join(FORMATS)} }}, "
                             "width=(int)[ 1, 32767 ], height=(int)[ 1, 32767 ], framerate=(fraction)[ 0/1, 2147483647/1 ]")
_RW = GObject.ParamFlags.READWRITE
_PROPERTY_KEYS = {"mode": "anonymizer.mode", "degree": "anonymizer.degree", "salt": "identity.salt",
                  "device": "anonymizer.device", "backend": "anonymizer.backend", "fallback": "anonymizer.fallback",
                  "stream-name": "identity.stream", "label": "provenance.visible_label"}
"""Element properties that override one config key each (only when set)."""


class StreamanonFilter(GstBase.BaseTransform):
    """Anonymizes every face in raw video; attaches per-buffer provenance metas."""

    __gtype_name__ = "GstStreamanon"

    __gstmetadata__ = ("streamanon face anonymizer", "Filter/Effect/Video",
                       "Replaces or covers every face (MediaPipe detection, Kalman tracking) and "
                       "attaches per-frame provenance (SEI user-data-unregistered meta)",
                       "streamanon")
    __gsttemplates__ = (Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, _CAPS),
                        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _CAPS))
    __gproperties__ = {
        "mode": (str, "Mode", "synthetic, blur, pixelate or solid (default: the config's)",
                 _DEFAULTS.mode, _RW),
        "degree": (float, "Degree", "Anonymization degree (synthetic mode)", 0.0, 10.0, _DEFAULTS.degree, _RW),
        "salt": (str, "Salt", "Identity salt (same salt: same synthetic identities); random when unset",
                 None, _RW),
        "config": (str, "Config file", "YAML configuration (see configs/); properties set here override it",
                   None, _RW),
        "device": (str, "Device", "cpu or cuda (generator)", _DEFAULTS.device, _RW),
        "backend": (str, "Backend", "auto, torch, onnx or tensorrt (synthetic mode; auto: onnx on CPU, torch on CUDA)", _DEFAULTS.backend, _RW),
        "fallback": (str, "Fallback", "Fail-closed cover (auto, solid or blur) for faces the mode cannot render "
                     "and for coasting or back-filled faces", _DEFAULTS.fallback, _RW),
        "stream-name": (str, "Stream name", "Identity stream name (two streams, one salt: different identities)",
                        "0", _RW),
        "label": (bool, "Label", "Draw a visible 'AI-modified' label", False, _RW),
        "processing-latency": (GObject.TYPE_UINT64, "Processing latency",
                               "Nanoseconds added to the latency this element reports (live pipelines: "
                               "about one frame's processing time)", 0, GLib.MAXUINT64, 0, _RW),
        "lookahead": (int, "Lookahead", "Frames held so late-detected faces are covered before they were "
                      "seen (adds this many frame durations of latency); -1: the config's", -1, 1000, -1, _RW),
        "stats": (str, "Statistics", "JSON: frames, seconds in the element and in the anonymizer",
                  None, GObject.ParamFlags.READABLE),
    }

    def __init__(self) -> None:
        super().__init__()
        self.set_in_place(True)
        self.set_passthrough(False)
        self._values: dict[str, object] = {}
        self._config_path: str | None = None
        self._processing_latency = 0
        self._lookahead_frames = -1
        self.lookahead = None
        self._held: dict[int, _Held] = {}
        self._ready: deque[Gst.Buffer] = deque()
        self.anonymizer = None
        self._digest = ""
        self._mode = ""
        self._tags_sent = False
        self._info: GstVideo.VideoInfo | None = None
        self._layout: RawLayout | None = None
        self._index = 0
        self._element_seconds = 0.0
        self._process_seconds = 0.0
        self.srcpad.add_probe(Gst.PadProbeType.QUERY_UPSTREAM | Gst.PadProbeType.PULL, self._on_query)

    # -- properties --------------------------------------------------------------------------

    def do_get_property(self, prop: GObject.ParamSpec):
        name = prop.name
        if name == "config":
            return self._config_path
        if name == "processing-latency":
            return self._processing_latency
        if name == "lookahead":
            return self._lookahead_frames
        if name == "stats":
            return json.dumps({"frames": self._index, "element_seconds": self._element_seconds,
                               "process_seconds": self._process_seconds})
        return self._values.get(name, prop.default_value)

    def do_set_property(self, prop: GObject.ParamSpec, value) -> None:
        name = prop.name
        if name == "config":
            self._config_path = value
        elif name == "processing-latency":
            self._processing_latency = int(value)
        elif name == "lookahead":
            self._lookahead_frames = int(value)
        else:
            self._values[name] = value

    def build_config(self) -> Config:
        """The config file (if any), then every property that was set."""
        overrides = {_PROPERTY_KEYS[name]: value for name, value in self._values.items()}
        return load_config(self._config_path, overrides)

    # -- state -------------------------------------------------------------------------------

    def do_start(self) -> bool:
        from ..errors import StreamanonError
        from ..pipeline import Anonymizer

        try:
            config = self.build_config()
            if self._lookahead_frames >= 0:  # the frames this element holds, as the tracker must know
                config = config.override({"runtime.lookahead": self._lookahead_frames})
            self.anonymizer = Anonymizer(config)
        except StreamanonError as exc:
            self._error(Gst.ResourceError.quark(), Gst.ResourceError.SETTINGS, f"streamanon: {exc}")
            return False
        except Exception as exc:  # e.g. a backend that fails to initialise: no frame may pass
            log.exception("streamanon element: cannot start")
            self._error(Gst.ResourceError.quark(), Gst.ResourceError.FAILED,
                        f"streamanon: cannot start: {type(exc).__name__}: {exc}")
            return False
        self.lookahead = _lookahead(config.runtime.lookahead, config.tracker.tentative_coast)
        self._held.clear()
        self._ready.clear()
        self._digest = config.digest()
        self._mode = config.anonymizer.mode
        self._tags_sent = False
        self._index = 0
        self._element_seconds = self._process_seconds = 0.0
        log.info("streamanon element started: mode %s, config %s", config.anonymizer.mode, self._digest)
        return True

    def do_stop(self) -> bool:
        self._held.clear()
        self._ready.clear()
        if self.anonymizer is not None:
            self.anonymizer.close()
            self.anonymizer = None
        return True

    def do_set_caps(self, incaps: Gst.Caps, outcaps: Gst.Caps) -> bool:
        info = GstVideo.VideoInfo.new_from_caps(incaps)
        if info is None:
            return False
        self._info = info
        self._layout = _layout(info.finfo.name, info.width, info.height, info.stride, info.offset, info.finfo.n_planes)
        return True

    def _on_query(self, pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        """After the latency query was answered upstream: add this element's :meth:`latency`."""
        query = info.get_query()
        if query is not None and query.type == Gst.QueryType.LATENCY:
            extra = self.latency()
            if not extra:
                return Gst.PadProbeReturn.OK
            live, low, high = query.parse_latency()
            query.set_latency(live, low + extra, high if high == Gst.CLOCK_TIME_NONE else high + extra)
        return Gst.PadProbeReturn.OK

    def latency(self) -> int:
        """Nanoseconds this element delays a frame: held frames plus ``processing-latency``."""
        held = self.lookahead.frames if self.lookahead is not None else 0
        info = self._info
        frame = Gst.SECOND * info.fps_d // info.fps_n if info is not None and info.fps_n > 0 else 0
        return held * frame + self._processing_latency

    # -- frames ------------------------------------------------------------------------------

    def do_submit_input_buffer(self, is_discont: bool, buffer: Gst.Buffer) -> Gst.FlowReturn:
        """Analyze the frame (detect, track), hold it in the lookahead, render what leaves."""
        started = time.perf_counter()
        try:
            self._ready.extend(self._render(self.lookahead.push(self._analyze(buffer))))
        except Exception as exc:  # fail closed: the frame is not passed on; the pipeline stops
            return self._fail(exc)
        finally:
            self._element_seconds += time.perf_counter() - started
        return Gst.FlowReturn.OK

    def do_generate_output(self):
        """One rendered buffer per call (BaseTransform calls until there is none left)."""
        return Gst.FlowReturn.OK, (self._ready.popleft() if self._ready else None)

    def do_sink_event(self, event: Gst.Event) -> bool:
        if event.type in _DRAIN_BEFORE and self.lookahead is not None:
            # held frames belong before these events (EOS, new caps or segment)
            started = time.perf_counter()
            try:
                self._ready.extend(self._render(self.lookahead.flush()))
            except Exception as exc:
                self._fail(exc)
                return False
            finally:
                self._element_seconds += time.perf_counter() - started
            while self._ready:
                if self.srcpad.push(self._ready.popleft()) != Gst.FlowReturn.OK:
                    self._ready.clear()
        elif event.type == Gst.EventType.FLUSH_STOP and self.lookahead is not None:
            self.lookahead.flush()  # flushed frames are dropped downstream anyway
            self._held.clear()
            self._ready.clear()
        return GstBase.BaseTransform.do_sink_event(self, event)

    def _analyze(self, buffer: Gst.Buffer):
        """Steps 1-2 of the pipeline on one buffer; the buffer waits in ``_held``."""
        from ..types import VideoFrame

        layout = self._buffer_layout(buffer)
        pts = self._pts(buffer)
        with buffer.map(Gst.MapFlags.READ) as mapped:
            rgb = read_rgb(mapped.data, layout)
        frame = VideoFrame(image=rgb, index=self._index, pts=pts, time_base=NANOSECONDS)
        self.anonymizer.stats.count_frame_in()
        started = time.perf_counter()
        analysis = self.anonymizer.analyze(frame)
        self._process_seconds += time.perf_counter() - started
        self._held[self._index] = _Held(buffer, layout)
        self._index += 1
        return analysis

    def _render(self, analyses) -> list[Gst.Buffer]:
        """Steps 3-7 for the frames leaving the lookahead; pixels and metas go into their buffers."""
        from ..lookahead import with_upcoming
        from ..provenance.manifest import frame_payload

        out = []
        if analyses and not self._tags_sent:
            self._send_tags()
        for analysis, upcoming in with_upcoming(analyses, self.lookahead.held):
            frame = analysis.frame
            held = self._held.pop(frame.index)
            buffer = held.buffer if is_writable(held.buffer) else _shallow_copy(held.buffer)
            started = time.perf_counter()
            rendered, record = self.anonymizer.render(analysis, upcoming)
            self._process_seconds += time.perf_counter() - started
            region = changed_region(frame.image, rendered.image)
            if region is not None:
                with buffer.map(Gst.MapFlags.READ | Gst.MapFlags.WRITE) as mapped:
                    write_rgb(mapped.data, held.layout, rendered.image, region)
            attach(buffer, frame_payload(record, frame.index, frame.pts, NANOSECONDS, self._digest))
            out.append(buffer)
        return out

    def _send_tags(self) -> None:
        """Global tags ahead of the first frame: the provenance tags ``streamanon run`` writes,
        as a comment and the application name (muxers write these; they have no custom keys)."""
        from ..io.metadata import provenance_tags

        tags = provenance_tags(self._digest, self._mode)
        taglist = Gst.TagList.new_empty()
        taglist.set_scope(Gst.TagScope.GLOBAL)
        taglist.add_value(Gst.TagMergeMode.REPLACE, Gst.TAG_APPLICATION_NAME, tags["ai_tool"])
        comment = "; ".join([tags["comment"]] + [f"{k}={v}" for k, v in tags.items() if k != "comment"])
        taglist.add_value(Gst.TagMergeMode.REPLACE, Gst.TAG_COMMENT, comment)
        self._tags_sent = True
        self.srcpad.push_event(Gst.Event.new_tag(taglist))

    def _fail(self, exc: Exception) -> Gst.FlowReturn:
        log.error("streamanon element: frame %d failed: %s", self._index, exc, exc_info=exc)
        self._error(Gst.StreamError.quark(), Gst.StreamError.FAILED,
                    f"streamanon: frame {self._index}: {type(exc).__name__}: {exc}")
        self._held.clear()
        self._ready.clear()
        return Gst.FlowReturn.ERROR

    def _pts(self, buffer: Gst.Buffer) -> int:
        """Running time of the buffer in ns: the timeline muxers write (a file's first frame is
        at 0 even when the demuxer's pts start later). Frames without a pts get
        index / framerate (or the index)."""
        if buffer.pts != Gst.CLOCK_TIME_NONE:
            segment = self.segment
            if segment.format == Gst.Format.TIME:
                running = segment.to_running_time(Gst.Format.TIME, buffer.pts)
                if running != Gst.CLOCK_TIME_NONE:
                    return int(running)
            return int(buffer.pts)
        info = self._info
        if info is not None and info.fps_n > 0:
            return int(self._index * Gst.SECOND * info.fps_d // info.fps_n)
        return self._index

    def _buffer_layout(self, buffer: Gst.Buffer) -> RawLayout:
        """Strides and offsets from the buffer's GstVideoMeta when upstream padded the planes."""
        meta = GstVideo.buffer_get_video_meta(buffer)
        if meta is None or self._layout is None:
            return self._layout
        layout = _layout(self._layout.format, meta.width, meta.height, meta.stride, meta.offset, meta.n_planes)
        return self._layout if layout == self._layout else layout

    def _error(self, domain: int, code: int, message: str) -> None:
        error = GLib.Error.new_literal(domain, message, int(code))
        self.post_message(Gst.Message.new_error(self, error, message))


@dataclass(frozen=True, eq=False)
class _Held:
    """A buffer waiting in the lookahead, with where its picture lies."""

    buffer: Gst.Buffer
    layout: RawLayout


class _NoLookahead:
    """Holds nothing (``lookahead=0``)."""

    frames = 0
    backfilled = 0
    held = ()

    def push(self, analysis):
        return [analysis]

    def flush(self):
        return []


def _shallow_copy(buffer: Gst.Buffer) -> Gst.Buffer:
    """A writable copy sharing the memory (mapping it for writing copies the memory then).

    Decoders keep references to the frames they output; ``Buffer.copy()`` in PyGObject only
    adds a reference (boxed copy), so this goes through ``gst_buffer_copy_region``."""
    return buffer.copy_region(Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.TIMESTAMPS |
                              Gst.BufferCopyFlags.META | Gst.BufferCopyFlags.MEMORY, 0, buffer.get_size())


def _lookahead(frames: int, tentative_frames: int):
    if frames <= 0:
        return _NoLookahead()
    from ..lookahead import Lookahead

    return Lookahead(frames, tentative_frames)


def _layout(fmt: str, width: int, height: int, strides, offsets, planes: int) -> RawLayout:
    return RawLayout(fmt, width, height, tuple(int(s) for s in strides[:planes]),
                     tuple(int(o) for o in offsets[:planes]))


GObject.type_register(StreamanonFilter)
ELEMENT_FACTORY = ("streamanon", Gst.Rank.NONE, StreamanonFilter)
"""What the python plugin loader registers (``__gstelementfactory__``)."""
