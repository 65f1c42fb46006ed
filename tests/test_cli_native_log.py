"""The terminal shows streamanon's output, not MediaPipe's start-up chatter (and nothing else
a library writes is lost)."""

import os
import subprocess
import sys
import threading

import pytest

from streamanon.commands.native_log import forward_lines, is_native_noise

ABSL_WARNING = (b"W0000 00:00:1796667544.407248   16777 inference_feedback_manager.cc:114] Feedback "
                b"manager requires a model with a single signature inference. Disabling support for "
                b"feedback tensors.")
ABSL_ERROR = b"E0000 00:00:1796667544.407248   16777 calculator_graph.cc:887] INTERNAL: graph failed"


def test_noise_lines_are_absl_info_and_warnings_and_tflite_start_up_only():
    assert is_native_noise(ABSL_WARNING)
    assert is_native_noise(ABSL_WARNING.replace(b"W0000", b"I1207"))
    assert is_native_noise(b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    assert is_native_noise(b"WARNING: All log messages before absl::InitializeLog() is called are "
                           b"written to STDERR")
    assert not is_native_noise(ABSL_ERROR)
    assert not is_native_noise(ABSL_ERROR.replace(b"E0000", b"F0000"))
    assert not is_native_noise(b"Traceback (most recent call last):")
    assert not is_native_noise(b"INFO: something else TFLite says")
    assert not is_native_noise(b"streamanon: error: in.mp4: no such file or folder")


def test_forward_lines_passes_everything_but_the_noise_in_order():
    src_r, src_w = os.pipe()
    out_r, out_w = os.pipe()
    text = b"".join([ABSL_WARNING + b"\n", b"first\n", ABSL_ERROR + b"\n",
                     b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n", b"tail without newline"])
    writer = threading.Thread(target=lambda: (os.write(src_w, text), os.close(src_w)))
    writer.start()
    with os.fdopen(src_r, "rb") as source:
        dropped = forward_lines(source, out_w)
    writer.join()
    os.close(out_w)
    with os.fdopen(out_r, "rb") as result:
        assert result.read() == b"first\n" + ABSL_ERROR + b"\ntail without newline"
    assert dropped == 2


def _run(*args, env):
    proc = subprocess.run([sys.executable, "-m", "streamanon", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_run_on_a_real_face_shows_mediapipe_chatter_only_with_verbose(face_clip, tmp_path, verbose):
    pytest.importorskip("mediapipe")
    env = {k: v for k, v in os.environ.items() if k not in ("GLOG_minloglevel", "TF_CPP_MIN_LOG_LEVEL")}
    out = tmp_path / "out.mp4"
    args = (["-v"] if verbose else []) + ["run", face_clip, "-o", out, "--mode", "blur", "--quiet"]
    code, stderr = _run(*args, env=env)
    assert code == 0, stderr
    assert out.stat().st_size > 0
    # MediaPipe does write it (so the quiet case is the filter's doing) ...
    chatter = [line for line in stderr.splitlines() if "inference_feedback_manager" in line or "XNNPACK" in line]
    if verbose:
        assert chatter, stderr
    else:  # ... and a quiet run shows nothing at all
        assert stderr == "", stderr


def test_errors_still_reach_the_terminal_through_the_filter(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    code, stderr = _run("run", bad, "-o", tmp_path / "out.mp4", "--quiet", env=dict(os.environ))
    assert code != 0
    assert stderr.startswith("streamanon: error:") and "broken.mp4" in stderr, stderr
