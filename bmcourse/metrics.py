"""Numbers that say how good a model is: accuracy and the confusion matrix.

Both take either class scores ``(N, K)`` (logits or probabilities; the largest wins) or
predicted labels ``(N,)``, together with the true labels ``(N,)``.
"""
from __future__ import annotations

import numbers

import torch

__all__ = ["accuracy", "confusion_matrix"]


def _labels(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn scores into predicted labels and check that they line up with ``targets``."""
    outputs, targets = torch.as_tensor(outputs), torch.as_tensor(targets)
    if targets.ndim != 1 or targets.is_floating_point():
        raise ValueError(f"targets must be integer class labels of shape (N,), got "
                         f"{tuple(targets.shape)} {targets.dtype}. Pass labels, not one-hot rows.")
    if outputs.ndim == 2:
        predicted = outputs.argmax(dim=1)
    elif outputs.ndim == 1 and not outputs.is_floating_point():
        predicted = outputs
    else:
        raise ValueError(f"outputs must be class scores (N, K) or integer labels (N,), got "
                         f"{tuple(outputs.shape)} {outputs.dtype}.")
    if len(predicted) != len(targets):
        raise ValueError(f"outputs have {len(predicted)} samples but targets have {len(targets)}; "
                         "they must match.")
    if len(targets) == 0:
        raise ValueError("No samples: pass at least one prediction and label.")
    # Labels may arrive as uint8 or int16 (compact storage); counting in that dtype would wrap
    # around (the flat index true * K + predicted overflows), so count in int64.
    return predicted.cpu().long(), targets.cpu().long()


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of samples whose predicted class equals the true class.

    Parameters
    ----------
    outputs : tensor, (N, K) scores or (N,) integer labels
    targets : tensor, (N,) integer labels

    Returns
    -------
    float
        In ``[0, 1]``.

    Examples
    --------
    >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    0.5
    """
    predicted, targets = _labels(outputs, targets)
    return (predicted == targets).float().mean().item()


def confusion_matrix(outputs: torch.Tensor, targets: torch.Tensor,
                     num_classes: int | None = None) -> torch.Tensor:
    """Count how often each true class is predicted as each class.

    Parameters
    ----------
    outputs : tensor, (N, K) scores or (N,) integer labels (any integer dtype)
    targets : tensor, (N,) integer labels (any integer dtype, e.g. uint8)
    num_classes : int, optional
        ``K``. Defaults to the number of score columns, else to the largest label + 1.

    Returns
    -------
    torch.Tensor
        ``(K, K)`` int64 on the CPU; entry ``[i, j]`` counts samples of true class ``i``
        predicted as ``j``. The diagonal holds the correct predictions; each row sums to
        the number of samples of that class.
    """
    predicted, targets = _labels(outputs, targets)
    if num_classes is None:
        num_classes = outputs.shape[1] if torch.as_tensor(outputs).ndim == 2 else \
            int(max(predicted.max(), targets.max())) + 1
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive whole number, got {num_classes!r}; "
                         "leave it out to count the classes from the data.")
    num_classes = int(num_classes)
    for name, labels in (("targets", targets), ("predicted labels", predicted)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} must lie in [0, {num_classes}), found "
                             f"{int(labels.min())}..{int(labels.max())}. Check num_classes.")
    # Each (true, predicted) pair becomes one index into a flattened K*K table.
    flat = targets * num_classes + predicted
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# ---------------------------------------------------------------------------- generated digits
# Scores of a generator, computed with the CNN chapter's MNIST classifier instead of the
# ImageNet Inception-v3 network of the published Inception Score and FID: the same formulas,
# on an MNIST judge. Their numbers are comparable with each other, not with published IS/FID.

import math  # noqa: E402  (kept with the code that uses it: this block was appended)

__all__ += ["inception_score", "frechet_distance", "gaussian_frechet_distance", "digit_histogram",
            "calibrate_temperature", "score_digits"]


def inception_score(logits: torch.Tensor) -> float:
    """Classifier Inception Score: ``exp(E_x KL(p(y|x) || p(y)))`` from class logits.

    High when every sample is classified confidently (``p(y|x)`` peaked) *and* the samples
    spread over the classes (the marginal ``p(y)``, averaged over the samples, is flat). It
    lies in ``[1, K]``: ``K`` for confident samples spread evenly over ``K`` classes, 1 when
    every sample gets the same distribution (e.g. all uniform, or all one class).

    Parameters
    ----------
    logits : torch.Tensor, shape (N, K)
        Classifier logits (or log-probabilities) of N samples.

    Returns
    -------
    float

    Notes
    -----
    Salimans et al. (2016) defined it with Inception-v3 on ImageNet; computed with an MNIST
    classifier it is an MNIST-classifier analogue, whose ceiling is 10.
    """
    logits = torch.as_tensor(logits)
    if logits.ndim != 2 or len(logits) < 2 or not logits.is_floating_point():
        raise ValueError(f"logits must be float class scores of shape (N, K) with N >= 2, got "
                         f"{tuple(logits.shape)} {logits.dtype}. Pass classifier(images), not labels.")
    log_p = torch.log_softmax(logits.detach().double().cpu(), dim=1)  # log p(y|x)
    log_marginal = torch.logsumexp(log_p, dim=0) - math.log(len(log_p))  # log p(y)
    kl = (log_p.exp() * (log_p - log_marginal)).sum(dim=1)
    return math.exp(kl.mean().item())


def gaussian_frechet_distance(mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor,
                              cov_b: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein squared) distance between two Gaussians, in squared feature units.

    ``|m_a - m_b|^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2))``. The trace of the square root is
    computed as ``Tr((S C_b S)^(1/2))`` with ``S = C_a^(1/2)``: that matrix is symmetric and
    has the same eigenvalues as ``C_a C_b``, so symmetric eigendecompositions suffice.

    Parameters
    ----------
    mean_a, mean_b : torch.Tensor, shape (D,)
    cov_a, cov_b : torch.Tensor, shape (D, D)
        Symmetric positive semi-definite covariance matrices.

    Returns
    -------
    float
    """
    mean_a, mean_b, cov_a, cov_b = (torch.as_tensor(t).detach().double().cpu()
                                    for t in (mean_a, mean_b, cov_a, cov_b))
    d = mean_a.shape[0] if mean_a.ndim == 1 else -1
    if mean_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise ValueError(f"means must be (D,) and covariances (D, D) with one D, got "
                         f"{tuple(mean_a.shape)}, {tuple(cov_a.shape)}, {tuple(mean_b.shape)}, "
                         f"{tuple(cov_b.shape)}.")

    def sqrt_psd(matrix):
        # Rounding can make tiny eigenvalues of a PSD matrix negative: clip them at 0.
        values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
        return (vectors * values.clamp_min(0).sqrt()) @ vectors.T

    root_a = sqrt_psd(cov_a)
    cross = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    distance = (mean_a - mean_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * cross
    return max(distance.item(), 0.0)


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Fréchet distance between two sets of feature vectors, each summarised by a Gaussian.

    Fits a mean and covariance to each set and calls :func:`gaussian_frechet_distance`. With
    the MNIST classifier's 256 penultimate features (``classifier.features(images)``) it is
    an MNIST-classifier analogue of FID (Heusel et al., 2017), which uses Inception-v3.
    Lower is better; 0 for identical statistics. It is biased upwards for small sets, so
    compare values computed from equally many samples.

    Parameters
    ----------
    features_a, features_b : torch.Tensor, shape (N, D) and (M, D)
        N, M >= 2 rows each.

    Returns
    -------
    float
    """
    stats = []
    for name, features in (("features_a", features_a), ("features_b", features_b)):
        features = torch.as_tensor(features).detach().double().cpu()
        if features.ndim != 2 or len(features) < 2:
            raise ValueError(f"{name} must have shape (N, D) with N >= 2, got "
                             f"{tuple(features.shape)}; flatten images or features first.")
        stats.append((features.mean(dim=0), torch.cov(features.T).reshape(features.shape[1], -1)))
    if stats[0][0].shape != stats[1][0].shape:
        raise ValueError(f"features_a and features_b must have the same width D, got "
                         f"{len(stats[0][0])} and {len(stats[1][0])}.")
    return gaussian_frechet_distance(stats[0][0], stats[0][1], stats[1][0], stats[1][1])


def digit_histogram(logits: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Fraction of samples assigned to each class: mode coverage at a glance.

    Parameters
    ----------
    logits : torch.Tensor, shape (N, K) scores, or (N,) integer labels
    num_classes : int

    Returns
    -------
    torch.Tensor, shape (num_classes,)
        float64 fractions that sum to 1; a collapsed generator shows a few large entries and
        zeros elsewhere, a healthy one about ``1 / num_classes`` everywhere.
    """
    logits = torch.as_tensor(logits).detach().cpu()
    labels = logits.argmax(dim=1) if logits.ndim == 2 else logits
    if labels.ndim != 1 or labels.is_floating_point() or len(labels) == 0:
        raise ValueError(f"pass class scores (N, K) or integer labels (N,), got "
                         f"{tuple(logits.shape)} {logits.dtype}.")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); check num_classes.")
    return torch.bincount(labels.long(), minlength=num_classes).double() / len(labels)


def calibrate_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature ``T`` that makes ``softmax(logits / T)`` honest on labelled data.

    Temperature scaling (Guo et al., 2017): minimise the cross-entropy of ``logits / T`` over
    ``T``. A classifier trained with label smoothing under-states its confidence by design
    (about 0.91 on the true digit), which caps its Inception Score of real digits near 6;
    calibrated on held-out digits it gives ``T < 1`` and probabilities that match its accuracy.
    The cross-entropy is convex in ``1 / T``, so a golden-section search finds the minimum.

    Parameters
    ----------
    logits : torch.Tensor, shape (N, K)
        Classifier logits of held-out examples.
    labels : torch.Tensor, shape (N,)
        Their true classes.

    Returns
    -------
    float
        ``T`` in ``[0.02, 50]``.
    """
    logits, labels = torch.as_tensor(logits).detach().double().cpu(), torch.as_tensor(labels).cpu()
    if logits.ndim != 2 or labels.shape != (len(logits),) or labels.is_floating_point():
        raise ValueError(f"need logits (N, K) and integer labels (N,), got {tuple(logits.shape)} "
                         f"and {tuple(labels.shape)} {labels.dtype}.")

    def loss(log_beta):  # beta = 1 / T, searched on a log scale
        return torch.nn.functional.cross_entropy(logits * math.exp(log_beta), labels.long()).item()

    low, high, ratio = math.log(0.02), math.log(50.0), (math.sqrt(5) - 1) / 2
    for _ in range(60):  # the bracket shrinks by 0.618 per step: 60 steps reach 1e-12
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        low, high = (low, b) if loss(a) < loss(b) else (a, high)
    return 1.0 / math.exp((low + high) / 2)


@torch.no_grad()
def score_digits(images: torch.Tensor, classifier, real_features: torch.Tensor | None = None,
                 temperature: float = 1.0, batch_size: int = 500) -> dict:
    """Classifier IS, Fréchet distance and digit histogram of a batch of digit images.

    Parameters
    ----------
    images : torch.Tensor, shape (N, 1, 28, 28)
        Pixels in ``[0, 1]`` (as the classifier expects), N >= 2.
    classifier : nn.Module
        With ``classifier(x)`` logits ``(N, 10)`` and ``classifier.features(x)`` ``(N, D)``,
        e.g. :func:`bmcourse.models.cnn.mnist_classifier`.
    real_features : torch.Tensor, shape (M, D), optional
        Features of real digits; with them the result includes ``fd``.
    temperature : float
        Divides the logits before the IS (see :func:`calibrate_temperature`).
    batch_size : int

    Returns
    -------
    dict
        ``is`` (float), ``histogram`` (tensor (10,)), ``features`` (tensor (N, D)) and, with
        ``real_features``, ``fd`` (float).
    """
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must have shape (N, 1, 28, 28), got {tuple(images.shape)}; "
                         "reshape flat samples with x.view(-1, 1, 28, 28).")
    if images.min() < -1e-3 or images.max() > 1 + 1e-3:
        raise ValueError("images must hold pixels in [0, 1]; map tanh outputs with (x + 1) / 2.")
    device = next(classifier.parameters()).device
    features = torch.cat([classifier.features(chunk.to(device))
                          for chunk in images.split(batch_size)])
    logits = classifier.head(features) if hasattr(classifier, "head") else \
        torch.cat([classifier(chunk.to(device)) for chunk in images.split(batch_size)])
    scores = {"is": inception_score(logits / temperature), "histogram": digit_histogram(logits),
              "features": features.cpu()}
    if real_features is not None:
        scores["fd"] = frechet_distance(features, real_features)
    return scores


def bits_per_character(loss: float, num_tokens: int, num_characters: int) -> float:
    """Convert a mean next-token loss to bits per character, so that tokenizers compare.

    A model's loss is in nats per *token*; a BPE token covers several characters, so its loss
    per token is not comparable with a character model's. The total information is the same
    whichever way the text is cut: ``loss * num_tokens`` nats, i.e.
    ``loss * num_tokens / (num_characters * ln 2)`` bits per character. (Perplexity,
    ``exp(loss)``, has the same problem; ``2 ** bits_per_character`` is the per-character one.)

    Parameters
    ----------
    loss : float
        Mean cross-entropy in nats per token over a text.
    num_tokens : int
        Tokens the text was scored as (predictions made).
    num_characters : int
        Characters of the same text.

    Returns
    -------
    float
        Bits per character.

    Examples
    --------
    >>> round(bits_per_character(1.5, 1000, 1000), 4)   # a character model: loss / ln 2
    2.164
    """
    if not (loss >= 0 and math.isfinite(loss)):
        raise ValueError(f"loss must be a finite, non-negative number of nats, got {loss!r}.")
    for name, value in (("num_tokens", num_tokens), ("num_characters", num_characters)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
    return loss * num_tokens / (num_characters * math.log(2))


__all__ += ["bits_per_character"]
