"""C2PA signing of MP4 output with a throwaway CA, read back with c2pa-python."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from media import make_clip, pass_through

from streamanon.config import Config
from streamanon.errors import ConfigError, OutputError
from streamanon.io.metadata import DIGITAL_SOURCE_TYPE
from streamanon.provenance.verify import verify

c2pa = pytest.importorskip("c2pa", reason="c2pa-python not installed (extra 'c2pa')")
x509 = pytest.importorskip("cryptography.x509", reason="cryptography not installed")


def make_test_ca(folder: Path) -> tuple[Path, Path]:
    """A CA and a leaf signed by it (c2pa rejects self-signed leaves): chain PEM and key PEM."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "streamanon tests")])

    def builder(subject, issuer, public_key):
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=7)))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (builder(name("streamanon test CA"), name("streamanon test CA"), ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (builder(name("streamanon test signer"), name("streamanon test CA"), key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = folder / "chain.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    private = folder / "signer.key"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return chain, private


@pytest.fixture
def signing_config(tmp_path) -> Config:
    cert, key = make_test_ca(tmp_path)
    return Config().override({"encoder.preset": "ultrafast", "provenance.c2pa_cert": str(cert),
                              "provenance.c2pa_key": str(key)})


@pytest.mark.parametrize("src_ext", ["mp4", "mkv"])
def test_sign_and_read_back(tmp_path, signing_config, src_ext):
    src = make_clip(tmp_path / f"source.{src_ext}", frames=8)
    dst = pass_through(src, tmp_path / "signed.mp4", signing_config)
    with open(dst, "rb") as f:
        store = __import__("json").loads(c2pa.Reader("video/mp4", f).json())
    manifest = store["manifests"][store["active_manifest"]]
    actions = [a for s in manifest["assertions"] if s["label"].startswith("c2pa.actions")
               for a in s["data"]["actions"]]
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert actions[1]["digitalSourceType"] == DIGITAL_SOURCE_TYPE
    assert [i["title"] for i in manifest["ingredients"]] == [src.name]
    assert manifest["signature_info"]["issuer"] == "streamanon tests"
    codes = {s["code"] for s in store.get("validation_status") or []}
    assert codes <= {"signingCredential.untrusted"}  # only "test CA not in the trust list"
    report = verify(dst)  # SEI, tags and sidecar hash survive signing
    assert report.ok, report.problems
    assert report.c2pa["anonymized"] and report.c2pa["actions"] == ["c2pa.opened", "c2pa.edited"]


def test_mkv_output_cannot_be_signed(tmp_path, signing_config):
    src = make_clip(tmp_path / "source.mp4", frames=3, audio=False)
    with pytest.raises(OutputError, match="C2PA"):
        pass_through(src, tmp_path / "out.mkv", signing_config)
    assert not (tmp_path / "out.mkv").exists()


def test_key_without_certificate_is_config_error(tmp_path, signing_config):
    src = make_clip(tmp_path / "source.mp4", frames=3, audio=False)
    config = signing_config.override({"provenance.c2pa_cert": None})
    with pytest.raises(ConfigError):
        pass_through(src, tmp_path / "out.mp4", config)


def test_garbage_key_is_config_error(tmp_path, signing_config):
    src = make_clip(tmp_path / "source.mp4", frames=3, audio=False)
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="c2pa_key"):
        pass_through(src, tmp_path / "out.mp4", signing_config.override({"provenance.c2pa_key": str(bad)}))


def test_missing_c2pa_package(tmp_path, signing_config, monkeypatch):
    """Without c2pa-python: signing asks for the extra; verify still checks everything else."""
    from streamanon.errors import BackendUnavailableError

    src = make_clip(tmp_path / "source.mp4", frames=4, audio=False)
    plain = pass_through(src, tmp_path / "plain.mp4")
    monkeypatch.setitem(__import__("sys").modules, "c2pa", None)  # import c2pa -> ImportError
    with pytest.raises(BackendUnavailableError) as err:
        pass_through(src, tmp_path / "signed.mp4", signing_config)
    assert (err.value.backend, err.value.extra) == ("c2pa", "c2pa")
    assert not (tmp_path / "signed.mp4").exists()
    report = verify(plain)
    assert report.ok and report.c2pa is None
