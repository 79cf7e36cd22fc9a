"""Random crop with zero padding and horizontal flip, against hand-worked cases and plain slicing."""

import pytest
import torch
import torch.nn.functional as F

from neurodcn.data.augment import crop_flip, random_crop_flip


def test_crop_flip_hand_computed():
    img = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    images = torch.cat([torch.cat([img, -img], 1)] * 2)  # [2, 2, 3, 3]: channel 1 is the negative
    out = crop_flip(images, torch.tensor([0, 2]), torch.tensor([0, 1]), torch.tensor([False, True]), padding=1)
    # padded image: zero border around [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    first = torch.tensor([[0.0, 0, 0], [0, 1, 2], [0, 4, 5]])  # rows 0..2, columns 0..2
    second = torch.tensor([[6.0, 5, 4], [9, 8, 7], [0, 0, 0]])  # rows 2..4, columns 1..3, mirrored
    assert torch.equal(out[0, 0], first) and torch.equal(out[0, 1], -first)
    assert torch.equal(out[1, 0], second) and torch.equal(out[1, 1], -second)


def _reference(images, padding, oy, ox, flips):
    padded = F.pad(images, (padding,) * 4)
    h, w = images.shape[-2:]
    out = []
    for b in range(images.shape[0]):
        crop = padded[b, :, oy[b]:oy[b] + h, ox[b]:ox[b] + w]
        out.append(torch.flip(crop, dims=[-1]) if flips[b] else crop)
    return torch.stack(out)


def test_random_crop_flip_matches_slicing_with_documented_draws():
    images = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = random_crop_flip(images, padding=4, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    oy = torch.randint(0, 9, (16,), generator=g)
    ox = torch.randint(0, 9, (16,), generator=g)
    flips = torch.randint(0, 2, (16,), generator=g).bool()
    assert 0 < flips.sum() < 16 and len(set(oy.tolist())) > 1
    assert torch.equal(out, _reference(images, 4, oy.tolist(), ox.tolist(), flips.tolist()))


def test_identity_without_padding_and_flip():
    images = torch.rand(8, 3, 32, 32, dtype=torch.float64)
    out = random_crop_flip(images, padding=0, flip=False, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, images) and out.dtype == torch.float64
    flipped = random_crop_flip(images, padding=0, generator=torch.Generator().manual_seed(1))
    for a, b in zip(flipped, images, strict=True):
        assert torch.equal(a, b) or torch.equal(a, b.flip(-1))


def test_determinism_for_a_fixed_seed():
    images = torch.rand(32, 3, 32, 32)
    a = random_crop_flip(images, generator=torch.Generator().manual_seed(9))
    b = random_crop_flip(images, generator=torch.Generator().manual_seed(9))
    c = random_crop_flip(images, generator=torch.Generator().manual_seed(10))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_invalid_inputs():
    images = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="images"):
        random_crop_flip(images[0])
    with pytest.raises(ValueError, match="padding"):
        random_crop_flip(images, padding=-1)
    with pytest.raises(ValueError, match="offsets_x"):
        crop_flip(images, torch.tensor([0, 0]), torch.tensor([0, 9]), torch.tensor([False, False]), padding=4)
    with pytest.raises(ValueError, match="flips"):
        crop_flip(images, torch.tensor([0, 0]), torch.tensor([0, 0]), torch.tensor([False]), padding=4)
