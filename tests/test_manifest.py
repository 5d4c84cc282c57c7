"""manifest.csv rows are trusted only when they point inside the data folder, at real epochs."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from eegemo.cli import main
from eegemo.eeg.dataset import TopomapDataset
from eegemo.errors import EegemoError
from eegemo.manifest import read_manifest

from .synthetic_topomaps import make_topomap_folder


@pytest.fixture
def topo(tmp_path):
    return make_topomap_folder(tmp_path / "topo", n_subjects=2, epochs_per_class=3, res=8)


def edit_row(folder, line: int, **values) -> None:
    """Change the row on ``line`` of ``folder/manifest.csv`` (the header is line 1)."""
    path = folder / "manifest.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[line - 2].update(values)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_paths_outside_the_data_folder_are_refused_naming_the_line(topo, tmp_path):
    outside = tmp_path / "elsewhere.npy"
    np.save(outside, np.zeros((3, 5, 8, 8), np.float32))
    cases = [
        (str(outside), "is absolute"),
        ("/etc/passwd", "is absolute"),
        ("../elsewhere.npy", "leads outside the data folder"),
        ("S00/../../elsewhere.npy", "leads outside the data folder"),
        ("", "is empty"),
    ]
    for path, problem in cases:
        edit_row(topo, 4, path=path)
        with pytest.raises(EegemoError) as info:
            read_manifest(topo)
        message = str(info.value)
        assert "manifest.csv, line 4: path" in message and problem in message, message
        assert "\n" not in message and "pickle" not in message


def test_a_symbolic_link_out_of_the_data_folder_is_refused(topo, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    np.save(outside / "x.npy", np.zeros((3, 5, 8, 8), np.float32))
    (topo / "link").symlink_to(outside, target_is_directory=True)
    edit_row(topo, 3, path="link/x.npy")
    with pytest.raises(EegemoError, match=r"line 3: path 'link/x.npy' leads outside"):
        read_manifest(topo)


def test_a_path_that_stays_inside_is_accepted(topo):
    shutil.copy(topo / "S00" / "S00_rest_topomaps.npy", topo / "copy.npy")
    edit_row(topo, 2, path="S01/../copy.npy")
    assert read_manifest(topo).paths[0] == "S01/../copy.npy"


@pytest.mark.parametrize("index", ["-1", "-7", "1.5", "", "x"])
def test_indices_must_be_non_negative_integers(topo, index):
    edit_row(topo, 5, index=index)
    with pytest.raises(EegemoError, match=rf"line 5: index must be a whole number >= 0, got "
                                          rf"'{index}'"):
        read_manifest(topo)


@pytest.mark.parametrize("normalization", ["subject", "global", "none"])
def test_an_index_beyond_the_array_is_refused_naming_the_line(topo, normalization):
    from eegemo.eeg.dataset import fit_band_stats

    edit_row(topo, 6, index="3")  # S00_task holds epochs 0, 1 and 2
    manifest = read_manifest(topo)
    with pytest.raises(EegemoError, match=r"manifest.csv, line 6: index 3 is beyond the 3 "
                                          r"epochs of S00/S00_task_topomaps.npy"):
        stats = fit_band_stats(manifest) if normalization == "global" else None
        TopomapDataset(manifest, ["rest", "task"], normalization, stats)


def test_a_file_that_is_not_an_array_gets_a_plain_message(topo):
    (topo / "S00" / "notes.npy").write_text("root:x:0:0:root:/root:/bin/bash\n")
    edit_row(topo, 2, path="S00/notes.npy")
    with pytest.raises(EegemoError, match=r"notes.npy: cannot read topomaps: not a NumPy .npy "
                                          r"file$"):
        TopomapDataset(read_manifest(topo), ["rest", "task"], "none")


def test_train_stops_with_one_line_naming_the_row(topo, tmp_path, capsys):
    edit_row(topo, 7, index="-1")
    code = main(["train", "--data", str(topo), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "manifest.csv, line 7: index" in err
    edit_row(topo, 7, index="0", path="/etc/passwd")
    code = main(["train", "--data", str(topo), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and "line 7: path '/etc/passwd' is absolute" in err
    assert not (tmp_path / "run").exists()


def test_files_of_different_shapes_are_refused(topo):
    np.save(topo / "S01" / "small.npy", np.zeros((3, 5, 4, 4), np.float32))
    edit_row(topo, 8, path="S01/small.npy", index="0")
    with pytest.raises(EegemoError, match=r"small.npy: topomaps of shape \(5, 4, 4\), but "
                                          r"S00/S00_rest_topomaps.npy has \(5, 8, 8\)"):
        TopomapDataset(read_manifest(topo), ["rest", "task"], "none")
