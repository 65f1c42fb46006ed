"""A loopback RTSP camera for tests and benchmarks: loops JPEG frames as a paced H.264 stream.

Standalone script for Debian's ``/usr/bin/python3`` (GStreamer RTSP server via python3-gi);
it imports nothing from streamanon, so the venv does not need PyGObject::

    /usr/bin/python3 scripts/rtsp_test_server.py --port 8554 --path /cam \\
        --frames 'frames/%04d.jpg' --fps 30 [--seconds 60]

Frames ``0000.jpg``, ``0001.jpg``... loop forever (``multifilesrc loop=true``) at ``--fps``.
Binds 127.0.0.1 only. Exits by itself after ``--seconds`` (default 120) so a crashed test
never leaves it behind, and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--frames", required=True, help="printf pattern of JPEG files, e.g. dir/%%04d.jpg")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--gop", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=120.0, help="exit after this long")
    args = parser.parse_args(argv)

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( multifilesrc location="{args.frames}" loop=true index=0 '
        f'caps="image/jpeg,framerate={args.fps}/1" ! jpegdec ! videoconvert ! '
        f"video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast "
        f"key-int-max={args.gop} bitrate=4000 ! rtph264pay name=pay0 pt=96 config-interval=1 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print(f"rtsp_test_server: cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, lambda *_: (loop.quit(), False)[1])
    GLib.timeout_add(int(args.seconds * 1000), lambda: (loop.quit(), False)[1])
    print(f"rtsp_test_server: rtsp://127.0.0.1:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
