"""``streamanon gst-path``: the export lines (no GStreamer needed) and that the plugin files ship."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streamanon.cli import main
from streamanon.gst import PLUGIN_DIR, environment, python_path


def test_prints_export_lines_that_a_shell_evaluates(capsys, tmp_path):
    assert main(["gst-path"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["export GST_PLUGIN_PATH", "export PYTHONPATH",
                                                         "export OMP_WAIT_POLICY", "export OPENBLAS_NUM_THREADS"]
    script = "\n".join(lines) + ('\nprintf "%s\\n%s\\n%s\\n%s\\n" "$GST_PLUGIN_PATH" "$PYTHONPATH" '
                                 '"$OMP_WAIT_POLICY" "$OPENBLAS_NUM_THREADS"\n')
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "/already/there", "OMP_WAIT_POLICY": "ACTIVE"}
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    plugin_path, py_path, omp, blas = out.splitlines()
    assert plugin_path == str(PLUGIN_DIR), "no stray ':' when GST_PLUGIN_PATH was unset"
    assert py_path.split(":") == python_path() + ["/already/there"], "ours first, the caller's kept"
    assert (omp, blas) == ("ACTIVE", "1"), "the pipeline's thread settings, the caller's own kept"


def test_paths_make_the_plugin_and_the_package_importable():
    plugins = sorted(p.name for p in (PLUGIN_DIR / "python").glob("*.py"))
    assert plugins == ["streamanon_element.py", "streamanon_sei_element.py"]
    paths = python_path()
    assert (Path(paths[0]) / "streamanon" / "__init__.py").exists(), "the package root comes first"
    assert any((Path(p) / "numpy").is_dir() for p in paths), "this environment's site-packages are listed"
    assert environment({})["PYTHONPATH"] == ":".join(paths)
    # an isolated interpreter (no site-packages, no .pth files) given only these folders, as
    # the loader's embedded Python is: the package and the venv's numpy resolve from them
    code = "import streamanon, numpy; print(streamanon.__file__); print(numpy.__version__)"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path[:0] = {paths!r}; {code}"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith(paths[0]) and out[1].split(".")[0] == "1", "numpy<2 from the venv"


def test_quotes_odd_characters():
    from streamanon.commands.gst_path import _quoted

    value = 'a b"c$d`e\\f'
    out = subprocess.run(["bash", "-c", f"printf %s {_quoted(value)}"], capture_output=True, text=True,
                         check=True).stdout
    assert out == value
