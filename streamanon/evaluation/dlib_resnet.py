"""dlib's face recognition ResNet, read from its own model file and run in torch.

    net = DlibResNet.load(path_to_dlib_face_recognition_resnet_model_v1_dat)
    descriptors = net.describe(chips)   # (n, 150, 150, 3) uint8 RGB chips -> (n, 128) float32

The same weights and the same arithmetic as dlib's ``face_recognition_model_v1`` (the
descriptors agree to about 1e-6: tests/test_dlib_resnet.py), fed the same face chips
(``dlib.get_face_chip``, 150 px, padding 0.25). Why: the ``dlib-bin`` wheel is built without
BLAS, and one descriptor takes about 190 ms on this machine's 2 cores; torch takes about 22
ms (12 ms per chip in a batch of four). The identity check and the identity guard embed
every drawn face near the limit several times per frame, so the recogniser was the largest
stage on most clips. The model file is read at run time from the installed
``face-recognition-models`` package; nothing is copied into streamanon.

The file is dlib's serialization of the trained network (``dlib/dnn/core.h`` and
``layers.h``): the loss layer, one version number per nested layer, the input layer, then
each layer's details from the bottom up (tensors as little-endian float32). The network is
``loss_metric<fc_no_bias<128, avg_pool_everything<ResNet-29 levels>>>`` as dlib's Python
binding declares it; tag and skip layers write nothing after their version, so a residual
block reads con, affine, relu, con, affine, then ``add_prev`` (plain) or ``avg_pool,
add_prev`` (down-sampling: the block's input pooled 2x2 plus the block's output, summed
where both exist and zero elsewhere, as dlib's ``add_prev`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError

CHIP_SIZE = 150
CHIP_PADDING = 0.25
"""``dlib.get_face_chip`` arguments that ``compute_face_descriptor`` uses."""


class _Reader:
    """dlib's serialization primitives over a bytes buffer."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def _fail(self, what: str) -> ModelFileError:
        return ModelFileError(f"dlib model file, byte {self.pos}: {what}")

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self._fail("expected more data, got the end of the file")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def int(self) -> int:
        control = self.byte()
        size = control & 0x0F
        if not 1 <= size <= 8:
            raise self._fail(f"expected an integer (1-8 bytes), got control byte {control:#04x}")
        value = int.from_bytes(self.data[self.pos:self.pos + size], "little")
        self.pos += size
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        return float(mantissa) * 2.0 ** exponent

    def bool(self) -> bool:
        value = self.byte()
        if value not in (0x30, 0x31):
            raise self._fail(f"expected a bool ('0' or '1'), got {value:#04x}")
        return value == 0x31

    def str(self) -> str:
        size = self.int()
        text = self.data[self.pos:self.pos + size]
        self.pos += size
        try:
            return text.decode("ascii")
        except UnicodeDecodeError:
            raise self._fail("expected an ASCII name") from None

    def peek_str(self) -> str | None:
        start = self.pos
        try:
            return self.str()
        except ModelFileError:
            return None
        finally:
            self.pos = start

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise self._fail(f"expected tensor version 2, got {version}")
        shape = [self.int() for _ in range(4)]
        count = int(np.prod(shape))
        if self.pos + 4 * count > len(self.data):
            raise self._fail(f"expected {count} floats, got the end of the file")
        values = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).reshape(shape)
        self.pos += 4 * count
        return values.astype(np.float32)

    def alias(self) -> list[int]:
        version = self.int()
        if version != 1:
            raise self._fail(f"expected alias tensor version 1, got {version}")
        return [self.int() for _ in range(4)]


@dataclass(frozen=True)
class Layer:
    kind: str
    """``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev``, ``fc``, or
    ``identity`` (an affine or relu layer saved as disabled: passes its input on)."""
    params: dict[str, Any] = field(default_factory=dict)


def read_layers(data: bytes) -> tuple[tuple[float, float, float], list[Layer]]:
    """The input layer's mean colour and the layers from the bottom up."""
    r = _Reader(data)
    r.int()
    loss = r.str()
    if loss != "loss_metric_2":
        raise r._fail(f"expected the metric loss 'loss_metric_2', got {loss!r}")
    r.float(), r.float()  # margin, distance threshold
    versions = []
    while not (r.peek_str() or "").startswith("input"):
        versions.append(r.int())
    name = r.str()
    if name != "input_rgb_image_sized":
        raise r._fail(f"expected the input layer 'input_rgb_image_sized', got {name!r}")
    mean = (r.float(), r.float(), r.float())
    size = (r.int(), r.int())
    if size != (CHIP_SIZE, CHIP_SIZE):
        raise r._fail(f"expected {CHIP_SIZE} x {CHIP_SIZE} input chips, got {size}")
    layers: list[Layer] = []
    while r.pos < len(data):
        layers.append(_layer(r))
        r.bool(), r.bool(), r.bool()  # set up, gradient stale, output disabled
        r.tensor(), r.tensor()  # x_grad, cached_output (empty)
        if data[r.pos:r.pos + 2] == b"\x01\x02":
            r.tensor()  # params_grad (add_layer version 2) or grad_final (the bottom layer)
        if len(layers) == 1 and versions and versions[-1] == 3:
            r.int()  # the bottom add_layer's sample expansion factor
    if not layers or layers[-1].kind != "fc":
        raise ModelFileError(f"dlib model file: expected the 128-d fc layer on top, got {layers[-1:] or 'none'}")
    return mean, layers


def _layer(r: _Reader) -> Layer:
    name = r.str()
    if name == "con_4":
        params = r.tensor().ravel()
        filters = r.int()
        kernel, stride, padding = (r.int(), r.int()), (r.int(), r.int()), (r.int(), r.int())
        shape = r.alias()
        r.alias()
        for _ in range(4):
            r.float()  # learning rate and weight decay multipliers
        n = int(np.prod(shape))
        if len(params) != n + filters or tuple(shape[2:]) != kernel:
            raise r._fail(f"expected {filters} filters of {kernel} and biases, got {len(params)} values")
        return Layer("con", {"weight": params[:n].reshape(shape), "bias": params[n:],
                             "stride": stride, "padding": padding})
    if name in ("affine_", "affine_2"):
        params = r.tensor().ravel()
        channels = int(np.prod(r.alias()))
        r.alias()
        if r.int() != 0:
            raise r._fail("expected a per-channel (convolutional) affine layer")
        if name == "affine_2" and r.bool():
            return Layer("identity")
        return Layer("affine", {"gamma": params[:channels], "beta": params[channels:2 * channels]})
    if name in ("relu_", "relu_2"):
        return Layer("identity" if name == "relu_2" and r.bool() else "relu")
    if name in ("max_pool_2", "avg_pool_2"):
        window, stride, padding = (r.int(), r.int()), (r.int(), r.int()), (r.int(), r.int())
        return Layer(name[:-2], {"window": window, "stride": stride, "padding": padding})
    if name.startswith("add_prev"):
        return Layer("add_prev")
    if name in ("fc_2", "fc_3"):
        outputs, inputs = r.int(), r.int()
        params = r.tensor().ravel()
        r.alias(), r.alias()
        if r.int() != 1:
            raise r._fail("expected the fc layer without bias (fc_no_bias)")
        for _ in range(4):
            r.float()
        if name == "fc_3":
            r.bool()
        return Layer("fc", {"weight": params[:inputs * outputs].reshape(inputs, outputs)})
    raise r._fail(f"expected a layer of dlib's face ResNet, got {name!r}")


class DlibResNet:
    """dlib's 128-d face descriptor network in torch (CPU)."""

    def __init__(self, mean: tuple[float, float, float], layers: list[Layer]) -> None:
        import torch

        self._torch = torch
        self._mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._layers = [(layer.kind, {k: _as_tensor(torch, k, v) for k, v in layer.params.items()})
                        for layer in layers]

    @classmethod
    def load(cls, path: str | Path) -> "DlibResNet":
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelFileError(f"cannot read dlib's face recognition model {path}: {exc}") from None
        return cls(*read_layers(data))

    def describe(self, chips: np.ndarray) -> np.ndarray:
        """(n, 150, 150, 3) uint8 RGB face chips -> (n, 128) float32 descriptors."""
        torch = self._torch
        if chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"face chips: expected (n, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.shape}")
        with torch.inference_mode():
            x = (torch.from_numpy(np.ascontiguousarray(chips)).permute(0, 3, 1, 2).float() - self._mean) / 256.0
            return self._forward(x).numpy().astype(np.float32)

    def _forward(self, x):
        F = self._torch.nn.functional
        block_in = block_out = None
        for index, (kind, p) in enumerate(self._layers):
            if kind == "con":
                if block_in is None and index > 0:  # a residual block starts (all but the stem)
                    block_in = x
                x = F.conv2d(x, p["weight"], p["bias"], stride=p["stride"], padding=p["padding"])
            elif kind == "affine":
                x = x * p["gamma"] + p["beta"]
            elif kind == "relu":
                x = F.relu(x)
            elif kind == "max_pool":
                x = F.max_pool2d(x, p["window"], p["stride"], p["padding"])
            elif kind == "avg_pool" and p["window"] == (0, 0):  # avg_pool_everything
                x = x.mean(dim=(2, 3))
            elif kind == "avg_pool":  # a down-sampling block: pool its input, add its output
                block_out, x = x, F.avg_pool2d(block_in, p["window"], p["stride"], p["padding"])
            elif kind == "add_prev":
                x = _add_padded(x, block_in if block_out is None else block_out)
                block_in = block_out = None
            elif kind == "fc":
                x = x.flatten(1) @ p["weight"]
        return x


def _as_tensor(torch, name: str, value):
    """A layer parameter as torch wants it, shaped once at load (affine: per channel)."""
    if not isinstance(value, np.ndarray):
        return value
    tensor = torch.from_numpy(np.ascontiguousarray(value))
    return tensor.view(1, -1, 1, 1) if name in ("gamma", "beta") else tensor


def _add_padded(a, b):
    """dlib's ``add_prev``: the sum where both tensors have values, either one elsewhere."""
    shape = [max(m, n) for m, n in zip(a.shape, b.shape)]
    if list(a.shape) == shape and list(b.shape) == shape:
        return a + b
    out = a.new_zeros(shape)
    out[:, :a.shape[1], :a.shape[2], :a.shape[3]] += a
    out[:, :b.shape[1], :b.shape[2], :b.shape[3]] += b
    return out
