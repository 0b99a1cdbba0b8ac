"""The blog's two networks: sizes, shapes, and an oracle for the ConvNet's layer order."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnist_models import data as mdata
from mnist_models.nets.models import MLP, ConvNet, Dropout, count_parameters
from mnist_models.nets.networks import build

# The checkpoint format: shipped weights were saved with exactly these keys.
MLP_KEYS = [
    "net.1.weight",
    "net.1.bias",
    "net.3.weight",
    "net.3.bias",
    "net.6.weight",
    "net.6.bias",
]
CNN_KEYS = [
    "features.0.weight",
    "features.0.bias",
    "features.3.weight",
    "features.3.bias",
    "classifier.2.weight",
    "classifier.2.bias",
    "classifier.5.weight",
    "classifier.5.bias",
]


def blog_convnet() -> nn.Sequential:
    """The blog's Keras ConvNet, layer for layer: conv-ReLU-pool, as an nn.Sequential."""
    return nn.Sequential(
        nn.Conv2d(1, 20, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.4),
        nn.Flatten(),
        nn.Linear(1568, 80),
        nn.ReLU(),
        nn.Dropout(0.4),
        nn.Linear(80, 10),
    )


def copy_into_reference(model: ConvNet, ref: nn.Sequential) -> None:
    """Copy our ConvNet's weights into the blog-order reference."""
    pairs = [
        (model.features[0], ref[0]),
        (model.features[3], ref[3]),
        (model.classifier[2], ref[8]),
        (model.classifier[5], ref[11]),
    ]
    with torch.no_grad():
        for ours, theirs in pairs:
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    """64 real test digits, (64, 1, 28, 28) in [0, 1]."""
    return mdata.to_float(mdata.load_split("test").images[:64])


def test_parameter_counts() -> None:
    assert count_parameters(build("mlp")) == 1_526_410
    assert count_parameters(build("cnn")) == 132_322
    # The counts the blog quotes follow from the layer sizes.
    assert 784 * 900 + 900 + 900 * 900 + 900 + 900 * 10 + 10 == 1_526_410
    assert (9 * 20 + 20) + (9 * 20 * 32 + 32) + (1568 * 80 + 80) + (80 * 10 + 10) == 132_322


def test_state_dict_keys_are_the_checkpoint_format() -> None:
    assert list(MLP().state_dict()) == MLP_KEYS
    assert list(ConvNet().state_dict()) == CNN_KEYS


def test_blog_hyperparameters() -> None:
    drops = [m.p for m in MLP().modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.5]
    drops = [m.p for m in ConvNet().modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.4, 0.4]


@pytest.mark.parametrize("name", ["mlp", "cnn"])
@pytest.mark.parametrize("n", [1, 7])
def test_output_shapes(name: str, n: int, digits: torch.Tensor) -> None:
    model = build(name).eval()
    out = model(digits[:n])
    assert out.shape == (n, 10) and out.dtype == torch.float32
    # Logits, not probabilities: rows do not sum to one.
    assert not torch.allclose(out.sum(1), torch.ones(n))


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_channels_last_input_gives_same_logits(name: str, digits: torch.Tensor, seeded) -> None:
    model = build(name).eval()
    with torch.no_grad():
        plain = model(digits)
        cl = model.to(memory_format=torch.channels_last)(
            digits.contiguous(memory_format=torch.channels_last)
        )
    torch.testing.assert_close(cl, plain, atol=1e-5, rtol=1e-5)


def test_unknown_model_name() -> None:
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build("resnet")


def test_models_normalise_their_input(digits: torch.Tensor, seeded) -> None:
    model = MLP().eval()
    with torch.no_grad():
        expected = model.net((digits - mdata.MEAN) / mdata.STD)
        torch.testing.assert_close(model(digits), expected)


def test_convnet_equals_blog_layer_order(digits: torch.Tensor, seeded) -> None:
    """Pool-before-ReLU is an optimisation: outputs and gradients match conv-ReLU-pool."""
    model = ConvNet()
    ref = blog_convnet()
    copy_into_reference(model, ref)
    model.eval()
    ref.eval()
    x = digits.clone().requires_grad_(True)
    x_ref = digits.clone().requires_grad_(True)
    out = model(x)
    out_ref = ref((x_ref - mdata.MEAN) / mdata.STD)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    # Same gradients, for weights and input: training follows the same path too.
    target = torch.arange(len(digits)) % 10
    nn.functional.cross_entropy(out, target).backward()
    nn.functional.cross_entropy(out_ref, target).backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(
        model.features[0].weight.grad, ref[0].weight.grad, atol=1e-6, rtol=1e-4
    )
    torch.testing.assert_close(
        model.features[3].weight.grad, ref[3].weight.grad, atol=1e-6, rtol=1e-4
    )


def test_dropout_is_identity_in_eval() -> None:
    d = Dropout(0.5).eval()
    x = torch.randn(100, 30)
    assert torch.equal(d(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


@pytest.mark.parametrize("p", [0.4, 0.5])
def test_dropout_keeps_expected_value(p: float) -> None:
    torch.manual_seed(0)
    d = Dropout(p).train()
    x = torch.ones(200_000)
    y = d(x)
    dropped = float((y == 0).float().mean())
    assert abs(dropped - p) < 0.01
    # Survivors are scaled by 1 / (1 - p), so the mean stays at one.
    torch.testing.assert_close(
        y[y != 0], torch.full_like(y[y != 0], 1 / (1 - p)), rtol=1e-4, atol=0
    )
    assert abs(float(y.mean()) - 1.0) < 0.01


@pytest.mark.parametrize("shape", [(7,), (3, 5), (4, 32, 7, 7)])
def test_dropout_any_shape_and_layout(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape)
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    y = Dropout(0.4).train()(x)
    assert y.shape == x.shape
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.6, rtol=1e-4, atol=0)


def test_dropout_edges() -> None:
    x = torch.ones(1000)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros(1000))
    torch.manual_seed(0)
    masks = torch.stack([Dropout(0.5).train()(torch.ones(64)) for _ in range(200)])
    # Every position is dropped about half the time: no lane of the random bits is biased.
    assert float((masks == 0).float().mean(0).min()) > 0.3
    assert float((masks == 0).float().mean(0).max()) < 0.7


def test_dropout_masks_the_gradient_too() -> None:
    torch.manual_seed(0)
    d = Dropout(0.5).train()
    x = torch.ones(1000, requires_grad=True)
    y = d(x)
    y.sum().backward()
    torch.testing.assert_close(x.grad, y.detach())  # d(x * m / (1-p)) / dx = m / (1-p)


def test_dropout_draws_a_new_mask_each_call() -> None:
    torch.manual_seed(0)
    d = Dropout(0.5).train()
    x = torch.ones(1000)
    assert not torch.equal(d(x), d(x))


def test_dropout_in_models_is_active_only_in_training(digits: torch.Tensor, seeded) -> None:
    for name in ("mlp", "cnn"):
        model = build(name)
        with torch.no_grad():
            model.train()
            a, b = model(digits), model(digits)
            model.eval()
            c, d = model(digits), model(digits)
        assert not torch.equal(a, b), name
        assert torch.equal(c, d), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_at_one_half_keeps_the_type_and_scales_exactly(dtype) -> None:
    """The one-bit mask at p = 1/2: survivors exactly doubled in the input's own type, the
    gradient the same mask, and every bit of a draw used (no lane biased)."""
    torch.manual_seed(0)
    x = torch.randn(512, 900).to(dtype).requires_grad_()
    y = Dropout(0.5).train()(x)
    assert y.dtype == dtype
    kept = y != 0
    assert abs(float(kept.float().mean()) - 0.5) < 0.01
    assert torch.equal(y[kept], (x * 2)[kept])
    y.sum().backward()
    assert torch.equal(x.grad, kept.to(dtype) * 2)
    lanes = torch.stack([Dropout(0.5).train()(torch.ones(64)) for _ in range(400)])
    share = (lanes == 0).float().mean(0)
    assert float(share.min()) > 0.38 and float(share.max()) < 0.62
