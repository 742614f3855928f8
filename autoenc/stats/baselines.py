"""Baselines for the autoencoder: PCA at the same code size, and linear probes on codes."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoenc.stats.metrics import reconstruction_metrics

__all__ = ["fit_pca", "linear_probe", "pca_codes", "pca_reconstruction_errors"]

# Exact PCA (eigendecomposition of the d x d covariance); for n >> d, as with 60,000 x 784
# images, it is ~10x faster than "full" SVD (0.6 s vs 5 s on one core) and agrees to float
# precision. "full" and "randomized" (seeded) are accepted too.
DEFAULT_SVD_SOLVER = "covariance_eigh"


def fit_pca(
    X_train: np.ndarray, n_components: int, *, seed: int = 0, svd_solver: str = DEFAULT_SVD_SOLVER
) -> Any:
    """Fit ``sklearn.decomposition.PCA`` on flattened training images.

    Parameters
    ----------
    X_train : numpy.ndarray
        Shape ``(n, ...)``; flattened to ``(n, n_features)``.
    n_components : int
        Number of components (the latent size it is compared with).
    seed : int
        ``random_state`` (used only by the randomized solver).
    svd_solver : str
        ``"covariance_eigh"`` (default, exact), ``"full"`` or ``"randomized"``.

    Returns
    -------
    sklearn.decomposition.PCA
        The fitted estimator (centred; no whitening).
    """
    from sklearn.decomposition import PCA

    X = np.asarray(X_train).reshape(len(X_train), -1)
    if not 1 <= n_components <= min(X.shape):
        raise ValueError(
            f"n_components={n_components} must be between 1 and min(n_samples, n_features)"
            f"={min(X.shape)}"
        )
    return PCA(n_components=n_components, svd_solver=svd_solver, random_state=seed).fit(X)


def pca_reconstruction_errors(
    X_train: np.ndarray,
    X_test: np.ndarray,
    n_components: int,
    seed: int = 0,
    *,
    svd_solver: str = DEFAULT_SVD_SOLVER,
    clip: bool = False,
) -> dict[str, np.ndarray]:
    """Per-image test errors of the best rank-``n_components`` linear reconstruction.

    Fits PCA on ``X_train`` and reconstructs ``X_test`` as
    ``inverse_transform(transform(X_test))``; ``clip=True`` clips it to [0, 1], the range a
    sigmoid output is confined to (the baseline on equal footing).

    Parameters
    ----------
    X_train, X_test : numpy.ndarray
        Images with pixels in [0, 1], shape ``(n, ...)``.
    n_components : int
        Latent size.
    seed : int
        Seed for the randomized solver.
    svd_solver : str
        See :func:`fit_pca`.

    Returns
    -------
    dict of str to numpy.ndarray
        ``mse, sse, l2, bce`` per test image, as in
        :func:`autoenc.stats.reconstruction_metrics`. On Fashion-MNIST (pixels in [0, 1])
        the mean ``sse`` is 1.03, 2.34, 6.01, 8.13, 16.03 for k = 400, 256, 100, 64, 16.
    """
    pca = fit_pca(X_train, n_components, seed=seed, svd_solver=svd_solver)
    X = np.asarray(X_test).reshape(len(X_test), -1)
    X_hat = pca.inverse_transform(pca.transform(X))
    if clip:
        X_hat = np.clip(X_hat, 0.0, 1.0)
    return reconstruction_metrics(X, X_hat)


def pca_codes(
    X_train: np.ndarray,
    X_test: np.ndarray,
    n_components: int,
    seed: int = 0,
    *,
    svd_solver: str = DEFAULT_SVD_SOLVER,
) -> tuple[np.ndarray, np.ndarray]:
    """PCA codes of train and test images (PCA fitted on train), for :func:`linear_probe`."""
    pca = fit_pca(X_train, n_components, seed=seed, svd_solver=svd_solver)
    return (
        pca.transform(np.asarray(X_train).reshape(len(X_train), -1)),
        pca.transform(np.asarray(X_test).reshape(len(X_test), -1)),
    )


def linear_probe(
    Z_train: np.ndarray,
    y_train: np.ndarray,
    Z_test: np.ndarray,
    y_test: np.ndarray,
    *,
    max_iter: int = 500,
    C: float = 1.0,
    tol: float = 1e-4,
) -> float:
    """Test accuracy of a logistic-regression probe on fixed features.

    Features standardised on train, then the L2-penalised multinomial logistic regression of
    ``sklearn.linear_model.LogisticRegression(C=C)`` (the same objective: mean cross-entropy
    + ||W||^2 / (2 C n), intercepts unpenalised), minimised by scipy's L-BFGS after a change of
    variables to whitened features: W = P W' with P = V S^-1/2 from the eigendecomposition of the
    train covariance, the penalty carried along exactly (||P W'||^2). On standardised pixels the
    plain problem needs about 450 L-BFGS iterations to converge; whitened, 50-150 (seconds).
    Directions of variance below 1e-7 of the largest are left out (the data do not constrain them
    and the penalty holds them at zero). Used on autoencoder codes vs raw pixels vs PCA codes of
    the same size: how much class information the compression keeps, linearly.

    Parameters
    ----------
    Z_train, Z_test : numpy.ndarray
        Features, shape ``(n, ...)`` (flattened).
    y_train, y_test : numpy.ndarray
        Integer class labels.
    max_iter : int
        L-BFGS iterations at most (a probe stopped there is still a valid, slightly
        pessimistic probe).
    C : float
        Inverse regularisation strength, as scikit-learn's.
    tol : float
        Largest gradient entry at which L-BFGS stops (in the whitened variables).

    Returns
    -------
    float
        Accuracy on ``(Z_test, y_test)``.
    """
    from scipy.optimize import minimize

    Ztr = np.asarray(Z_train, np.float64).reshape(len(Z_train), -1)
    Zte = np.asarray(Z_test, np.float64).reshape(len(Z_test), -1)
    ytr, yte = np.asarray(y_train).ravel(), np.asarray(y_test).ravel()
    if len(Ztr) != len(ytr) or len(Zte) != len(yte):
        raise ValueError("features and labels differ in length")
    if Ztr.shape[1] != Zte.shape[1]:
        raise ValueError(f"train and test features differ in width: {Ztr.shape[1]} vs {Zte.shape[1]}")
    classes, y_index = np.unique(ytr, return_inverse=True)
    mean, scale = Ztr.mean(axis=0), Ztr.std(axis=0)
    scale[scale == 0] = 1.0  # as StandardScaler: a constant feature stays 0
    A = (Ztr - mean) / scale
    n, k = len(A), len(classes)
    variance, V = np.linalg.eigh(A.T @ A / n)
    keep = variance > 1e-7 * variance.max()
    P = V[:, keep] / np.sqrt(variance[keep])  # W = P W'
    X = np.ascontiguousarray(A @ P, dtype=np.float32)  # whitened train features (n, r)
    metric = P.T @ P  # ||P W'||^2 = <W', metric W'>
    r = X.shape[1]
    Y = np.zeros((n, k), np.float32)
    Y[np.arange(n), y_index] = 1
    penalty = 1.0 / (C * n)

    def loss_and_gradient(w: np.ndarray) -> tuple[float, np.ndarray]:
        W = w[: r * k].reshape(r, k)
        logits = X @ W.astype(np.float32) + w[r * k:].astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        total = e.sum(axis=1, keepdims=True)
        metric_w = metric @ W
        value = -float((Y * (logits - np.log(total))).sum(dtype=np.float64)) / n \
            + 0.5 * penalty * float((W * metric_w).sum())
        residual = (e / total - Y) / n
        grad_w = (X.T @ residual).astype(np.float64) + penalty * metric_w
        return value, np.concatenate([grad_w.ravel(), residual.sum(axis=0, dtype=np.float64)])

    result = minimize(loss_and_gradient, np.zeros(r * k + k), jac=True, method="L-BFGS-B",
                      options={"maxiter": int(max_iter), "gtol": tol, "ftol": 1e-12, "maxcor": 20})
    W = P @ result.x[: r * k].reshape(r, k)
    predicted = classes[np.argmax((Zte - mean) / scale @ W + result.x[r * k:], axis=1)]
    return float(np.mean(predicted == yte))
