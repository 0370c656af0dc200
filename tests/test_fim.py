"""Fisher-information spectra: SE and ρ on known spectra, the closed-form logistic-regression FIM, the tiny VLM."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from imax_hub.build import BuildOptions, build
from imax_hub.errors import ImaxError
from imax_hub.fim import (ZERO_TOLERANCE, dominant_ratio, fim_eigenvalues, nonzero_eigenvalues, per_sample_gradients,
                          select_parameters, spectral_entropy, spectrum)
from imax_hub.synth import synthesize

sys.path.insert(0, str(Path(__file__).parent))
from tiny_vlm import make_tiny_vlm  # noqa: E402


def test_se_and_rho_on_hand_made_spectra():
    assert spectral_entropy([2.0, 2.0, 2.0, 2.0]) == pytest.approx(math.log(4))  # uniform: log d
    assert dominant_ratio([2.0, 2.0, 2.0, 2.0]) == pytest.approx(25.0)
    assert spectral_entropy([5.0]) == 0.0 and dominant_ratio([5.0]) == 100.0  # one direction
    ev = [3.0, 1.0]
    assert spectral_entropy(ev) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert dominant_ratio(ev) == pytest.approx(75.0)
    # zeros and round-off (tiny or negative) eigenvalues are not "non-zero": they change nothing
    noisy = [3.0, 1.0, 0.0, 1e-14, -1e-13]
    assert spectral_entropy(noisy) == spectral_entropy(ev) and dominant_ratio(noisy) == dominant_ratio(ev)
    assert nonzero_eigenvalues([1.0, 0.5 * ZERO_TOLERANCE]).tolist() == [1.0]
    assert nonzero_eigenvalues([1.0, 2 * ZERO_TOLERANCE]).tolist() == [1.0, 2 * ZERO_TOLERANCE]
    assert math.isnan(spectral_entropy([0.0, 0.0])) and math.isnan(dominant_ratio([]))
    # a flatter spectrum has higher SE and lower ρ
    assert spectral_entropy([4, 3, 2, 1]) > spectral_entropy([10, 1, 0.5, 0.1])
    assert dominant_ratio([4, 3, 2, 1]) < dominant_ratio([10, 1, 0.5, 0.1])


def test_gram_eigenvalues_are_the_fims():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(8, 30))  # N < p: rank 8
    full = np.linalg.eigvalsh(g.T @ g / 8)[::-1]
    ours = fim_eigenvalues(g)
    assert np.allclose(ours, full[:8], rtol=1e-10)
    assert nonzero_eigenvalues(full).size == 8  # the 22 numerical zeros of the p x p FIM fall under the tolerance


def test_logistic_regression_fim_matches_its_closed_form():
    import torch

    rng = np.random.default_rng(1)
    d, n = 6, 40
    x = rng.normal(size=(n, d))
    w = rng.normal(size=d) * 0.7
    sigma = 1 / (1 + np.exp(-x @ w))
    y = (rng.random(n) < sigma).astype(float)
    model = torch.nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor(w)[None, :])
    selection = select_parameters(model.named_parameters(), "all")
    assert selection.entries == [("weight", i) for i in range(d)]

    def log_p(i):
        z = model(torch.tensor(x[i]))[0]
        return y[i] * torch.nn.functional.logsigmoid(z) + (1 - y[i]) * torch.nn.functional.logsigmoid(-z)

    grads = per_sample_gradients(model, selection, [lambda i=i: log_p(i) for i in range(n)])
    assert np.allclose(grads, (y - sigma)[:, None] * x, atol=1e-12)  # ∇w log p = (y - σ(wᵀx)) x
    closed = ((y - sigma) ** 2)[:, None, None] * x[:, :, None] * x[:, None, :]
    expected = np.linalg.eigvalsh(closed.mean(0))[::-1]
    s = spectrum(grads)
    assert np.allclose(s["eigenvalues"], expected[: s["nonzero"]], rtol=1e-9)
    assert s["nonzero"] == d
    assert s["se"] == pytest.approx(spectral_entropy(expected)) and s["rho"] == pytest.approx(dominant_ratio(expected))

    # with y drawn from the model, the empirical FIM estimates the Fisher information Σ σ(1-σ) x xᵀ / n
    big = 20_000
    xb = rng.normal(size=(big, d))
    sb = 1 / (1 + np.exp(-xb @ w))
    yb = (rng.random(big) < sb).astype(float)
    gb = (yb - sb)[:, None] * xb
    fisher = (xb * (sb * (1 - sb))[:, None]).T @ xb / big
    assert np.allclose(np.linalg.eigvalsh(gb.T @ gb / big), np.linalg.eigvalsh(fisher), rtol=0.06)


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    base = tmp_path_factory.mktemp("fim")
    synthesize(base / "physionet", patients=40, seed=2, image_size=64)
    build(BuildOptions(physionet_root=base / "physionet", out=base / "imax", target_images=24, seed=0))
    return base / "imax", make_tiny_vlm(base / "tiny-vlm")


def test_tiny_vlm_gradient_is_the_derivative_of_log_p(small_build):
    import torch

    from imax_hub.fim import VLMLogLikelihood, train_rows

    folder, model = small_build
    rows, _ = train_rows(folder, "imax")
    scorer = VLMLogLikelihood(str(model), dtype="float64")
    selection = select_parameters(scorer.model.named_parameters(), "one-per-layer", seed=3)
    weights = [n for n, p in scorer.model.named_parameters() if p.dim() >= 2]
    assert [n for n, _ in selection.entries] == weights  # one scalar per weight tensor, biases/norms skipped
    row = next(r for r in rows if r["answer"] and len(r["answer"]) > 3)
    (grad,) = per_sample_gradients(scorer.model, selection, [lambda: scorer(row)])
    by_name = dict(scorer.model.named_parameters())
    for k in (0, len(selection.entries) // 2, len(selection.entries) - 1):
        name, i = selection.entries[k]
        flat = by_name[name].data.view(-1)
        # part of the vision path rounds at ~1e-9 even in float64, so a wide step: central differences are
        # then accurate to ~1e-4 relative here, and a wrong gradient is off by far more
        eps, old = 1e-2, float(flat[i])
        with torch.no_grad():
            flat[i] = old + eps
            up = float(scorer(row))
            flat[i] = old - eps
            down = float(scorer(row))
            flat[i] = old
        assert grad[k] == pytest.approx((up - down) / (2 * eps), rel=2e-3, abs=1e-7), name


def test_imax_fim_and_fim_plot_on_the_tiny_vlm_with_a_lora_adapter(small_build, tmp_path, imax_cli):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    folder, model = small_build
    lora = get_peft_model(AutoModelForImageTextToText.from_pretrained(model),
                          LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    lora.save_pretrained(tmp_path / "adapter")
    runs = []
    for config, adapter in (("imax", None), ("dmax", None), ("imax", tmp_path / "adapter")):
        out = tmp_path / f"fim-{config}-{'lora' if adapter else 'full'}"
        args = ["fim", "--model", model, "--dataset", folder, "--config", config, "--samples", 24, "--n", 8,
                "--out", out, "--label", "late" if adapter else "early"]
        imax_cli(args + (["--adapter", adapter] if adapter else []))
        runs.append(out)
    full = json.loads((runs[0] / "fim.json").read_text())
    assert full["groups"] == 3 and full["samples"] == 24 and len(full["per_group"]) == 3
    assert full["params"]["rule"] == "one-per-layer" and full["params"]["count"] == len(full["params"]["entries"])
    for g in full["per_group"]:
        assert 1 <= g["nonzero"] <= 8  # rank <= N
        assert 0 <= g["se"] <= math.log(g["nonzero"]) + 1e-12 and 100 / g["nonzero"] - 1e-9 <= g["rho"] <= 100
        assert spectral_entropy(g["eigenvalues"]) == pytest.approx(g["se"])
    assert full["summary"]["se_mean"] == pytest.approx(np.mean([g["se"] for g in full["per_group"]]))
    adapted = json.loads((runs[2] / "fim.json").read_text())
    names = {n for n, _ in adapted["params"]["entries"]}
    assert names and all("lora_A" in n or "lora_B" in n for n in names)
    # one scalar per LoRA matrix: (q, v) x (A, B) x 2 layers, in the language model and the vision tower
    assert adapted["params"]["count"] == sum("lora_" in n for n, _ in lora.named_parameters()) == 16
    assert "rows_hash" in full["dataset"] and not any(r in (runs[0] / "fim.json").read_text() for r in ("p1", "s5"))
    imax_cli(["fim-plot", *runs, "--out", tmp_path / "fig.png"])
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ImaxError, match="--params must be"):
        select_parameters(lora.named_parameters(), "every-other")
    with pytest.raises(ImaxError, match="not an `imax fim` result"):
        from imax_hub.fim import load_fim

        (tmp_path / "bad.json").write_text("{}")
        load_fim(tmp_path / "bad.json")


def test_fim_bad_arguments_are_clear_errors(small_build, tmp_path):
    from imax_hub.cli import main
    from imax_hub.fim import FimOptions, run_fim

    folder, model = small_build
    opts = dict(model=str(model), dataset=folder, out=tmp_path / "f")
    with pytest.raises(ImaxError, match="no train split for config 'nope'"):
        run_fim(FimOptions(**opts, config="nope"))
    with pytest.raises(ImaxError, match="--n must be at least 2"):
        run_fim(FimOptions(**opts, n=1))
    with pytest.raises(ImaxError, match="fewer than --n 100000"):
        run_fim(FimOptions(**opts, n=100_000))
    with pytest.raises(ImaxError, match="layers:zzz: no trainable weight tensor matches"):
        select_parameters(__import__("torch").nn.Linear(2, 2).named_parameters(), "layers:zzz")
    assert not (tmp_path / "f").exists()  # nothing half-written
    for n, name in ((8, "a"), (4, "b")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "fim.json").write_text(json.dumps({"format": "imax-hub/fim/1", "n": n}))
    with pytest.raises(SystemExit) as exc:
        main(["fim-plot", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 1 and not (tmp_path / "x.png").exists()
