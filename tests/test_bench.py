"""The benchmark module, its CLI, plots and TimingPanel, on the real models (few runs: correctness, not speed)."""

from __future__ import annotations

import io
import json
import math

import pytest
from matplotlib.container import ErrorbarContainer
from PIL import Image

from deeplab_widgets import RuntimeOptions, Size, available_backends, load_sample
from deeplab_widgets.analysis.cost import compute_cost
from deeplab_widgets.cli import main
from deeplab_widgets.core.runtime import cpu_count
from deeplab_widgets.errors import BackendError, DelegateError, ModelNotFoundError, OptionsError
from deeplab_widgets.viz.render import render_overlay
from deeplab_widgets.viz.timing import latency_vs_threads, op_costs, published_comparison, stage_breakdown
from deeplab_widgets.workflows.bench import (
    PUBLISHED_LATENCIES,
    STAGES,
    BenchmarkResult,
    LatencyStats,
    PipelineResult,
    SweepProgress,
    benchmark,
    benchmark_pipeline,
    parse_list,
    read_table,
    sweep,
    write_table,
)

STARTER = "deeplabv3-starter"
DM05 = "deeplabv3-mnv2-dm05-voc"


@pytest.fixture(scope="module")
def starter_run() -> BenchmarkResult:
    return benchmark(STARTER, RuntimeOptions(num_threads=1), runs=8, warmup=2)


@pytest.fixture(scope="module")
def small_sweep():
    return sweep([STARTER, DM05], threads=[1], xnnpack=[True], runs=3, progress=False)


@pytest.fixture(scope="module")
def pipeline_run() -> PipelineResult:
    return benchmark_pipeline(STARTER, RuntimeOptions(num_threads=1), image="cat", runs=3, render=render_overlay)


def test_statistics_on_the_starter_model(starter_run):
    r, s = starter_run, starter_run.stats
    assert (r.model, r.backend, r.input) == (STARTER, "litert", "random")
    assert s.count == len(r.samples_ms) == r.requested_runs == 8 and not r.stopped_early
    assert len(r.warmup_ms) == 2
    assert s.min_ms <= s.mean_ms <= s.max_ms
    assert s.min_ms <= s.p5_ms <= s.median_ms <= s.p95_ms <= s.max_ms
    assert s.min_ms == min(r.samples_ms) and s.max_ms == max(r.samples_ms)
    assert r.init_ms > 0 and r.first_ms > 0 and s.min_ms > 0
    assert r.rss_peak_mb >= r.rss_init_mb
    assert "Inference timings in us: Init:" in r.summary()
    assert r.to_dict()["stats"]["count"] == 8 and r.to_dict()["options"]["num_threads"] == 1


def test_latency_stats_are_exact_on_known_values():
    s = LatencyStats.from_samples([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.count, s.min_ms, s.max_ms, s.mean_ms, s.median_ms) == (5, 1.0, 5.0, 3.0, 3.0)
    assert s.std_ms == pytest.approx(math.sqrt(2))  # population std, as benchmark_model
    assert (s.p5_ms, s.p95_ms) == pytest.approx((1.2, 4.8))
    with pytest.raises(OptionsError, match="no timings"):
        LatencyStats.from_samples([])


def test_max_seconds_stops_a_long_run_early():
    r = benchmark(STARTER, RuntimeOptions(num_threads=1), runs=100_000, warmup=0, max_seconds=0.05)
    assert r.stopped_early and 1 <= r.stats.count < 100_000


def test_a_real_photo_as_input():
    r = benchmark(DM05, RuntimeOptions(num_threads=1), runs=2, image="cat")
    assert r.input == "cat" and r.stats.count == 2


def test_xnnpack_off_runs_the_model_without_the_delegate_and_finds_the_same_classes(segmenters):
    """How much slower XNNPACK off is: benchmarks/RESULTS.md, "`invoke()` latency of the zoo"."""
    on, off = (RuntimeOptions(num_threads=1, xnnpack=x) for x in (True, False))
    assert [r.options.xnnpack for r in (benchmark(DM05, on, runs=2), benchmark(DM05, off, runs=2))] == [True, False]
    segmenter = segmenters[DM05]
    plans = [{op["op_name"] for op in segmenter.spec.runner(o).interpreter._get_ops_details()} for o in (on, off)]
    assert "DELEGATE" in plans[0] and "DELEGATE" not in plans[1]  # XNNPACK's nodes in the execution plan
    photo = load_sample("cat")
    with_xnnpack, without = (segmenter.with_options(o).segment(photo) for o in (on, off))
    assert [c.name for c in without.present_classes()] == [c.name for c in with_xnnpack.present_classes()]
    assert (without.labels == with_xnnpack.labels).mean() > 0.98  # quantized kernels round a few pixels apart


def test_pipeline_stages_add_up(pipeline_run):
    p = pipeline_run
    assert tuple(s.name for s in p.stages) == STAGES
    assert all(s.stats.count == 3 for s in p.stages)
    assert p.image_size == Size.of(load_sample("cat"))
    assert p.stage("total").stats.mean_ms >= p.stage("invoke").stats.mean_ms
    assert sum(p.shares().values()) == pytest.approx(1.0, abs=0.02)
    assert p.render.startswith("Colourise the class map")
    assert [row["stage"] for row in p.rows()] == list(STAGES)
    default = benchmark_pipeline(STARTER, RuntimeOptions(num_threads=1), runs=1, warmup=0)
    assert default.input == "cat" and "palette PNG" in default.render


def test_render_overlay_is_a_picture_of_the_photo(starter):
    photo = load_sample("cat")
    data = render_overlay(photo, starter.segment(photo))
    decoded = Image.open(io.BytesIO(data))
    assert decoded.format == "JPEG" and decoded.size == photo.size


def test_sweep_rows_and_progress_callback(small_sweep):
    rows = small_sweep.rows()
    assert [(r["model"], r["threads"], r["xnnpack"], r["stage"]) for r in rows] == [
        (STARTER, 1, True, "invoke"),
        (DM05, 1, True, "invoke"),
    ]
    runs: list[SweepProgress] = []
    result = sweep(
        STARTER, threads=[1], xnnpack=[True, False], runs=2, warmup=1, progress=False, on_progress=runs.append
    )
    # Progress counts timed runs (warm-up not counted); the call after each configuration carries its result.
    assert [(p.runs_done, p.runs_total, p.configs_done) for p in runs] == [
        (1, 4, 0),
        (2, 4, 0),
        (2, 4, 1),
        (3, 4, 1),
        (4, 4, 1),
        (4, 4, 2),
    ]
    assert [p.result for p in runs if p.result is not None] == list(result.results)
    assert "no XNNPACK" in runs[-1].label and runs[-1].configs_total == 2
    installed = sweep(STARTER, threads=1, backends="installed", runs=1, warmup=0, progress=False)
    assert [r.backend for r in installed.results] == available_backends()


def test_sweep_on_step_is_deprecated_and_still_called_after_each_configuration() -> None:
    steps: list[tuple[int, int, str]] = []
    with pytest.warns(DeprecationWarning, match=r"sweep\(on_step=...\) is deprecated.*on_progress="):
        sweep(
            STARTER,
            threads=[1],
            xnnpack=[True, False],
            runs=1,
            warmup=0,
            progress=False,
            on_step=lambda *a: steps.append(a),
        )
    assert [s[:2] for s in steps] == [(1, 2), (2, 2)] and "no XNNPACK" in steps[1][2]


def test_sweep_and_benchmarks_take_a_segmenter(starter) -> None:
    one = RuntimeOptions(num_threads=1)
    assert sweep(starter, threads=[1], runs=1, warmup=0, progress=False).results[0].model == STARTER
    assert benchmark(starter, runs=1, warmup=0).options == starter.options  # a Segmenter's options by default
    assert benchmark(starter, one, runs=1, warmup=0).options == one
    assert benchmark_pipeline(starter, one, runs=1, warmup=0, resize="pad").options == one


def test_compute_cost_per_op_type(starter_run):
    from deeplab_widgets.analysis.deeplab import read_graph

    cost = compute_cost(STARTER, starter_run)
    graph = read_graph(STARTER)
    assert cost.total_macs == graph.summary.total_macs == sum(o.macs for o in cost.ops)
    assert 0.70e9 < cost.total_macs < 0.75e9  # the starter model is ~0.73 GMACs
    assert [o.op for o in cost.ops[:2]] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert sum(o.layers for o in cost.ops) == len(graph.layers)
    assert sum(o.macs_share for o in cost.ops) == pytest.approx(1.0)
    assert cost.gflops == pytest.approx(2 * cost.total_macs / (starter_run.stats.median_ms * 1e-3) / 1e9)
    assert compute_cost(STARTER).gflops is None and "GFLOP/s" in cost.table()
    ax = op_costs(cost).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["CONV_2D", "DEPTHWISE_CONV_2D"]
    assert ax.get_xlabel() == "millions of multiply-accumulates (MMACs)" and "GFLOP/s" in ax.get_title()


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_table_export_round_trips(small_sweep, tmp_path, suffix):
    path = small_sweep.save(tmp_path / f"timings{suffix}")
    assert read_table(path) == small_sweep.rows()
    assert not list(tmp_path.glob(".*part"))  # atomic write left nothing behind
    numbers = [v for row in small_sweep.rows() for v in row.values() if isinstance(v, float)]
    assert numbers and all(v == round(v, 3) for v in numbers), "to the microsecond (ms) and the kilobyte (MB)"


def test_text_table(small_sweep):
    lines = small_sweep.table().splitlines()
    assert lines[0].split()[:5] == ["model", "input", "image", "backend", "threads"] and "median" in lines[0]
    assert "memory MB" in lines[0] and "random pixels" in lines[2]  # plain words, not "thr", "rss", "input random"
    assert lines[2].startswith(STARTER) and lines[3].startswith(DM05) and lines[-1] == "(times in ms)"


def test_bad_input_errors(tmp_path):
    with pytest.raises(OptionsError, match=r"runs must be a positive whole number, not 0"):
        benchmark(STARTER, runs=0)
    with pytest.raises(OptionsError, match=r"runs must be a positive whole number, not -3"):
        sweep(STARTER, runs=-3)
    with pytest.raises(OptionsError, match="warmup must be"):
        benchmark(STARTER, warmup=-1)
    with pytest.raises(OptionsError, match="max_seconds must be"):
        benchmark(STARTER, max_seconds=0)
    with pytest.raises(OptionsError, match=rf"num_threads must be between 1 and {cpu_count()}"):
        sweep(STARTER, threads=[1, cpu_count() + 1], runs=1)
    with pytest.raises(ModelNotFoundError, match="unknown model 'no-such-model'"):
        sweep(["no-such-model"], runs=1)
    with pytest.raises(DelegateError, match="could not load delegate"):
        sweep(STARTER, threads=[1], delegates=str(tmp_path / "libnothing.so"), runs=1, progress=False)
    with pytest.raises(BackendError, match="unknown backend 'tpu'"):
        sweep(STARTER, backends="tpu", runs=1)
    with pytest.raises(OptionsError, match=r"export to \.csv or \.json"):
        write_table([], tmp_path / "timings.txt")
    with pytest.raises(OptionsError, match="expected on or off, not 'maybe'"):
        parse_list("on,maybe", bool)
    with pytest.raises(OptionsError, match="no models to benchmark"):
        sweep([], runs=1)
    with pytest.raises(OptionsError, match="nothing to benchmark"):
        sweep(STARTER, threads=[], runs=1)
    assert parse_list("1, 2", int) == (1, 2) and parse_list("on,off", bool) == (True, False)


def test_cli_prints_a_table_and_saves_csv(capsys, tmp_path):
    target = tmp_path / "t.csv"
    assert main(["bench", "--runs", "3", "--threads", "1", "--xnnpack", "on,off", "--quiet", "--csv", str(target)]) == 0
    out = capsys.readouterr().out
    assert "deeplab-widgets bench on" in out and "median" in out and "(times in ms)" in out
    table = [line for line in out.splitlines() if line.startswith(STARTER)]
    assert len(table) == 2 and " on " in table[0] and " off " in table[1]
    assert [r["xnnpack"] for r in read_table(target)] == [True, False]


def test_cli_json_to_stdout_and_pipeline(capsys):
    assert main(["bench", "--pipeline", "--runs", "2", "--threads", "1", "--quiet", "--json", "-"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["stage"] for r in rows] == list(STAGES) and rows[0]["input"] == "cat"


def test_cli_bad_input(capsys):
    assert main(["bench", "--runs", "0", "--quiet"]) == 1
    assert capsys.readouterr().err.strip() == "deeplab-widgets: error: runs must be a positive whole number, not 0"
    assert main(["bench", "--threads", "1,99", "--quiet"]) == 1
    assert "num_threads must be between 1 and" in capsys.readouterr().err


def test_latency_vs_threads_plot(small_sweep):
    for kind in ("errorbar", "box"):
        ax = latency_vs_threads(small_sweep, kind=kind).axes[0]
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("threads", "latency (ms)")
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [STARTER, DM05]
    with pytest.raises(OptionsError, match="unknown plot kind"):
        latency_vs_threads(small_sweep, kind="pie")


def test_published_comparison_plot(starter_run):
    ax = published_comparison(starter_run).axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[:2] == ["Pixel 3\nGPU", "Pixel 3\nCPU, 4 thr"] and ticks[-1] == "measured\nCPU, 1 thr"
    heights = [p.get_height() for p in ax.patches][: len(PUBLISHED_LATENCIES) + 1]
    assert heights == pytest.approx([16, 37, 20, 23, 16, 25, starter_run.stats.median_ms])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "published TFLite table (phones, quoted)" and legend[1].startswith("measured (x86_64")
    assert legend[1].endswith("median and 5-95%")
    assert ax.get_title() == f"measured here vs the published TFLite table\n{STARTER}"
    assert ax.get_ylabel() == "latency (ms)"
    (spread,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]  # the measured bar's 5-95% range
    (segment,) = spread.lines[2][0].get_segments()
    assert tuple(segment[:, 1]) == pytest.approx((starter_run.stats.p5_ms, starter_run.stats.p95_ms))


def test_published_comparison_of_an_interleaved_timing_names_its_tasks_and_the_load():
    from deeplab_widgets.workflows.interleaved import invoke_task, time_interleaved

    timing = time_interleaved(
        {f"{n} thread{'s' * (n > 1)}": invoke_task(STARTER, RuntimeOptions(num_threads=n)) for n in (1, 2)}, rounds=3
    )
    ax = published_comparison(timing).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()][-2:] == ["measured\n1 thread", "measured\n2 threads"]
    assert ax.get_title().startswith("measured here vs the published TFLite table\n3 interleaved rounds; load average")
    heights = [p.get_height() for p in ax.patches][len(PUBLISHED_LATENCIES) : len(PUBLISHED_LATENCIES) + 2]
    assert heights == pytest.approx([s.median_ms for s in timing.stats])


def test_the_names_from_before_the_published_table_still_work_with_a_warning():
    from deeplab_widgets.viz import timing
    from deeplab_widgets.workflows import bench

    with pytest.warns(DeprecationWarning, match="use PUBLISHED_LATENCIES"):
        assert bench.SEED_LATENCIES is PUBLISHED_LATENCIES
    with pytest.warns(DeprecationWarning, match="use published_comparison"):
        assert timing.seed_comparison is published_comparison


def test_stage_breakdown_plot(pipeline_run):
    ax = stage_breakdown(pipeline_run).axes[0]
    assert ax.get_xlabel() == "mean time per image (ms)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(STAGES[:-1])
    widths = [p.get_width() for p in ax.patches]
    assert sum(widths) == pytest.approx(pipeline_run.stage("total").stats.mean_ms, rel=0.02)
    with pytest.raises(OptionsError, match="no invoke"):
        latency_vs_threads([pipeline_run])


def test_timing_panel_driven_from_python(tmp_path):
    from deeplab_widgets.widgets.timing_panel import TimingPanel

    panel = TimingPanel(selected=[STARTER], runs=3)
    for toggle in panel.thread_toggles[1:]:
        toggle.value = False
    assert panel.threads == (1,)
    result = panel.run()
    assert result is panel.sweep and [r.model for r in result.results] == [STARTER]
    assert panel.progress.value == panel.progress.max == 3 and not panel.run_button.disabled  # runs, not configurations
    assert STARTER in panel.table.value and panel.status.value.startswith("done: 1 configuration")
    assert "<table" in panel.table.value
    csv_lines = panel.download_csv.data.decode().splitlines()  # the "download table (CSV)" button's file
    assert csv_lines[0].startswith("model,backend,threads") and csv_lines[1].startswith(f"{STARTER},")
    errorbar_png = panel.plot.value
    assert errorbar_png[:8] == b"\x89PNG\r\n\x1a\n"
    panel.plot_kind.value = "published"  # display-only: redraws, never re-runs
    assert panel.sweep is result and panel.plot.value != errorbar_png
    table = panel.table.value
    panel.delegate.value = str(tmp_path / "libnothing.so")
    assert panel.run() is None
    assert "DelegateError: could not load delegate" in panel.status.value
    assert "showing the last good result" in panel.status.value
    assert panel.sweep is result and panel.table.value == table  # the last good result stays
    panel.delegate.value = ""
    panel.thread_toggles[0].value = False
    assert panel.run() is None and "at least one thread" in panel.status.value
    panel.thread_toggles[0].value = True
    panel.pipeline.value = True
    piped = panel.run()
    assert [row["stage"] for row in piped.rows()] == list(STAGES) and "decode" in panel.table.value
    assert panel.plot.value[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_stopping_a_benchmark_keeps_the_configurations_that_finished():
    import time

    from deeplab_widgets.widgets.timing_panel import TimingPanel

    panel = TimingPanel(selected=[STARTER], runs=200, max_seconds=1.0)
    panel.xnnpack.value = "on and off"
    for toggle in panel.thread_toggles[1:]:
        toggle.value = False
    panel.models.value = [STARTER, DM05]  # 2 models x XNNPACK on and off: 4 configurations of up to 1 s each
    assert panel.start()
    assert panel.progress.max == 4 * 200  # counted in runs from the start
    try:
        deadline = time.monotonic() + 120
        while not panel.finished:
            assert panel.running and time.monotonic() < deadline
            time.sleep(0.05)
        assert panel.progress.max == 4 * 200 and panel.progress.value >= 200  # counted in runs
    finally:
        panel.stop()
    finished = len(panel.finished)
    assert 1 <= finished < 4 and not panel.running
    assert panel.status.value == f"stopped after {finished} of 4 configurations: the table shows the finished ones"
    assert panel.sweep is not None and list(panel.sweep.results) == list(panel.finished)
    assert panel.table.value.count("<tr>") == 1 + finished  # the header and one row per finished configuration
    assert f"<td style='padding:2px 8px;text-align:left'>{STARTER}</td>" in panel.table.value
    assert len(panel.download_csv.data.decode().splitlines()) == 1 + finished
    assert panel.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
