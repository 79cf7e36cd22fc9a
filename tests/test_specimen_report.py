"""analyses/specimen_report.py: block dynamics against forward hooks on the ODE blocks (its scales are
VirtualCortex.learned_scales: tests/test_learned_scales.py)."""

import numpy as np
import torch

from analyses import specimen_report
from neurodcn import SolverConfig, VirtualCortex, build_model

EULER = SolverConfig(method="euler", step_size=0.5, adjoint=False)


def _cortex(model):
    return VirtualCortex(model, visual_degrees=8.0, progress=False)


def test_block_change_is_the_relative_distance_between_each_blocks_input_and_output():
    model = build_model("dcn-ode", width=2, seed=0, solver=EULER).eval()
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    seen = {}
    for i, (_, block) in enumerate(model.ode_blocks()):
        block.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(i, (a[0].detach(), out.detach())))
    with torch.no_grad():
        model(images)
    got = specimen_report.block_change(_cortex(model), images)
    for i, (h0, hT) in seen.items():
        expected = ((hT - h0).flatten(1).norm(dim=1) / h0.flatten(1).norm(dim=1)).numpy()
        rows = got[got.block == f"block{i + 1}"].sort_values("image")
        np.testing.assert_allclose(rows.relative_change, expected, rtol=1e-4)
