"""Live streams: camera URL in, anonymized stream or recording out, within a latency budget.

- :mod:`.source`: reconnecting reader of any FFmpeg URL (RTSP, RTMP, SRT, HTTP, file).
- :mod:`.realtime`: the per-camera scheduler (drop or repeat, never raw; filler while down).
- :mod:`.sink`: RTSP/RTMP/SRT publishing, HTTP serving, files and time-rotated segments.
- :mod:`.multi`: several cameras in one process with one shared generator batch.
- :mod:`.metrics`: fps, latency p50/p99, drops, reconnects, faces, covers; JSON, Prometheus.
- :mod:`.command`: ``run_live(args, config)`` behind ``streamanon run URL`` and ``streamanon live``.

See ``docs/live.md``.
"""
