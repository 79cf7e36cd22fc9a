"""Loaders of real recordings: documented shapes; the bundled 92-image copy equals the original files."""

import numpy as np
import pytest
from scipy.spatial.distance import squareform
from scipy.stats import spearmanr

from neurodcn.data.recordings import (
    SHARED_RECORDINGS,
    V4_SESSIONS,
    V4_TRIAL_SESSIONS,
    load_92_images,
    load_algonauts2019_rdms,
    load_cowley2023_v4,
    load_kriegeskorte2008_rdms,
)

K_DIR = SHARED_RECORDINGS / "kriegeskorte2008_92images"
A_DIR = SHARED_RECORDINGS / "algonauts2019_92images"
V4_DIR = SHARED_RECORDINGS / "cowley2023_v4"


def _need(path):
    if not path.is_dir():
        pytest.skip(f"{path} is absent: the real recordings are read from ../shared/data/recordings (not bundled)")


def test_bundled_92_images_and_rdms():
    x, table = load_92_images()
    assert x.shape == (92, 3, 64, 64) and float(x.min()) >= 0 and float(x.max()) <= 1
    assert table["stimulus_id"].tolist() == list(range(92))
    assert table["animate"].sum() + table["inanim"].sum() == 92
    assert load_92_images(size=32)[0].shape == (92, 3, 32, 32)
    rdms = load_kriegeskorte2008_rdms()
    assert rdms["monkey IT"].shape == (1, 92, 92)
    assert rdms["human IT"].shape == (8, 92, 92)
    assert rdms["human IT"]["subject"].values.tolist() == ["BE", "BE", "KO", "KO", "SN", "SN", "TI", "TI"]
    # the mean of the 4 subjects x 2 sessions is the paper's Fig. 1 human IT RDM
    np.testing.assert_allclose(rdms["human IT"].mean("rdm").values, rdms["human IT group"].values[0], atol=1e-9)
    for da in rdms.values():
        np.testing.assert_array_equal(np.diagonal(da.values, axis1=1, axis2=2), 0)
    with pytest.raises(ValueError, match="size"):
        load_92_images(size=0)


def test_bundle_equals_the_original_mat_files():
    _need(K_DIR)
    from scipy.io import loadmat

    bundled, original = load_kriegeskorte2008_rdms(), load_kriegeskorte2008_rdms(K_DIR)
    for k in bundled:
        np.testing.assert_array_equal(bundled[k].values, original[k].values)
    m = loadmat(K_DIR / "Kriegeskorte_Neuron2008_supplementalData.mat", squeeze_me=True, struct_as_record=False)
    full = np.stack([s.image for s in m["stimuli_92objs"]]).astype(np.float64) / 255  # [92, 175, 175, 3]
    x, _ = load_92_images()
    # the 64-px copy keeps each image's mean grey level (antialiased resize)
    np.testing.assert_allclose(x.mean(dim=(2, 3)).numpy(), full.mean(axis=(1, 2)), atol=0.01)


def test_algonauts_rdms_shapes_and_order():
    _need(A_DIR)
    rdms = load_algonauts2019_rdms()
    assert set(rdms) == {"EVC", "IT"}
    for da in rdms.values():
        assert da.shape == (15, 92, 92)
        np.testing.assert_allclose(da.values, da.values.transpose(0, 2, 1))
    # same image order as the Kriegeskorte set (README: Spearman 0.56 between the subject-mean IT and human IT)
    human = squareform(load_kriegeskorte2008_rdms()["human IT group"].values[0], checks=False)
    it = squareform(rdms["IT"].mean("rdm").values, checks=False)
    assert spearmanr(it, human).statistic == pytest.approx(0.56, abs=0.01)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_algonauts2019_rdms("/nonexistent/folder")


@pytest.mark.parametrize("session", sorted(V4_SESSIONS))
def test_v4_sessions_shapes(session):
    _need(V4_DIR)
    x, resp = load_cowley2023_v4(session)
    neurons, images = V4_SESSIONS[session]
    assert x.shape == (images, 3, 112, 112)
    assert resp.dims == ("presentation", "neuroid") and resp.shape == (images, neurons)
    assert resp["stimulus_id"].values.tolist() == list(range(1, images + 1))
    assert "no single trials" in resp.attrs["ceiling"] or "repeat-averaged" in resp.attrs["ceiling"]
    np.testing.assert_array_equal(resp.values.T, np.load(V4_DIR / f"resp_{session}.npy"))


def test_v4_single_trials_of_210325():
    _need(V4_DIR)
    x, trials = load_cowley2023_v4("210325", trials=True)
    raw = np.load(V4_DIR / "resp_raw_210325.npy")  # [50, 640, 10], missing repeats NaN
    assert x.shape == (640, 3, 112, 112) and trials.dims == ("presentation", "neuroid")
    assert trials.shape == (int(np.sum(~np.isnan(raw[0]))), 50)  # one row per recorded trial
    counts = np.bincount(trials["stimulus_id"].values)[1:]
    assert (counts.min(), np.median(counts), counts.max()) == (6, 8, 10)  # README: 6 to 10, median 8
    # the trial mean of each image is the repeat-averaged file
    mean = trials.groupby("stimulus_id").mean("presentation")
    np.testing.assert_allclose(mean.values.T, np.load(V4_DIR / "resp_210325.npy"), rtol=1e-12)
    first = trials.isel(presentation=np.flatnonzero(trials["stimulus_id"].values == 5))
    assert first["repetition"].values.tolist() == list(range(first.sizes["presentation"]))
    np.testing.assert_array_equal(first.values.T, raw[:, 4, : first.sizes["presentation"]])
    assert "split_half_reliability" in trials.attrs["ceiling"]
    assert "trials=True" in load_cowley2023_v4("210325")[1].attrs["ceiling"]
    for session in sorted(set(V4_SESSIONS) - set(V4_TRIAL_SESSIONS)):
        with pytest.raises(ValueError, match="no single trials"):
            load_cowley2023_v4(session, trials=True)


def test_v4_unknown_session():
    with pytest.raises(ValueError, match="session must be one of"):
        load_cowley2023_v4("000000")
