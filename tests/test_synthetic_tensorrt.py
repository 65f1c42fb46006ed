"""TensorRT backend. Runs only where ``tensorrt`` imports and a CUDA device exists.

TensorRT could not be installed on the development machine, so these tests have not yet run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

trt = pytest.importorskip("tensorrt")
torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("TensorRT tests need a CUDA device", allow_module_level=True)

from streamanon.errors import GeneratorError  # noqa: E402
from streamanon.synthetic.backends import create_backend  # noqa: E402
from streamanon.synthetic.testing import tiny_weights  # noqa: E402

pytestmark = pytest.mark.gpu


def test_tensorrt_matches_torch_and_refuses_a_mismatched_engine(tmp_path):
    w = tiny_weights()
    ref_b = create_backend("torch", w, device="cuda", precision="fp32")
    trt_b = create_backend("tensorrt", w, device="cuda", precision="fp16", engine_dir=str(tmp_path), max_batch=4)
    r = w.model.resolution
    rng = np.random.default_rng(0)
    for b in (1, 3, 6):  # 6 > max_batch: split into profile-sized calls
        x = rng.standard_normal((b, 3, r, r)).astype(np.float32)
        t = rng.random(b).astype(np.float32)
        c = rng.standard_normal((b, w.model.cond_channels, r, r)).astype(np.float32)
        assert np.abs(trt_b.velocity(x, t, c) - ref_b.velocity(x, t, c)).max() < 0.05
    meta = trt_b.path.with_suffix(".json")
    key = json.loads(meta.read_text())
    key["tensorrt"] = "0.0.0"
    meta.write_text(json.dumps(key))
    with pytest.raises(GeneratorError, match="does not match"):
        create_backend("tensorrt", w, device="cuda", precision="fp16", engine_dir=str(tmp_path), max_batch=4)
