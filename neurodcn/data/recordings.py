"""Real recordings to compare models with: the 92-image set (bundled) and two sets read from a user's path.

Brain RDMs are returned as xr.DataArray with dims ("rdm", "stimulus_a", "stimulus_b"): one symmetric
dissimilarity matrix (1 - Pearson r, units "1") per row of "rdm", whose coords ``subject`` and ``session``
say where it came from (noise ceilings group RDMs by subject). Responses are Brain-Score-style DataArrays
(presentation x neuroid, coord stimulus_id).

* 92 images (Kriegeskorte et al. 2008, Neuron 60:1126; Kiani et al. 2007, J Neurophysiol 97:4296): the
  images and the monkey and human IT RDMs ship with neurodcn (``neurodcn/_data/kriegeskorte2008``; source
  rsagroup/rsatoolbox, MIT, demos/92imageData), the images downsampled to 64 x 64 px.
* Algonauts 2019 fMRI RDMs of EVC and IT, 15 subjects, same 92 images (Cichy, Pantazis & Oliva 2014, Nat
  Neurosci 17:455; Cichy et al. 2019, arXiv:1905.05675): research use only, never bundled; read from a path.
* Cowley et al. 2023 V4 responses (bioRxiv 2023.11.22.568315; GPL-3.0): never bundled; read from a path.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy.spatial.distance import squareform

from neurodcn.io.limits import check_archive, check_regular, read_bounded
from neurodcn.validate import check_bool, check_choice, check_int

__all__ = [
    "SHARED_RECORDINGS",
    "V4_SESSIONS",
    "V4_TRIAL_SESSIONS",
    "recordings_dir",
    "load_92_images",
    "load_kriegeskorte2008_rdms",
    "load_algonauts2019_rdms",
    "load_cowley2023_v4",
    "build_92image_bundle",
    "rdm_array",
]

SHARED_RECORDINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "recordings"
"""The offline copies beside a source checkout (../shared/data/recordings from the repository root)."""

V4_SESSIONS = {"190923": (33, 1200), "201025": (89, 1200), "210225": (55, 1200), "210325": (50, 640)}
"""Cowley et al. 2023 test sessions: (neurons, images)."""

V4_TRIAL_SESSIONS = ("210325",)
"""The V4 sessions with single trials (resp_raw_<session>.npy); the others hold repeat averages only, so they
have no noise ceiling."""

_MAT = "Kriegeskorte_Neuron2008_supplementalData.mat"
_SUBJECT_MAT = "92_brainRDMs.mat"
_FLAGS = ("human", "face", "animal", "natural")


def _bundle_path() -> Path:
    return Path(str(resources.files("neurodcn").joinpath("_data", "kriegeskorte2008", "92images.npz")))


def recordings_dir(path, what: str = "recordings") -> Path:
    """``path`` as a folder that exists; FileNotFoundError naming it otherwise."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"the {what} folder {str(root)!r} does not exist; pass the folder that holds your copy "
            "(see neurodcn.data.recordings for sources and licences)"
        )
    return root


def rdm_array(rdms, subject, session=None, stimulus_id=None, **attrs) -> xr.DataArray:
    """RDMs [n_rdm, n, n] as a DataArray ("rdm", "stimulus_a", "stimulus_b") with subject/session coords."""
    arr = np.asarray(rdms, dtype=np.float64)
    n = arr.shape[-1]
    ids = np.arange(n) if stimulus_id is None else np.asarray(stimulus_id)
    coords = {
        "subject": ("rdm", np.asarray(subject, dtype=str)),
        "stimulus_a": ("stimulus_a", ids),
        "stimulus_b": ("stimulus_b", ids),
    }
    if session is not None:
        coords["session"] = ("rdm", np.asarray(session))
    base = {"long_name": "representational dissimilarity (1 - Pearson r)", "units": "1"}
    return xr.DataArray(arr, dims=("rdm", "stimulus_a", "stimulus_b"), coords=coords, attrs={**base, **attrs})


def build_92image_bundle(mat_dir, out, size: int = 64) -> Path:
    """Write the bundled 92-image file from the two .mat files of ``mat_dir`` (images resized to size px)."""
    from scipy.io import loadmat

    from neurodcn.nn.resize import resize

    mat_dir = Path(mat_dir)
    m = loadmat(mat_dir / _MAT, squeeze_me=True, struct_as_record=False)
    subj = loadmat(mat_dir / _SUBJECT_MAT, squeeze_me=True, struct_as_record=False)["RDMs"]
    raw = np.stack([s.image for s in m["stimuli_92objs"]])  # [92, 175, 175, 3] uint8
    x = torch.from_numpy(raw).permute(0, 3, 1, 2).to(torch.float64) / 255.0
    small = resize(x, out_size=(size, size), antialias=True).clamp(0, 1)
    images = np.rint(small.permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)
    names = [str(r.name) for r in m["RDMs_mIT_hIT_fig1"]]
    np.savez_compressed(
        out,
        images=images,
        category_vectors=np.asarray(m["categoryVectors"], dtype=np.uint8),
        category_labels=np.asarray(m["categoryLabels"], dtype=str),
        flags=np.array([[getattr(s, f) for f in _FLAGS] for s in m["stimuli_92objs"]], dtype=np.uint8),
        fig1_names=np.asarray(names),
        fig1_rdms=np.stack([np.asarray(r.RDM, dtype=np.float64) for r in m["RDMs_mIT_hIT_fig1"]]),
        subject_rdms=np.stack([squareform(np.asarray(r.RDM, dtype=np.float64), checks=False) for r in subj.ravel()]),
        subject_names=np.array([str(r.name) for r in subj.ravel()]),
    )
    return Path(out)


def _bundle() -> dict:
    path = _bundle_path()
    if not path.is_file():
        raise FileNotFoundError(f"the bundled 92-image file {path} is missing: reinstall neurodcn")
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def load_92_images(size: int | None = None) -> tuple[torch.Tensor, pd.DataFrame]:
    """The 92 object images of Kriegeskorte et al. 2008 (bundled, 64 x 64 px, object on grey).

    size: None (64 px) or a pixel size to resize to with neurodcn.nn.resize (antialiased).
    Returns (images float32 [92, 3, S, S] in [0, 1], table with stimulus_id 0..91, the flags human, face,
    animal, natural and the 12 category columns of ``categoryVectors``).
    """
    b = _bundle()
    x = torch.from_numpy(b["images"]).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if size is not None:
        size = check_int("size", size, minimum=1)
        from neurodcn.nn.resize import resize

        x = resize(x, out_size=(size, size), antialias=True).clamp(0, 1)
    table = pd.DataFrame({"stimulus_id": np.arange(92)})
    for j, f in enumerate(_FLAGS):
        table[f] = b["flags"][:, j].astype(bool)
    for j, label in enumerate(b["category_labels"]):
        table[str(label)] = b["category_vectors"][:, j].astype(bool)
    return x.contiguous(), table


_CITE_K = "Kriegeskorte et al. 2008, Neuron 60:1126; monkey IT: Kiani et al. 2007, J Neurophysiol 97:4296"


def load_kriegeskorte2008_rdms(path=None) -> dict[str, xr.DataArray]:
    """Brain RDMs of the 92 images: "monkey IT" (674 neurons, one RDM), "human IT" (fMRI, 4 subjects x 2
    sessions; their mean is the paper's Fig. 1 RDM) and "human IT group" (the Fig. 1 RDM, 316 voxels).

    path: None (the bundled copy) or a folder holding the two original .mat files.
    """
    if path is None:
        b = _bundle()
        fig1, fig1_names = b["fig1_rdms"], [str(n) for n in b["fig1_names"]]
        subj, subj_names = b["subject_rdms"], [str(n) for n in b["subject_names"]]
    else:
        from scipy.io import loadmat

        root = recordings_dir(path, "Kriegeskorte 2008")
        m = loadmat(root / _MAT, squeeze_me=True, struct_as_record=False)["RDMs_mIT_hIT_fig1"]
        fig1, fig1_names = np.stack([np.asarray(r.RDM, dtype=np.float64) for r in m]), [str(r.name) for r in m]
        s = loadmat(root / _SUBJECT_MAT, squeeze_me=True, struct_as_record=False)["RDMs"].ravel()
        subj, subj_names = np.stack([squareform(np.asarray(r.RDM, float), checks=False) for r in s]), [
            str(r.name) for r in s
        ]
    full = {n: squareform(v) for n, v in zip(fig1_names, fig1, strict=True)}
    parsed = [re.match(r"hIT \| (\w+) \| Session: (\d+)", n) for n in subj_names]
    return {
        "monkey IT": rdm_array(
            full["mIT_674neurons"][None], ["monkey"], source="mIT_674neurons", citation=_CITE_K
        ),
        "human IT": rdm_array(
            np.stack([squareform(v) for v in subj]),
            [p.group(1) for p in parsed],
            [int(p.group(2)) for p in parsed],
            source="92_brainRDMs.mat",
            citation=_CITE_K,
        ),
        "human IT group": rdm_array(
            full["hITvisStim_316vx"][None], ["group"], source="hITvisStim_316vx", citation=_CITE_K
        ),
    }


def load_algonauts2019_rdms(path=None) -> dict[str, xr.DataArray]:
    """The Algonauts 2019 fMRI RDMs of the 92 images: {"EVC": [15, 92, 92], "IT": [15, 92, 92]} (one RDM per
    subject). path: a folder holding 92images_fmri_{EVC,IT}_RDMs.gzip; None: SHARED_RECORDINGS/
    algonauts2019_92images. Research use only: never copy these files into a package."""
    root = recordings_dir(SHARED_RECORDINGS / "algonauts2019_92images" if path is None else path, "Algonauts 2019")
    out = {}
    for region in ("EVC", "IT"):
        f = root / f"92images_fmri_{region}_RDMs.gzip"
        if not f.is_file():
            raise FileNotFoundError(f"{str(f)!r} does not exist (the Algonauts 2019 {region} RDMs)")
        check_regular(f)
        with gzip.open(f) as fh:
            d = json.loads(read_bounded(fh, f"{str(f)!r} (decompressed)"))
        arr = np.asarray(d["data"], dtype=np.float64).reshape(d["shape"])
        out[region] = rdm_array(
            arr,
            [f"subject{i + 1:02d}" for i in range(arr.shape[0])],
            source=f.name,
            citation="Cichy, Pantazis & Oliva 2014, Nat Neurosci 17:455; Cichy et al. 2019, arXiv:1905.05675",
        )
    return out


def load_cowley2023_v4(session: str, path=None, trials: bool = False) -> tuple[torch.Tensor, xr.DataArray]:
    """One V4 session of Cowley et al. 2023: (images float32 [n, 3, 112, 112] in [0, 1], responses).

    responses: presentation x neuroid, spike counts in one 100 ms window after onset (units "spikes"), coord
    stimulus_id = image number (1-based, as in imageNNNN.jpg; image ``stimulus_id - 1`` of the tensor),
    neuroid_id. trials=False: one presentation per image, the repeat average (resp_<session>.npy).
    trials=True: one presentation per recorded trial, Brain-Score style (stimulus_id repeats; coord
    ``repetition`` counts from 0), from resp_raw_<session>.npy with the NaN-padded missing repeats dropped (6 to
    10 trials per image in 210325); its mean per stimulus_id is the repeat average. Only V4_TRIAL_SESSIONS have
    single trials: for the others trials=True is an error and no noise ceiling can be computed (attr
    ``ceiling`` says so). session: one of V4_SESSIONS. path: a folder with resp_<session>.npy (and
    resp_raw_<session>.npy) and images_<session>.zip; None: SHARED_RECORDINGS/cowley2023_v4. GPL-3.0: never
    copy these files into a package.
    """
    from PIL import Image

    check_choice("session", session, V4_SESSIONS)
    trials = check_bool("trials", trials)
    if trials and session not in V4_TRIAL_SESSIONS:
        raise ValueError(f"session {session} holds repeat-averaged responses only (no single trials); sessions "
                         f"with single trials: {', '.join(V4_TRIAL_SESSIONS)}")
    root = recordings_dir(SHARED_RECORDINGS / "cowley2023_v4" if path is None else path, "Cowley 2023 V4")
    name = f"resp_raw_{session}.npy" if trials else f"resp_{session}.npy"
    check_regular(root / name)
    resp = np.load(root / name, allow_pickle=False)  # [neurons, images (, repeats)]
    n_neurons, n_images = resp.shape[:2]
    images = {}
    check_archive(root / f"images_{session}.zip")
    with zipfile.ZipFile(root / f"images_{session}.zip") as z:
        for zname in z.namelist():
            m = re.search(r"image(\d+)\.jpg$", zname)
            if m:
                with Image.open(io.BytesIO(z.read(zname))) as im:
                    images[int(m.group(1))] = np.asarray(im.convert("RGB"))
    ids = np.arange(1, n_images + 1)
    missing = sorted(set(ids) - set(images))
    if missing:
        raise ValueError(f"images_{session}.zip lacks images {missing[:5]}... for the response columns")
    x = torch.from_numpy(np.stack([images[i] for i in ids])).permute(0, 3, 1, 2).to(torch.float32) / 255.0
    if trials:
        image, repetition = np.nonzero(~np.isnan(resp[0]))  # missing repeats are NaN for every neuron
        values = resp[:, image, repetition].T
        if np.isnan(values).any():
            raise ValueError(f"{name}: the missing (NaN) repeats differ between neurons")
        coords = {"stimulus_id": ("presentation", ids[image]), "repetition": ("presentation", repetition)}
        what = "single-trial spike count"
        ceiling = "single trials: neurodcn.analysis.compare.split_half_reliability gives the noise ceiling"
    else:
        values, coords = resp.T, {"stimulus_id": ("presentation", ids)}
        what = "repeat-averaged spike count"
        ceiling = ("repeat-averaged responses; single trials for a noise ceiling: trials=True" if session in
                   V4_TRIAL_SESSIONS else "none: the data hold repeat-averaged responses only (no single trials)")
    da = xr.DataArray(
        values,
        dims=("presentation", "neuroid"),
        coords={**coords, "neuroid_id": ("neuroid", np.arange(n_neurons))},
        name="responses",
        attrs={
            "long_name": f"{what}, 100 ms window after onset",
            "units": "spikes",
            "region": "V4",
            "session": session,
            "ceiling": ceiling,
            "citation": "Cowley, Stan, Pillow & Smith 2023, bioRxiv 2023.11.22.568315",
            "licence": "GPL-3.0",
        },
    )
    return x.contiguous(), da
