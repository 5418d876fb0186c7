"""GAN models: shapes, the seeds' defects reproduced, conditioning, and the shipped generator."""
import pytest
import torch

from bmcourse.models import gan
from bmcourse.models.gan import (DCGANDiscriminator, DCGANGenerator, MinibatchStdDev,
                                 MLPDiscriminator, MLPGenerator)


@pytest.mark.parametrize("make_g, make_d, z_dim", [
    (lambda c: MLPGenerator(100, num_classes=c), lambda c: MLPDiscriminator(num_classes=c), 100),
    (lambda c: DCGANGenerator(64, 16, num_classes=c),
     lambda c: DCGANDiscriminator(16, num_classes=c, minibatch_std=True), 64),
])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_generators_make_28x28_images_and_discriminators_one_logit(make_g, make_d, z_dim,
                                                                     num_classes):
    torch.manual_seed(0)
    generator, discriminator = make_g(num_classes), make_d(num_classes)
    labels = (torch.arange(6) % 10,) if num_classes else ()
    images = generator(torch.randn(6, z_dim), *labels)
    assert images.shape == (6, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1  # tanh
    assert discriminator(images, *labels).shape == (6,)


def test_conditional_models_use_the_label_and_demand_one():
    torch.manual_seed(0)
    generator = DCGANGenerator(8, 8, num_classes=10).eval()
    z = torch.randn(2, 8)
    assert not torch.allclose(generator(z, torch.tensor([0, 0])), generator(z, torch.tensor([7, 7])))
    with pytest.raises(ValueError, match="pass labels"):
        generator(z)
    with pytest.raises(ValueError, match="unconditional"):
        DCGANGenerator(8, 8)(z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        generator(torch.randn(2, 9), torch.tensor([0, 1]))


def test_minibatch_std_sees_a_collapsed_batch():
    layer = MinibatchStdDev()
    same = torch.ones(4, 3, 5, 5)
    varied = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    assert layer(same).shape == (4, 4, 5, 5)
    assert layer(same)[:, 3].abs().max() == 0
    assert layer(varied)[:, 3].min() > 0.5


def test_seed_000_models_have_the_seeds_shapes():
    generator, discriminator = gan.article_mlp_generator(), gan.article_mlp_discriminator()
    images = generator(torch.randn(3, 100))
    assert images.shape == (3, 28, 28, 1)  # channels last, as in Keras
    probabilities = discriminator(images)
    assert probabilities.shape == (3, 1) and 0 < probabilities.min() <= probabilities.max() < 1


def test_seed_002_generator_does_not_build_and_its_discriminator_scores_pixels():
    with pytest.raises(RuntimeError, match="shape"):
        gan.article_002_generator()(torch.randn(2, 100))  # Reshape((4, 4, 256)) of 7x7x4096
    assert gan.article_002_discriminator()(torch.rand(2, 28, 28, 1)).shape == (2, 28, 28, 1)


def test_seed_003_models_disagree_on_channels_and_output_a_4x4_map():
    images = gan.article_conv_generator()(torch.randn(2, 100))
    assert images.shape == (2, 3, 28, 28)
    discriminator = gan.article_conv_discriminator()
    with pytest.raises(RuntimeError, match="channels"):
        discriminator(images)
    assert discriminator(images[:, :1]).shape == (2, 1, 4, 4)


def test_sample_digits_from_the_shipped_generator():
    images = gan.sample_digits(20, device="cpu", seed=3)
    assert images.shape == (20, 1, 28, 28) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, gan.sample_digits(20, device="cpu", seed=3))
    sevens = gan.sample_digits(4, labels=7, device="cpu")
    assert sevens.shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="0-9"):
        gan.sample_digits(2, labels=[3, 10], device="cpu")
    with pytest.raises(ValueError, match="n must be"):
        gan.sample_digits(0)


def test_shipped_generator_makes_the_digits_it_is_asked_for():
    from bmcourse.models.cnn import mnist_classifier

    labels = torch.arange(100) % 10
    images = gan.sample_digits(100, labels=labels, device="cpu", seed=0)
    predicted = mnist_classifier("cpu", verbose=False)(images).argmax(1)
    assert (predicted == labels).float().mean() > 0.9
    assert gan.pretrained_generator("cpu").info["classifier_is"] >= 8.0
