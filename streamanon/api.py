"""Python entry points: ``anonymize_file`` and ``anonymize_tree``.

    from streamanon.api import anonymize_file
    from streamanon.config import load_config
    report = anonymize_file("in.mp4", "out.mp4", load_config(overrides={"anonymizer.mode": "blur"}))
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from .config import Config
from .errors import InputError, OutputExistsError
from .generators import FaceGenerator
from .pipeline import Anonymizer
from .report import build_report
from .runner import StagedRunner

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts",
                            ".mts", ".m2ts", ".wmv", ".flv", ".3gp"})
"""Files ``anonymize_tree`` picks up (case-insensitive)."""

Progress = Callable[[int, int | None], None]
"""Called with (frames done, total frames or None) after each frame."""


def anonymize_file(src: str | Path, dst: str | Path, config: Config | None = None, *,
                   overwrite: bool = False, progress: Progress | None = None,
                   generator: FaceGenerator | None = None) -> dict[str, Any]:
    """Anonymize one video file into ``dst``; returns the run report.

    A KeyboardInterrupt finalizes the frames written so far into a playable ``dst`` and is
    re-raised. Any other error removes the partial output.
    """
    from .io import VideoReader, VideoWriter  # PyAV imported on first use

    config = config or Config()
    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise OutputExistsError(f"output {dst} exists (use --overwrite to replace it)")
    if src.resolve() == dst.resolve():
        raise InputError(f"output {dst} is the input file")
    with VideoReader(src) as reader:
        anonymizer = Anonymizer(config, generator=generator, rotation=reader.info.rotation)
        runner = StagedRunner(anonymizer, config.runtime.queue_size, config.runtime.lookahead)
        writer = VideoWriter(dst, reader.info, config.encoder, config.provenance, config.digest(),
                             config.anonymizer.mode, source_path=src, overwrite=overwrite,
                             config=config.to_dict())
        interrupted = False
        try:
            total = reader.info.expected_frames
            for done, (frame, record) in enumerate(runner.run(reader.frames()), start=1):
                with anonymizer.stats.clock("encode"):
                    writer.write(frame, record)
                if progress is not None:
                    progress(done, total)
        except KeyboardInterrupt:
            interrupted = True
            writer.close()
            raise
        except BaseException:
            writer.abort()
            raise
        else:
            writer.close()
        finally:
            anonymizer.close()
            if interrupted:
                log.warning("interrupted: %s holds the frames written so far", dst)
    if anonymizer.stats.frames_out == 0:
        raise InputError(f"{src} has no decodable video frames")
    return build_report(anonymizer.stats, source=str(src), output=str(dst), mode=config.anonymizer.mode,
                        config_digest=config.digest(), tracks=anonymizer.tracker.total_tracks,
                        backfilled=runner.lookahead.backfilled)


def output_name(path: Path) -> str:
    """Name of the output for an input in a tree: MKV-like inputs stay MKV, the rest MP4."""
    suffix = ".mkv" if path.suffix.lower() in {".mkv", ".webm"} else ".mp4"
    return path.with_suffix(suffix).name


def find_videos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def anonymize_tree(src: str | Path, dst: str | Path, config: Config | None = None, *,
                   overwrite: bool = False, progress: Progress | None = None,
                   on_file: Callable[[Path, Path], None] | None = None) -> list[dict[str, Any]]:
    """Anonymize every video below folder ``src`` into the same tree under ``dst``."""
    src, dst = Path(src), Path(dst)
    videos = find_videos(src)
    if not videos:
        raise InputError(f"no video files found under {src}")
    reports = []
    for video in videos:
        target = dst / video.relative_to(src).parent / output_name(video)
        target.parent.mkdir(parents=True, exist_ok=True)
        if on_file is not None:
            on_file(video, target)
        reports.append(anonymize_file(video, target, config, overwrite=overwrite, progress=progress))
    return reports
