"""Optional C2PA signing of MP4 output (``pip install 'streamanon[c2pa]'``).

The manifest records two actions: ``c2pa.opened`` on the source (added as the
``parentOf`` ingredient) and ``c2pa.edited`` by streamanon with digital source type
``compositeWithTrainedAlgorithmicMedia``. The certificate chain (PEM, leaf first, then the
issuing CA: c2pa rejects a self-signed leaf) and the private key are the user's; no time
stamp authority is contacted (the machine may be offline).
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import BackendUnavailableError, ConfigError, OutputError
from ..io.metadata import DIGITAL_SOURCE_TYPE

log = logging.getLogger(__name__)

EDIT_ACTION = "c2pa.edited"
_MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
         ".mkv": "video/x-matroska", ".avi": "video/x-msvideo", ".webm": "video/webm"}


def _c2pa():
    try:
        import c2pa
    except ImportError as exc:
        raise BackendUnavailableError("c2pa", "c2pa", str(exc)) from None
    return c2pa


def _algorithm(key_pem: bytes) -> str:
    """c2pa algorithm name for the private key type (EC P-256/384/521, Ed25519, RSA-PSS)."""
    try:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError as exc:
        raise BackendUnavailableError("c2pa", "c2pa", str(exc)) from None
    try:
        key = load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"provenance.c2pa_key: expected an unencrypted PEM private key ({exc})") from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "es256", 384: "es384", 521: "es512"}[key.curve.key_size]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise ConfigError(f"provenance.c2pa_key: expected an EC, Ed25519 or RSA key, got {type(key).__name__}")


class C2paSigner:
    """Signs finished MP4 files. Created when the writer opens, so bad keys fail early."""

    def __init__(self, cert_path: str | None, key_path: str | None) -> None:
        if not cert_path or not key_path:
            raise ConfigError("provenance.c2pa_cert and provenance.c2pa_key: expected both, got one")
        self._c2pa = _c2pa()
        try:
            self._cert = Path(cert_path).read_bytes()
            self._key = Path(key_path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"C2PA certificate or key cannot be read: {exc}") from None
        self._alg = _algorithm(self._key)

    def _signer(self):
        c2pa = self._c2pa
        info = c2pa.C2paSignerInfo(self._alg.encode(), self._cert, self._key, None)
        return c2pa.Signer.from_info(info)

    def manifest(self, title: str, mode: str, config_digest: str) -> dict[str, Any]:
        return {
            "claim_generator_info": [{"name": "streamanon", "version": __version__}],
            "title": title,
            "format": "video/mp4",
            "assertions": [{
                "label": "c2pa.actions.v2",
                "data": {"actions": [
                    {"action": "c2pa.opened", "parameters": {"ingredientIds": ["source"]}},
                    {"action": EDIT_ACTION,
                     "digitalSourceType": DIGITAL_SOURCE_TYPE,
                     "softwareAgent": {"name": "streamanon", "version": __version__},
                     "description": f"faces anonymized ({mode}) by streamanon",
                     "parameters": {"streamanon.mode": mode, "streamanon.config": config_digest}},
                ]},
            }],
        }

    def sign_file(self, path: Path, source: Path | None, mode: str, config_digest: str) -> None:
        """Embed a signed manifest into the MP4 at ``path`` (replaced in place)."""
        c2pa = self._c2pa
        signed = path.with_name(path.name + ".c2pa")
        try:
            builder = c2pa.Builder(self.manifest(path.name, mode, config_digest))
            if source is not None:
                mime = _MIME.get(source.suffix.lower(), "application/octet-stream")
                ingredient = {"title": source.name, "relationship": "parentOf", "label": "source"}
                try:
                    with open(source, "rb") as f:
                        builder.add_ingredient(ingredient, mime, f)
                except c2pa.C2paError as exc:  # a source type c2pa cannot parse: describe it only
                    log.info("C2PA ingredient %s added without its content: %s", source.name, exc)
                    ingredient["format"] = mime
                    builder.add_ingredient(ingredient, "application/octet-stream", io.BytesIO(b""))
            with open(path, "rb") as src, open(signed, "w+b") as dst:
                builder.sign(self._signer(), "video/mp4", src, dst)
            os.replace(signed, path)
        except c2pa.C2paError as exc:
            signed.unlink(missing_ok=True)
            raise OutputError(f"C2PA signing of {path.name} failed: {exc}") from None


def read_manifest(path: str | Path) -> dict[str, Any] | None:
    """Summary of the active C2PA manifest of ``path``, None when there is none."""
    c2pa = _c2pa()
    with open(path, "rb") as f:
        try:
            reader = c2pa.Reader(_MIME.get(Path(path).suffix.lower(), "video/mp4"), f)
        except c2pa.C2paError as exc:
            if "ManifestNotFound" in type(exc).__name__ or "not found" in str(exc).lower():
                return None
            raise
        store = json.loads(reader.json())
    manifest = store.get("manifests", {}).get(store.get("active_manifest"), {})
    actions = []
    for assertion in manifest.get("assertions", []):
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions += assertion.get("data", {}).get("actions", [])
    names = [a.get("action") for a in actions]
    anonymized = any(a.get("action") == EDIT_ACTION and a.get("digitalSourceType") == DIGITAL_SOURCE_TYPE
                     for a in actions)
    return {
        "actions": names,
        "anonymized": anonymized,
        "ingredients": [i.get("title") for i in manifest.get("ingredients", [])],
        "validation_state": store.get("validation_state"),
        "validation_errors": [s.get("code") for s in (store.get("validation_status") or [])],
        "signer": (manifest.get("signature_info") or {}).get("issuer"),
    }
