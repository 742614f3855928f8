"""Autoencoder codes as features: a scikit-learn Pipeline on Fashion-MNIST.

Trains ``AutoencoderTransformer -> StandardScaler -> LogisticRegression`` and the same
classifier on 64 PCA components, prints both test accuracies, then clusters the test codes
with k-means (10 clusters) and prints the adjusted Rand index against the true classes.

    python examples/feature_pipeline.py                        # 10,000 training images, 20 epochs: ~1 minute
    python examples/feature_pipeline.py --train-subset 0       # all 60,000 (several minutes)
    python examples/feature_pipeline.py --encoder encoder.npz  # a study's encoder, no training
                                                               # (from `python -m autoenc.study export`)

The data come from ``autoenc.datasets.load("fashion_mnist", ...)`` (pixels in [0, 1]).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from autoenc import datasets
from autoenc.features import AutoencoderTransformer


def classifier() -> LogisticRegression:
    # the same classifier on both feature sets; the scaler in front lets lbfgs converge quickly
    return LogisticRegression(max_iter=1000)


def kmeans_ari(features: np.ndarray, labels: np.ndarray, seed: int) -> float:
    clusters = KMeans(n_clusters=10, n_init=10, random_state=seed).fit_predict(features)
    return adjusted_rand_score(labels, clusters)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-subset", type=int, default=10_000,
                        help="stratified training subset (default 10000; 0 = all 60000)")
    parser.add_argument("--test-subset", type=int, default=0, help="test subset (default 0 = all 10000)")
    parser.add_argument("--latent-size", type=int, default=64, help="code size = PCA components (default 64)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--encoder", default=None,
                        help="use this exported encoder (.npz) instead of training one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X_train, y_train = datasets.load("fashion_mnist", "train", subset=args.train_subset or None, seed=args.seed)
    X_test, y_test = datasets.load("fashion_mnist", "test", subset=args.test_subset or None, seed=args.seed)
    print(f"Fashion-MNIST: {len(X_train)} training images, {len(X_test)} test images")

    if args.encoder:
        ae = AutoencoderTransformer.load(args.encoder)
        print(f"encoder: {args.encoder} ({ae.source_.get('study', '?')} run {ae.source_.get('run_id', '?')}, "
              f"cell {ae.source_.get('cell', {})})")
        # an already fitted first step: the Pipeline only fits the scaler and the classifier
        start = time.perf_counter()
        codes_train = ae.transform(X_train)
        head = make_pipeline(StandardScaler(), classifier()).fit(codes_train, y_train)
        ae_seconds = time.perf_counter() - start
        ae_accuracy = head.score(ae.transform(X_test), y_test)
        latent = ae.model_.latent_size
    else:
        latent = args.latent_size
        ae = AutoencoderTransformer(latent_size=latent, depth=2, loss="bce", epochs=args.epochs,
                                    random_state=args.seed)
        pipe = make_pipeline(ae, StandardScaler(), classifier())
        start = time.perf_counter()
        pipe.fit(X_train, y_train)
        ae_seconds = time.perf_counter() - start
        ae_accuracy = pipe.score(X_test, y_test)
        ae = pipe[0]
        widths = "-".join(str(m.out_features) for m in ae.model_.encoder.modules if hasattr(m, "out_features"))
        print(f"autoencoder: {ae.n_features_in_}-{widths}, BCE, {ae.n_iter_} epochs, "
              f"final train loss {ae.history_.train_loss[-1]:.4f}")

    pca_pipe = make_pipeline(PCA(latent, random_state=args.seed), StandardScaler(), classifier())
    start = time.perf_counter()
    pca_pipe.fit(X_train, y_train)
    pca_seconds = time.perf_counter() - start
    pca_accuracy = pca_pipe.score(X_test, y_test)

    codes_test = ae.transform(X_test)
    pca_test = pca_pipe[0].transform(X_test)
    ari_ae = kmeans_ari(codes_test, y_test, args.seed)
    ari_pca = kmeans_ari(pca_test, y_test, args.seed)
    recon_ae = float(ae.score_samples(X_test).mean())
    recon_pca = float(np.mean((X_test - pca_pipe[0].inverse_transform(pca_test)) ** 2))

    print()
    print(f"{'features':<22}{'test accuracy':>14}{'k-means ARI':>13}{'recon. MSE':>12}{'fit s':>8}")
    print(f"{f'autoencoder ({latent})':<22}{ae_accuracy:>14.4f}{ari_ae:>13.4f}{recon_ae:>12.5f}{ae_seconds:>8.1f}")
    print(f"{f'PCA ({latent})':<22}{pca_accuracy:>14.4f}{ari_pca:>13.4f}{recon_pca:>12.5f}{pca_seconds:>8.1f}")


if __name__ == "__main__":
    main()
