"""neurodcn demo: runs the four analyses, writes a README listing exactly the files present, reports the
parameter count; the `neurodcn demo` subcommand."""

import re

import pytest

import neurodcn as nd
from neurodcn.demo import run_demo
from neurodcn.paper import DEMO_ORDER
from neurodcn.paper.results import read_index, write_readme


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model = nd.build_model(
        "dcn-ode", width=4, seed=0, solver=dict(method="rk4", step_size=0.5, adjoint=False)
    )
    return nd.save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny.pt")


def _listed(readme) -> dict:
    """{file: description} from the README's table rows."""
    return dict(re.findall(r"^\| `([^`]+)` \| (.*) \|$", readme.read_text(), flags=re.M))


@pytest.mark.slow
def test_demo_writes_every_analysis_and_a_readme_of_exactly_the_files(tiny, tmp_path):
    lines = []
    out = tmp_path / "results"
    results = run_demo(out, quick=True, checkpoint=tiny, progress=False, echo=lines.append)
    assert list(results) == list(DEMO_ORDER)
    present = {p.name for p in out.iterdir()}
    listed = _listed(out / "README.md")
    assert set(listed) == present
    written = {n for r in results.values() for n in r.files}
    assert written | {"README.md", "index.json"} == present
    assert {n.rsplit(".", 1)[1] for n in written} == {"nc", "png", "csv"}
    assert all(desc and "not written" not in desc and "earlier run" not in desc for desc in listed.values())
    n_params = sum(p.numel() for p in nd.load_checkpoint(tiny)[0].parameters())
    assert f"{n_params:,} parameters" in lines[0]
    # the rk4 model's contrast sweep is solved with dopri5, so NFE can follow the contrast; the others keep rk4
    runs = read_index(out)["runs"]
    assert runs["fig5_contrast"]["settings"]["solver"] == "dopri5"
    assert runs["fig4_pattern_completion"]["settings"]["solver"] == "rk4"
    # a file the demo did not write is listed as such; an older result is marked as older
    (out / "notes.txt").write_text("mine")
    write_readme(out, this_run={"fig3_sigma.nc"})
    listed = _listed(out / "README.md")
    assert set(listed) == present | {"notes.txt"}
    assert listed["notes.txt"] == "not written by the neurodcn analyses"
    assert "earlier run" in listed["fig5_contrast.png"] and "earlier run" not in listed["fig3_sigma.nc"]


def test_demo_command_reports_a_missing_checkpoint(tmp_path, capsys):
    from neurodcn.cli import main

    code = main(["demo", "--out", str(tmp_path / "r"), "--quick", "--checkpoint", str(tmp_path / "none.pt")])
    assert code == 2 and "none.pt" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_demo_skips_sigma_for_a_model_without_srf_layers(tmp_path):
    path = nd.save_checkpoint(nd.build_model("resnet-blocks", width=4, seed=0), tmp_path / "res.pt")
    lines = []
    results = run_demo(tmp_path / "out", quick=True, checkpoint=path, progress=False, echo=lines.append)
    assert "fig3_sigma" not in results and any("fig3_sigma skipped" in line for line in lines)
    readme = tmp_path / "out" / "README.md"
    assert set(_listed(readme)) == {p.name for p in (tmp_path / "out").iterdir()}
    assert "fig3_sigma skipped: resnet-blocks has no SRF layers" in readme.read_text()
    # no ODE blocks: only the naive contrast regime, and pattern completion without D(t)
    assert set(results["fig5_contrast"].files) == {"fig5_contrast.png", "fig5_contrast_naive.nc"}
    assert "fig4_completion_dynamics.png" not in results["fig4_pattern_completion"].files
