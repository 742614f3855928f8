"""fashion_rd end to end on real data, shrunk with ``--set``: sweep (fc and conv, two lambdas, two
seeds), the report with every section, and a CompressAI anchor file read into the report."""

from __future__ import annotations

import json

import pytest

from autoenc.cli import main

pytestmark = pytest.mark.slow

OVERRIDES = ["data.train_subset=600", "data.test_subset=100", "train.epochs=1"]


def test_tiny_fashion_rd_sweep_and_report(tmp_path):
    from autoenc import datasets

    if not datasets.info("fashion_mnist").found:
        pytest.skip("Fashion-MNIST not available on this machine")
    args = [a for o in OVERRIDES for a in ("--set", o)]
    assert main(["sweep", "fashion_rd", "--preset", "quick", "--out", str(tmp_path), "--no-report", "--jobs", "1",
                 *args]) == 0
    store = tmp_path / "fashion_rd"
    # an anchor file as benchmarks/compressai_anchor.py writes it (numbers made up for the reader's test)
    points = [{"variant": v, "architecture": v, "lambda": lam, "seed": 0, "epochs": 1, "bpp": bpp, "psnr": psnr,
               "bpp_likelihood": bpp, "seconds_per_epoch": 1.0}
              for v in ("fc", "conv") for lam, bpp, psnr in ((0.002, 0.2, 14.0), (0.05, 3.0, 30.0))]
    (store / "compressai_anchor.json").write_text(json.dumps({"settings": {"preset": "quick"}, "points": points}))
    # post-hoc codecs as fashion_ae's report writes them, first for other test images (not compared)
    posthoc = {"study": "fashion_ae", "preset": "quick", "data": {"dataset": "fashion_mnist"}, "n_images": 2000,
               "whole_test_split": True, "selection": "made up for the reader's test",
               "sizes": [{"latent": 16, "test": [{"bpp": 0.1, "psnr": 15.0, "ssim": 0.4},
                                                  {"bpp": 0.5, "psnr": 25.0, "ssim": 0.8}]}]}
    (tmp_path / "fashion_ae").mkdir()
    (tmp_path / "fashion_ae" / "posthoc_codecs.json").write_text(json.dumps(posthoc))
    assert main(["report", "fashion_rd", "--preset", "quick", "--out", str(tmp_path), *args]) == 0
    text = (store / "report" / "README.md").read_text()
    assert "codes other test images" in text and "post-hoc AE" not in text
    (tmp_path / "fashion_ae" / "posthoc_codecs.json").write_text(json.dumps({**posthoc, "n_images": 100}))
    assert main(["report", "fashion_rd", "--preset", "quick", "--out", str(tmp_path), *args]) == 0
    text = (store / "report" / "README.md").read_text()
    assert "post-hoc AE: the autoencoders of fashion_ae" in text
    for section in ("Rate-distortion curves", "Conv vs fully connected at matched lambda", "Reconstructions at equal "
                    "rate", "Learned densities", "CompressAI anchor", "BD-rate vs CompressAI"):
        assert section in text, section
    assert "decoded exactly" in text
    for name in ("rd-psnr", "rd-ssim", "rd-reconstructions", "rd-densities"):
        assert (store / "report" / "figures" / f"{name}.png").is_file()
