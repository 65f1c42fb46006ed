"""``streamanonsei``: writes the provenance metas of encoded buffers into H.264/H.265 as SEI.

GStreamer 1.22's encoders (x264enc, x265enc) and parsers copy
``GstVideoSEIUserDataUnregisteredMeta`` from the raw frame to its encoded buffer but do not
write it into the bitstream. Put this element right after the encoder:

    ... ! streamanon ! videoconvert ! x264enc ! streamanonsei ! h264parse ! mp4mux ! ...

Each access unit (Annex B byte-stream, ``alignment=au``, what x264enc/x265enc output) gets
one SEI ``user_data_unregistered`` NAL per streamanon meta, in front of its first slice,
built by :func:`streamanon.provenance.sei.sei_nal`: the same bytes ``streamanon run`` writes,
so ``streamanon verify`` and :func:`streamanon.provenance.sei.read_records` read both.

``require-meta=true`` turns an access unit without a streamanon meta into an error (a chain
that must never carry unmarked video).
"""

from __future__ import annotations

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
from gi.repository import GLib, GObject, Gst, GstBase  # noqa: E402

from .meta import read_payloads  # noqa: E402

Gst.init(None)

_CAPS = Gst.Caps.from_string("video/x-h264, stream-format=(string)byte-stream, alignment=(string)au; "
                             "video/x-h265, stream-format=(string)byte-stream, alignment=(string)au")


class StreamanonSeiInsert(GstBase.BaseTransform):
    """Inserts the streamanon provenance meta of each access unit as an SEI NAL unit."""

    __gtype_name__ = "GstStreamanonSei"

    __gstmetadata__ = ("streamanon SEI inserter", "Codec/Video/Filter",
                       "Writes streamanon provenance metas (GstVideoSEIUserDataUnregisteredMeta) "
                       "into H.264/H.265 byte-streams as SEI user_data_unregistered",
                       "streamanon")
    __gsttemplates__ = (Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, _CAPS),
                        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _CAPS))
    __gproperties__ = {
        "require-meta": (bool, "Require meta", "Error on an access unit that carries no streamanon meta",
                         False, GObject.ParamFlags.READWRITE),
        "inserted": (GObject.TYPE_UINT64, "Inserted", "SEI NAL units written so far", 0, GLib.MAXUINT64, 0,
                     GObject.ParamFlags.READABLE),
        "unmarked": (GObject.TYPE_UINT64, "Unmarked", "Access units passed without a streamanon meta",
                     0, GLib.MAXUINT64, 0, GObject.ParamFlags.READABLE),
    }

    def __init__(self) -> None:
        super().__init__()
        self.set_in_place(True)
        self.set_passthrough(False)
        self.require_meta = False
        self.codec = "h264"
        self.inserted = 0
        self.unmarked = 0

    def do_get_property(self, prop: GObject.ParamSpec):
        return {"require-meta": self.require_meta, "inserted": self.inserted, "unmarked": self.unmarked}[prop.name]

    def do_set_property(self, prop: GObject.ParamSpec, value) -> None:
        if prop.name == "require-meta":
            self.require_meta = bool(value)

    def do_start(self) -> bool:
        self.inserted = self.unmarked = 0
        return True

    def do_set_caps(self, incaps: Gst.Caps, outcaps: Gst.Caps) -> bool:
        self.codec = "h265" if incaps.get_structure(0).get_name() == "video/x-h265" else "h264"
        return True

    def do_transform_ip(self, buffer: Gst.Buffer) -> Gst.FlowReturn:
        from ..errors import ProvenanceError
        from ..provenance.sei import insert_sei, sei_nal

        payloads = read_payloads(buffer)
        if not payloads:
            self.unmarked += 1
            if self.require_meta:
                message = f"streamanonsei: access unit at pts {buffer.pts} carries no streamanon meta"
                error = GLib.Error.new_literal(Gst.StreamError.quark(), message, int(Gst.StreamError.FAILED))
                self.post_message(Gst.Message.new_error(self, error, message))
                return Gst.FlowReturn.ERROR
            return Gst.FlowReturn.OK
        with buffer.map(Gst.MapFlags.READ) as mapped:
            data = bytes(mapped.data)
        try:
            for payload in payloads:
                data = insert_sei(self.codec, data, sei_nal(self.codec, payload))
        except ProvenanceError as exc:
            message = f"streamanonsei: {exc}"
            error = GLib.Error.new_literal(Gst.StreamError.quark(), message, int(Gst.StreamError.FORMAT))
            self.post_message(Gst.Message.new_error(self, error, message))
            return Gst.FlowReturn.ERROR
        buffer.replace_all_memory(Gst.Buffer.new_wrapped(data).get_memory(0))
        self.inserted += len(payloads)
        return Gst.FlowReturn.OK


GObject.type_register(StreamanonSeiInsert)
ELEMENT_FACTORY = ("streamanonsei", Gst.Rank.NONE, StreamanonSeiInsert)
"""What the python plugin loader registers (``__gstelementfactory__``)."""
