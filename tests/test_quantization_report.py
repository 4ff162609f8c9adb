"""The quantization report and the engineers' model report, on the real starter model and its quantized variants."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from deeplab_widgets import Segmenter, sample_path
from deeplab_widgets.analysis.layer_errors import EXACT_DB, cosine, layer_errors, snr_db
from deeplab_widgets.cli import main
from deeplab_widgets.errors import OptionsError
from deeplab_widgets.workflows.model_report import Candidate, measure_models, model_report
from deeplab_widgets.workflows.quantize import quantize


@pytest.fixture(autouse=True)
def own_cache(tmp_path_factory, monkeypatch) -> None:
    monkeypatch.setenv("DEEPLAB_WIDGETS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> dict[str, object]:
    """The starter quantized with three recipes (calibrated on the first three sample photos)."""
    import os

    os.environ["DEEPLAB_WIDGETS_CACHE"] = str(tmp_path_factory.getbasetemp() / "cache")
    return {r: quantize("deeplabv3-starter", r, count=3) for r in ("int8", "int16x8", "weight-only-int4")}


def test_snr_and_cosine_of_known_signals() -> None:
    f = np.ones(1000, np.float32)
    assert snr_db(f, f) == EXACT_DB
    assert snr_db(f, f * 1.1) == pytest.approx(20.0)  # noise energy 1% of the signal's
    assert snr_db(f, f * 1.01) == pytest.approx(40.0, abs=1e-3)
    assert cosine(f, 3 * f) == pytest.approx(1.0) and cosine(f, -f) == pytest.approx(-1.0)


def test_layer_errors_follow_the_float_graph_and_rank_the_recipes(variants) -> None:
    photo = sample_path("parrot")  # not one of the calibration photos
    int8 = layer_errors("deeplabv3-starter", variants["int8"].path, photo, name="int8")
    int16 = layer_errors("deeplabv3-starter", variants["int16x8"].path, photo)
    int4 = layer_errors("deeplabv3-starter", variants["weight-only-int4"].path, photo)
    assert len(int8.layers) == len(int16.layers) == len(int4.layers) == 70  # every layer matched by name
    assert int8.photo == "parrot.jpg" and int8.model == "int8" and int8.reference == "deeplabv3-starter"
    # int16 activations are closer to float than int8 ones; int4 weights lose far more than either.
    assert int16.layers[0].snr_db > int8.layers[0].snr_db
    assert int8.output_snr_db > 15 and int16.output_snr_db >= int8.output_snr_db - 1
    assert int4.output_snr_db < int8.output_snr_db - 10
    # The layers that add the most noise in int8 are convolutions (the linear bottleneck projections).
    assert {e.op for e in int8.worst(3)} == {"CONV_2D"}
    assert all("project" in e.name for e in int8.worst(3))
    assert all(e.added_noise >= 0 for e in int8.layers) and int8.worst(1)[0].cosine > 0.95
    assert "| layer | op | output | SNR dB |" in int8.table(3)


def test_the_figure_shows_every_variant_and_names_the_worst_layers(variants) -> None:
    from deeplab_widgets.viz.quantization import plot_layer_errors

    photo = sample_path("parrot")
    errors = [layer_errors("deeplabv3-starter", variants[r].path, photo) for r in ("int8", "int16x8")]
    fig = plot_layer_errors(errors, top=4)
    snr_ax, added_ax = fig.axes
    assert len(snr_ax.lines) == 2 and len(added_ax.texts) == 4
    assert len(added_ax.patches) == 70


def test_measure_models_fills_every_column_in_one_run(variants, tmp_path) -> None:
    float_model = Segmenter("deeplabv3-starter")
    int8 = variants["int8"]
    candidates = [
        Candidate("float", float_model, "deeplabv3-starter", "float"),
        Candidate("int8", int8.segmenter(), "deeplabv3-starter", "int8", "float", int8.calibration.names),
    ]
    report = measure_models(candidates, threads=(1, 2), rounds=3, photo="cat")
    assert report.threads == (1, 2)
    f, q = report.row("float"), report.row("int8")
    assert set(f.invoke_ms) == {1, 2} and set(q.pipeline_ms) == {1, 2}
    assert all(ms > 0 for ms in (*f.invoke_ms.values(), *q.pipeline_ms.values()))
    assert f.size_bytes == 2780051 and q.size_bytes < 1.3e6
    assert f.miou > 0.55 and abs(q.miou - f.miou) < 0.03 and f.dataset == "voc, 15 images"
    assert f.agreement is None and q.agreement >= 0.97 and q.agreement_photos == 15
    assert f.peak_mb > q.peak_mb > 0  # int8 weights and arena take less memory than float
    records = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [r["name"] for r in records] == ["float", "int8"] and "invoke_ms_2t" in records[0]
    page = report.to_html()
    assert page.startswith('<table class="dlw-model-report"') and ">int8</td>" in page and "<caption" in page
    for suffix in ("csv", "html", "md"):
        assert report.save(tmp_path / f"table.{suffix}").read_text().strip()
    assert "| model | variant | size MB | invoke ms, 1 thread |" in report.table()
    assert "peak RAM" in report.table() and "segment() includes decoding cat" in report.table()
    assert not list(tmp_path.glob(".*.part"))


def test_measure_models_refuses_repeated_names_and_unknown_references(starter) -> None:
    with pytest.raises(OptionsError, match="distinct names"):
        measure_models([Candidate("a", starter, "m"), Candidate("a", starter, "m")], rounds=3)
    with pytest.raises(OptionsError, match="reference 'b' is not one of the candidates"):
        measure_models([Candidate("a", starter, "m", "int8", "b")], rounds=3)


@pytest.mark.slow
def test_the_model_report_command_writes_csv_and_html(tmp_path, capfd) -> None:
    argv = ["model-report", "--model", "deeplabv3-starter", "--model", "deeplabv3-mnv2-dm05-voc"]
    argv += ["--recipes", "int8", "--count", "3", "--rounds", "3", "--no-memory", "--quiet"]
    assert main([*argv, "--csv", str(tmp_path / "r.csv"), "--html", str(tmp_path / "r.html")]) == 0
    out = capfd.readouterr().out
    assert "| deeplabv3-starter | int8 |" in out and "| deeplabv3-mnv2-dm05-voc | as published |" in out
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["variant"] for r in rows] == ["as published", "int8", "as published"]
    assert "<table" in (tmp_path / "r.html").read_text()


def test_the_cpus_8_bit_dot_product_instructions_are_read_from_its_flags(tmp_path) -> None:
    from deeplab_widgets.workflows.bench import int8_dot_product

    cases = {
        "flags\t\t: fpu sse4_2 avx2 fma avx512f avx512_vnni\n": ("AVX-512 VNNI",),
        "flags\t\t: fpu sse4_2 avx2 fma avx_vnni\n": ("AVX-VNNI",),
        "flags\t\t: fpu sse4_2 avx avx2 fma bmi2\n": (),  # AVX2 alone, as on the machine of RESULTS.md
        "Features\t: fp asimd evtstrm aes crc32 atomics fphp asimdhp asimddp\n": ("ARM dot product (sdot)",),
        "processor\t: 0\n": None,  # no flags listed: unknown
    }
    for text, expected in cases.items():
        (tmp_path / "cpuinfo").write_text("processor\t: 0\n" + text)
        assert int8_dot_product(tmp_path / "cpuinfo") == expected, text
    assert int8_dot_product(tmp_path / "missing") is None


def test_the_model_report_says_when_int8_cannot_be_faster_on_this_cpu(variants) -> None:
    import dataclasses

    float_model, int8 = Segmenter("deeplabv3-starter"), variants["int8"]
    candidates = [
        Candidate("float", float_model, "deeplabv3-starter", "float"),
        Candidate("int8", int8.segmenter(), "deeplabv3-starter", "int8", "float", int8.calibration.names),
    ]
    report = measure_models(candidates, threads=(1,), rounds=3, pipeline=False, memory=False)
    note = "This CPU has no 8-bit dot-product instructions"
    without = dataclasses.replace(report, dot_product=())
    assert note in without.notes() and note in without.to_html()  # the Quantize tab shows the HTML
    assert note not in dataclasses.replace(report, dot_product=("AVX-512 VNNI",)).notes()
    assert note not in dataclasses.replace(report, dot_product=None).notes()  # unknown: nothing claimed


def test_model_report_of_published_models_only_needs_no_quantizer() -> None:
    report = model_report((), models=["deeplabv3-mnv2-dm05-voc"], threads=(1,), rounds=3, memory=False)
    (row,) = report.rows
    assert row.variant == "as published" and row.miou > 0.7 and row.agreement is None
    assert "agreement" not in report.columns() and "peak RAM MB" not in report.columns()  # nothing measured there
    assert "Peak RAM" not in report.notes() and "Agreement" not in report.notes()


def test_the_kernel_plan_shows_what_xnnpack_runs(variants) -> None:
    from deeplab_widgets import RuntimeOptions
    from deeplab_widgets.workflows.bench.kernels import kernel_plan

    one = RuntimeOptions(num_threads=1)
    float_plan = kernel_plan("deeplabv3-starter", one)
    assert float_plan.partitions == 1 and not float_plan.builtin and float_plan.total == 70
    int8 = kernel_plan(variants["int8"].path, one)
    assert int8.partitions == 2 and dict(int8.builtin) == {"AVERAGE_POOL_2D": 1}
    int16 = kernel_plan(variants["int16x8"].path, one)
    assert int16.partitions == 0 and int16.builtin["CONV_2D"] == 38  # no XNNPACK kernel takes int16 activations
    dynamic = kernel_plan(quantize("deeplabv3-starter", "dynamic-int8").path, one)
    assert dict(dynamic.builtin) == {"DEPTHWISE_CONV_2D": 17} and dynamic.partitions > 10
    assert kernel_plan("deeplabv3-starter", RuntimeOptions(num_threads=1, xnnpack=False)).partitions == 0
    assert int8.describe().startswith("XNNPACK runs 70 of 71 ops in 2 partitions; built-in kernels run: 1 AVERAGE")
