"""Readers for the standard benchmarks, from a folder the user downloaded (no download code).

Each reader is a :class:`~gaugeconv.data.MeshDataset` with the benchmark's files, targets and
published split; docs/data.md gives the exact layout each expects. When ``root`` does not hold the
data, they raise :class:`DatasetNotFoundError` with one line saying what is missing and where the
data and its licence are published.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..mesh import MESH_SUFFIXES
from .dataset import MeshDataset
from .labels import source_index

__all__ = ["FAUST", "SHREC11", "DatasetNotFoundError", "HumanSegmentation"]


class DatasetNotFoundError(FileNotFoundError):
    """A benchmark's files are not where the reader was pointed."""


def _split(split: str, allowed) -> str:
    if split not in allowed:
        raise ValueError(f"split must be one of {', '.join(allowed)}, got {split!r}")
    return split


def _meshes(folder: Path) -> list:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)


class FAUST(MeshDataset):
    """FAUST registrations (Bogo et al. 2014) for correspondence as vertex-index classification.

    The 100 registrations ``training/registrations/tr_reg_000.ply`` ... ``tr_reg_099.ply`` share
    one connectivity (6,890 vertices); the target of every vertex is its index in the file. Split
    as in GEM-CNN (de Haan et al. 2021) and the work it compares with: the first 80 train, the
    last 20 test.

    Parameters
    ----------
    root : the ``MPI-FAUST`` folder, or a folder holding it
    split : "train", "test" or "all"
    **kwargs : passed to :class:`MeshDataset` (levels, cache_dir, inputs (default "xyz"), ...)
    """

    SOURCE = "get MPI-FAUST from faust.is.tue.mpg.de (free registration; MPI licence, non-commercial research)"
    N_TRAIN = 80

    def __init__(self, root, split: str = "train", **kwargs):
        self.root, self.split = Path(root), _split(split, ("train", "test", "all"))
        candidates = (self.root, self.root / "MPI-FAUST")
        base = next((b for b in candidates if (b / "training" / "registrations").is_dir()), None)
        files = [] if base is None else [base / f"training/registrations/tr_reg_{i:03d}.ply" for i in range(100)]
        missing = [f for f in files if not f.is_file()]
        if base is None or missing:
            what = "training/registrations/" if base is None else f"{missing[0]} ({len(missing)} of 100 missing)"
            raise DatasetNotFoundError(f"FAUST not found under {root}: no {what}; {self.SOURCE}")
        chosen = {"train": files[: self.N_TRAIN], "test": files[self.N_TRAIN :], "all": files}[self.split]
        kwargs.setdefault("inputs", ("xyz",))
        super().__init__(chosen, **kwargs)
        self.target_kind = "vertex"

    def target(self, index: int, geometry) -> np.ndarray:
        """Every file vertex's own index ``(V_file,)``."""
        index_map = source_index(geometry)
        return np.arange(geometry.n_vertices if index_map is None else int(index_map.max()) + 1)


def _read_cla(path: Path) -> list:
    """A Princeton Shape Benchmark classification file: ``[(class name, [model ids])]``."""
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2 or lines[0][:1] != ["PSB"]:
        raise ValueError(f"{path}: not a PSB classification file (first line must be 'PSB 1')")
    classes, i = [], 2
    try:
        while i < len(lines):
            name, count = lines[i][0], int(lines[i][2])
            classes.append((name, [row[0] for row in lines[i + 1 : i + 1 + count]]))
            i += 1 + count
    except (IndexError, ValueError):
        raise ValueError(f"{path}: malformed class entry near line {i + 1}") from None
    return classes


class SHREC11(MeshDataset):
    """SHREC'11 non-rigid shape classification (Lian et al. 2011): 30 classes of 20 shapes.

    Two layouts (docs/data.md): the original track data, mesh files ``T<id>.<ext>`` (or
    ``<id>.<ext>``) beside one PSB classification file ``*.cla``, split per class at random with
    ``seed`` into ``train_per_class`` (default 10, the "split 10" protocol; 16 for "split 16")
    training shapes and the rest for testing; or MeshCNN's copy, ``<class>/train/*`` and
    ``<class>/test/*`` (its fixed split of 16 and 4 per class).

    Parameters
    ----------
    root : the folder holding either layout
    split : "train" or "test"
    train_per_class : training shapes per class (original layout only)
    seed : seed of the per-class random split (original layout only)
    **kwargs : passed to :class:`MeshDataset`; the class index is a per-mesh target and
        ``self.classes`` holds the class names
    """

    SOURCE = (
        "get the SHREC'11 non-rigid track data (Lian et al. 2011) from the track's organisers, or MeshCNN's "
        "shrec_16 copy (its scripts/shrec/get_data.sh); research use under the source's terms"
    )

    def __init__(self, root, split: str = "train", train_per_class: int | None = None, seed: int = 0, **kwargs):
        self.root, self.split = Path(root), _split(split, ("train", "test"))
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"SHREC'11 not found: {root} is not a folder; {self.SOURCE}")
        cla = sorted(self.root.glob("*.cla"))
        if cla:
            files, targets, classes = self._original(
                cla[0], split, 10 if train_per_class is None else train_per_class, seed
            )
        else:
            if train_per_class is not None:
                raise ValueError("train_per_class applies to the original layout (a .cla file), not to MeshCNN's copy")
            files, targets, classes = self._folders(split)
        super().__init__(files, targets, target_kind="mesh", **kwargs)
        self.classes = classes

    def _original(self, cla: Path, split: str, per_class: int, seed: int) -> tuple:
        rng = np.random.default_rng(seed)
        files, targets = [], []
        entries = _read_cla(cla)
        for label, (_, ids) in enumerate(entries):
            if not 0 < per_class < len(ids):
                raise ValueError(f"train_per_class must be in 1..{len(ids) - 1}, got {per_class}")
            paths = []
            for model in ids:
                found = [self.root / f"{p}{model}{s}" for p in ("T", "") for s in MESH_SUFFIXES]
                path = next((f for f in found if f.is_file()), None)
                if path is None:
                    raise DatasetNotFoundError(
                        f"SHREC'11 under {self.root}: no mesh file for model {model} of {cla.name}; {self.SOURCE}"
                    )
                paths.append(path)
            order = rng.permutation(len(paths))
            chosen = order[:per_class] if split == "train" else order[per_class:]
            files += [paths[i] for i in sorted(chosen)]
            targets += [label] * len(chosen)
        return files, targets, tuple(name for name, _ in entries)

    def _folders(self, split: str) -> tuple:
        classes = tuple(sorted(d.name for d in self.root.iterdir() if (d / split).is_dir()))
        if not classes:
            raise DatasetNotFoundError(
                f"SHREC'11 not found under {self.root}: no *.cla file and no <class>/{split}/ folders; {self.SOURCE}"
            )
        files, targets = [], []
        for label, name in enumerate(classes):
            found = _meshes(self.root / name / split)
            files += found
            targets += [label] * len(found)
        return files, targets, classes


class HumanSegmentation(MeshDataset):
    """Human body segmentation of Maron et al. 2017: 8 body-part labels per face.

    Layout (the authors' ``sig17_seg_benchmark`` folder, docs/data.md): meshes under
    ``meshes/<split>/<collection>/...`` and labels, one integer per face and line, under
    ``segs/<split>/<label collection>/``; train = adobe, faust, MIT_animation, scape (381
    meshes), test = shrec (18). Labels 1..8 in the files become targets 0..7.

    Parameters
    ----------
    root : the ``sig17_seg_benchmark`` folder
    split : "train" or "test"
    **kwargs : passed to :class:`MeshDataset`; targets are per face
    """

    SOURCE = (
        "get sig17_seg_benchmark from the project page of Maron et al. 2017 (Convolutional neural networks on "
        "surfaces via seamless toric covers); its meshes come from FAUST, SCAPE, MIT, Adobe and SHREC'07, each "
        "under its own licence (research use)"
    )
    N_CLASSES = 8

    def __init__(self, root, split: str = "train", **kwargs):
        self.root, self.split = Path(root), _split(split, ("train", "test"))
        mesh_root, seg_root = self.root / "meshes" / split, self.root / "segs" / split
        if not mesh_root.is_dir() or not seg_root.is_dir():
            raise DatasetNotFoundError(
                f"human segmentation data not found under {root}: need meshes/{split}/ and segs/{split}/; {self.SOURCE}"
            )
        files = sorted(p for p in mesh_root.rglob("*") if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
        if not files:
            raise DatasetNotFoundError(f"no meshes under {mesh_root}; {self.SOURCE}")
        self.label_files = [self._labels_for(p, mesh_root, seg_root) for p in files]
        super().__init__(files, target_kind="face", **kwargs)
        self.targets = None  # read per item: target() below
        self.target_kind = "face"

    @staticmethod
    def _labels_for(mesh: Path, mesh_root: Path, seg_root: Path) -> Path:
        parts = mesh.relative_to(mesh_root).parts
        collection = "mit" if parts[0].lower().startswith("mit") else parts[0].lower()
        folder = seg_root / collection
        names = [f"{mesh.stem}.txt", f"{mesh.stem}_full.txt"]
        names += [f"{collection}_{p[len('meshes_') :]}_corrected.txt" for p in parts[1:-1] if p.startswith("meshes_")]
        names.append(f"{collection}_corrected.txt")
        path = next((folder / n for n in names if (folder / n).is_file()), None)
        if path is None:
            raise DatasetNotFoundError(f"no labels for {mesh} in {folder} (tried {', '.join(names)})")
        return path

    def target(self, index: int, geometry) -> np.ndarray:
        path = self.label_files[index]
        try:
            labels = np.loadtxt(path, dtype=np.int64, ndmin=1)
        except ValueError:
            raise ValueError(f"{path}: expected one integer label per line") from None
        if labels.size and labels.min() >= 1 and labels.max() <= self.N_CLASSES:
            return labels - 1
        if labels.size and labels.min() >= 0 and labels.max() < self.N_CLASSES:
            return labels
        raise ValueError(f"{path}: labels must be 1..{self.N_CLASSES} (or 0..{self.N_CLASSES - 1})")
