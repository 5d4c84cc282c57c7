"""eegemo as a package: the wheel, the recipes it ships, and --config by name."""

from __future__ import annotations

import csv
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from eegemo.config import read_toml, recipe_names, resolve_recipe
from eegemo.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_the_wheel():
    listed = set(read_toml(ROOT / "pyproject.toml")["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "eegemo").rglob("__init__.py")}
    assert found | {"eegemo.pipelines"} == listed


def test_recipes_are_found_by_name_and_a_file_wins(tmp_path, monkeypatch):
    shipped = {p.stem for p in (ROOT / "pipelines").glob("*.toml")}
    assert set(recipe_names()) == shipped and {"eegmat", "fer-cpu"} <= shipped
    assert resolve_recipe("eegmat").read_bytes() == (ROOT / "pipelines/eegmat.toml").read_bytes()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "eegmat").write_text('line_freq = 60.0\n')
    assert resolve_recipe("eegmat") == Path("eegmat")
    with pytest.raises(ConfigError, match=r"^nonesuch: config file not found \(shipped recipes: "
                                          r"default, eegmat, "):
        resolve_recipe("nonesuch")
    with pytest.raises(ConfigError, match=r"^sub/eegmat: config file not found$"):
        resolve_recipe("sub/eegmat")


@pytest.mark.slow
def test_a_wheel_in_a_fresh_environment_preprocesses_with_a_recipe_by_name(tmp_path):
    """Build the wheel, install it alone into a new virtual environment whose other
    packages come from this one, and run ``eegemo preprocess --config eegmat`` there."""
    from mne.export import export_raw

    from eegemo.eeg.simulate import simulate_recording

    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True, capture_output=True)
    wheel = next(wheels.glob("eegemo-*.whl"))
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies (torch, MNE...) from this environment, after the environment's own
    (Path(own) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True)

    raw = tmp_path / "raw"
    raw.mkdir()
    for condition, number in (("rest", 1), ("task", 2)):
        recording = simulate_recording(1, condition, duration=30.0, seed=number)
        export_raw(raw / f"Subject01_{number}.edf", recording, fmt="edf", verbose="error")
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import eegemo; print(eegemo.__file__)"],
                           check=True, capture_output=True, text=True, env=clean_env,
                           cwd=tmp_path)
    assert where.stdout.startswith(own)
    assert subprocess.run([str(env_dir / "bin" / "eegemo"), "--help"], capture_output=True,
                          env=clean_env, cwd=tmp_path).returncode == 0
    done = subprocess.run([str(env_dir / "bin" / "eegemo"), "preprocess", str(raw),
                           str(tmp_path / "out"), "--config", "eegmat", "--no-progress"],
                          capture_output=True, text=True, env=clean_env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    with open(tmp_path / "out" / "manifest.csv", newline="") as fh:
        labels = {row["label"] for row in csv.DictReader(fh)}
    assert labels == {"rest", "task"}  # eegmat's label_map, so the recipe was read
    shipped = subprocess.run(
        [str(python), "-c", "from eegemo.face.shipped import default_model_path; "
         "print(default_model_path())"],
        capture_output=True, text=True, env=clean_env, cwd=tmp_path)
    assert shipped.returncode == 0, shipped.stderr  # the face model is in the wheel, intact
    assert shipped.stdout.startswith(own)


def test_eeg_work_runs_without_the_face_extra(tmp_path, monkeypatch, capsys):
    import sys

    from PIL import Image

    from eegemo.cli import main

    from .synthetic_topomaps import make_topomap_folder

    # `import cv2` or `import timm.layers` now raise ImportError, as without the extra
    blocked = [m for m in sys.modules if m.split(".")[0] in ("cv2", "timm")]
    for name in {*blocked, "cv2", "timm"}:
        monkeypatch.setitem(sys.modules, name, None)
    data = make_topomap_folder(tmp_path / "data", n_subjects=4, epochs_per_class=6)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--no-progress",
                 "--set", "epochs=1", "--set", "threads=1"]) == 0
    photo = tmp_path / "face.png"
    Image.new("L", (96, 96), 128).save(photo)
    capsys.readouterr()
    assert main(["predict", str(photo)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'eegemo[face]'" in err
