"""Video: the real cockatoo clip (PASCAL "bird") segmented frame by frame with the starter model."""

from __future__ import annotations

import contextlib
import io
import json
import random
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from deeplab_widgets import RuntimeOptions, Segmenter, Size, VideoFrames
from deeplab_widgets.cli import main
from deeplab_widgets.core.preprocess import Placement
from deeplab_widgets.errors import (
    NoVideoStreamError,
    OptionsError,
    VideoCodecError,
    VideoFormatError,
    VideoNotFoundError,
    VideoTruncatedError,
)
from deeplab_widgets.workflows.video import (
    FlickerMeter,
    ProbabilitySmoother,
    flicker,
    reader,
    segment_video,
    video_info,
    video_throughput,
)
from deeplab_widgets.workflows.video.outputs import write_video_outputs
from deeplab_widgets.workflows.video.reader import VideoReader

BIRD = 3
BIRD_COLOR = np.array([128, 128, 0])  # PASCAL VOC's palette entry for class 3


@pytest.fixture(scope="module")
def clip(shared: Path) -> Path:
    return shared / "video" / "cockatoo.mp4"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def full_run(clip: Path, tmp_path_factory) -> tuple[Path, list[dict], str]:
    """One run of the documented command over the whole clip, shared by the tests that need all 280 frames."""
    out = tmp_path_factory.mktemp("video") / "out" / "cockatoo_overlay.mp4"
    code, stdout, stderr = run_cli("video", str(clip), "--out", str(out), "--json", "--quiet")
    assert code == 0, stderr
    return out, [json.loads(line) for line in stdout.splitlines()], stderr


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_the_cockatoo_clip_resolves_through_the_registry() -> None:
    info = video_info("cockatoo")
    assert (info.width, info.height, info.fps, info.frames, info.codec) == (1280, 720, 20.0, 280, "h264")


@pytest.mark.slow
def test_cli_writes_a_280_frame_720p_video_whose_frames_mostly_show_a_bird(full_run) -> None:
    out, _, _ = full_run
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 1280, 720)
        assert stream.average_rate == 20
        assert not container.streams.audio
    frames = decoded(out)
    assert len(frames) == 280
    bird_share = [float(np.mean(np.abs(f.astype(int) - BIRD_COLOR).sum(axis=-1) < 40)) for f in frames]
    assert sum(s > 0.05 for s in bird_share) > 0.6 * len(frames)  # the raw model flickers: ~72% here
    assert not list(out.parent.glob(".*.part"))


@pytest.mark.slow
def test_cli_json_lines_give_index_time_classes_and_timings_per_frame(full_run) -> None:
    _, lines, stderr = full_run
    assert [line["index"] for line in lines] == list(range(280))
    assert lines[20]["time"] == pytest.approx(1.0)
    assert set(lines[0]["timings_ms"]) == {"decode", "preprocess", "invoke", "postprocess"}
    with_bird = [line for line in lines if "bird" in {c["name"] for c in line["classes"]}]
    assert len(with_bird) > 0.6 * len(lines), len(with_bird)
    assert all(abs(sum(c["fraction"] for c in line["classes"]) - 1) < 1e-4 for line in lines)
    assert "280 frames" in stderr and "top class per frame: bird" in stderr


def test_segment_video_yields_frames_in_order_at_model_or_video_resolution(clip: Path, starter: Segmenter) -> None:
    small = list(segment_video(clip, starter, limit=5, progress=False))
    assert [f.index for f in small] == [0, 1, 2, 3, 4]
    assert [f.time for f in small] == pytest.approx([0, 0.05, 0.1, 0.15, 0.2])
    assert small[0].labels.shape == (257, 257) and small[0].image is None
    full = list(segment_video(clip, starter, limit=5, full_size=True, frames=True, progress=False))
    assert full[0].labels.shape == (720, 1280) and full[0].image.shape == (720, 1280, 3)
    assert "dog" in {c.name for c in full[0].present_classes()}  # the first frames flicker: dog, then bird
    assert "bird" in {c.name for c in full[4].present_classes()}
    # The class map scaled up is the model-resolution map, pixel for pixel (nearest neighbour).
    up = np.asarray(Image.fromarray(small[0].labels).resize((1280, 720), Image.NEAREST))
    assert np.mean(up == full[0].labels) == 1.0


@pytest.mark.slow
def test_frames_on_two_interpreters_come_back_in_order_with_the_class_maps_of_one(
    clip: Path, starter: Segmenter
) -> None:
    """The default (two 1-thread interpreters, two frames at once) gives what one interpreter gives, in frame order."""
    assert starter.options.num_threads == 2
    one = list(segment_video(clip, starter, start=200, limit=30, interpreters=1, progress=False))
    two = list(segment_video(clip, starter, start=200, limit=30, progress=False))
    assert [f.index for f in two] == list(range(200, 230)) == [f.index for f in one]
    agreement = [np.mean(a.labels == b.labels) for a, b in zip(one, two, strict=True)]
    assert min(agreement) >= 0.999  # XNNPACK may sum in another order with one thread than with two
    names = [[c.name for c in f.present_classes()] for f in two]
    assert names == [[c.name for c in f.present_classes()] for f in one]
    assert sum("bird" in n for n in names) >= 25


def test_interpreters_out_of_range_or_with_smoothing_are_refused(clip: Path, starter: Segmenter) -> None:
    with pytest.raises(
        OptionsError, match=r"^interpreters must be between 1 and the options' num_threads \(2\), not 3$"
    ):
        segment_video(clip, starter, interpreters=3, progress=False)
    with pytest.raises(OptionsError, match=r"^interpreters > 1 needs class maps only"):
        segment_video(clip, starter, interpreters=2, smooth=0.6, progress=False)


@pytest.mark.slow
def test_the_readers_cheaper_decoding_gives_the_former_frames_and_class_maps_bit_for_bit(
    clip: Path, starter: Segmenter
) -> None:
    """One FFmpeg thread each for decoder and scaler, planar RGB out of the scaler: the same pixels as before.

    The former path: FFmpeg's default threads, packed RGB (`rgb24`) at the model size. The threshold is exact
    agreement, not a share of pixels: the starter model is so sensitive on this clip that frames differing by
    at most 3 levels (AREA scaling to YUV, then to RGB) moved 1.3% of the class map pixels and changed the
    class list of 18 of the 280 frames. FFmpeg's decoding and scaling are deterministic, so anything short of
    identical frames would be a real change of what the model sees.
    """
    assert (reader.FFMPEG_THREADS, reader.SCALED_FORMAT) == (1, "gbrp")
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        former = [
            f.reformat(width=257, height=257, format="rgb24", interpolation="AREA").to_ndarray()
            for f in container.decode(stream)
        ]
    with reader.VideoReader(clip, (257, 257)) as frames:
        pixels = [f.pixels for f in frames]
    assert len(pixels) == len(former) == 280
    assert all(np.array_equal(a, b) for a, b in zip(pixels, former, strict=True))

    placement = Placement(Size(257, 257), Size(257, 257))
    results = list(segment_video(clip, starter, progress=False))
    expected = [starter.segment_fitted(p, placement) for p in former]
    assert np.mean([np.mean(r.labels == e.labels) for r, e in zip(results, expected, strict=True)]) == 1.0
    names = [[c.name for c in r.present_classes()] for r in results]
    assert names == [[c.name for c in e.present_classes()] for e in expected]
    meter = FlickerMeter()
    for r in results:
        meter.add(r.labels)
    assert meter.result().majority == BIRD


@pytest.mark.slow
def test_smoothing_reduces_flicker_on_the_clip(clip: Path, starter: Segmenter) -> None:
    raw, smooth = FlickerMeter(), FlickerMeter()
    for frame in segment_video(clip, starter, limit=60, progress=False):
        raw.add(frame.labels)
    for frame in segment_video(clip, starter, limit=60, smooth=0.6, progress=False):
        smooth.add(frame.labels)
    assert raw.result().majority == smooth.result().majority == BIRD
    assert smooth.result().mean_changed < 0.75 * raw.result().mean_changed


def test_smoothing_works_with_an_argmax_model_and_a_bad_weight_is_refused(clip: Path, segmenters) -> None:
    frames = list(segment_video(clip, segmenters["deeplabv3-mnv2-dm05-voc"], smooth=0.5, limit=2, progress=False))
    assert len(frames) == 2 and frames[1].labels.shape == frames[0].labels.shape
    with pytest.raises(OptionsError, match=r"smoothing weight must be in \[0, 1\)"):
        segment_video(clip, "deeplabv3-starter", smooth=1.0, progress=False)


def test_flicker_counts_changed_pixels_and_frames_off_the_majority() -> None:
    a = np.zeros((2, 5), np.uint8)
    a[0, :2] = BIRD  # bird, background elsewhere
    b = a.copy()
    b[1, 0] = 12  # one pixel of dog: still bird on top
    c = np.full((2, 5), 12, np.uint8)  # all dog
    result = flicker([a, b, c, a])
    assert result.changed == pytest.approx([0.1, 0.9, 1.0])
    assert result.top == (BIRD, BIRD, 12, BIRD)
    assert (result.majority, result.off_majority, result.top_switches) == (BIRD, 1, 2)
    assert result.stretches() == ((BIRD, 0, 1), (12, 2, 2), (BIRD, 3, 3))
    assert result.stretches(min_frames=2) == ((BIRD, 0, 1),)


@pytest.mark.parametrize(("weight", "lag"), [(0.3, 0), (0.5, 1), (0.6, 1), (0.8, 3), (0.9, 6)])
def test_smoothing_lags_a_clean_change_by_the_frames_until_the_past_weighs_less_than_half(weight, lag) -> None:
    # One pixel, two classes: certain of class 0 for ten frames, then certain of class 1 (frame 0 of the change).
    smoother = ProbabilitySmoother(weight)
    for _ in range(10):
        smoother.update(np.array([[[1.0, 0.0]]], np.float32))
    won = [int(smoother.update(np.array([[[0.0, 1.0]]], np.float32)).argmax()) for _ in range(12)]
    assert won.index(1) == lag  # the notebook's and the module's rule: the first k with w ** (k + 1) < 1/2


def test_video_throughput_times_both_passes_against_the_reference_in_each_round(clip: Path, starter: Segmenter) -> None:
    measured = video_throughput(clip, starter, rounds=2, limit=6)
    assert (measured.frames, measured.threads, measured.parallel) == (6, 2, 2)
    assert len(measured.reference_fps) == len(measured.parallel_fps) == len(measured.single_fps) == 2
    assert all(r > 0 for r in measured.parallel_ratios + measured.single_ratios)
    assert measured.describe().splitlines()[0].startswith("reference (one 2-thread invoke() per frame): ")
    with pytest.raises(OptionsError, match="rounds"):
        video_throughput(clip, starter, rounds=0)


@pytest.fixture(scope="module")
def bad_inputs(clip: Path, tmp_path_factory) -> dict[str, Path]:
    """Files that are not usable videos, made here from the real clip."""
    folder = tmp_path_factory.mktemp("bad")
    (folder / "notes.mp4").write_text("not a video at all\n")
    data = clip.read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])  # the index (moov) sits at the end: gone
    damaged = bytearray(data)  # full length, bytes of the index overwritten (seeded)
    rng = random.Random(0)
    for _ in range(24):
        damaged[rng.randrange(data.rfind(b"moov") + 4, len(data))] = rng.randrange(256)
    (folder / "damaged_index.mp4").write_bytes(damaged)
    faststart = folder / "faststart.mp4"  # index first: the file opens, then the frames run out
    with av.open(str(clip)) as src, av.open(str(faststart), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    (folder / "cut_faststart.mp4").write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 2])
    with wave.open(str(folder / "speech.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    with av.open(str(folder / "garbled.mkv"), "w") as out:  # an MPEG-4 stream whose packets are noise
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(10):
            packet = av.Packet(rng.integers(0, 256, 2000, dtype=np.uint8).tobytes())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, 10)
            out.mux(packet)
    return {p.name: p for p in folder.iterdir()}


BAD = [
    ("notes.mp4", VideoFormatError, "notes.mp4 is not a readable video file"),
    ("cut.mp4", VideoTruncatedError, "its 'mdat' box runs past the end of the file (an incomplete download or copy)"),
    ("damaged_index.mp4", VideoFormatError, "damaged_index.mp4 is complete but its index (moov box) is damaged"),
    # One FFmpeg decoder thread reports the broken packet (frame threads used to drop it and end early).
    ("cut_faststart.mp4", VideoTruncatedError, "cut_faststart.mp4 breaks off at frame"),
    ("speech.wav", NoVideoStreamError, "speech.wav has no video stream (it holds: audio)"),
    ("garbled.mkv", VideoCodecError, "garbled.mkv: its mpeg4 video stream could not be decoded"),
    ("missing.mp4", VideoNotFoundError, "video file not found"),
]
#: cut_faststart.mp4 decodes half the clip before it breaks off.
BAD_CASES = [pytest.param(*b, id=b[0], marks=[pytest.mark.slow] if b[0] == "cut_faststart.mp4" else []) for b in BAD]
#: The files whose container opens: their frames fail while decoding, so the error comes while iterating.
FAIL_WHILE_DECODING = {"cut_faststart.mp4", "garbled.mkv"}


@pytest.mark.parametrize(("name", "error", "message"), BAD_CASES)
def test_bad_video_raises_its_own_error(bad_inputs, tmp_path: Path, name: str, error: type, message: str) -> None:
    path = bad_inputs.get(name, tmp_path / name)
    with pytest.raises(error) as caught:
        frames = segment_video(path, "deeplabv3-starter", progress=False)
        assert name in FAIL_WHILE_DECODING, "an unopenable file must fail when segment_video is called"
        list(frames)
    assert message in str(caught.value)


def test_segment_video_missing_file_raises_at_call(tmp_path: Path) -> None:
    with pytest.raises(VideoNotFoundError, match=r"^video file not found: .*missing\.mp4$"):
        segment_video(tmp_path / "missing.mp4", "deeplabv3-starter", progress=False)


def test_segment_video_returns_an_iterator_that_closes_its_file(clip: Path, starter: Segmenter) -> None:
    frames = segment_video(clip, starter, limit=3, progress=False)
    assert isinstance(frames, VideoFrames) and iter(frames) is frames
    assert frames.total == 3 and frames.info.size == Size(720, 1280) and frames.segmenter is starter
    assert [f.index for f in frames] == [0, 1, 2]
    with pytest.raises(StopIteration):
        next(frames)
    unused = segment_video(clip, starter, progress=False)
    unused.close()  # never iterated: the file is closed all the same
    assert unused._reader._container is None
    with segment_video(clip, starter, progress=False) as early:
        assert next(early).index == 0
    assert early._reader._container is None and list(early) == []


def test_segment_video_retargets_a_given_segmenter_with_resize_and_options(clip: Path, starter: Segmenter) -> None:
    (padded,) = segment_video(
        clip, starter, resize="pad", options=RuntimeOptions(num_threads=1), limit=1, progress=False
    )
    assert padded.labels.shape == (145, 257)  # the 16:9 frame fitted into the 257x257 input, padding cropped off
    assert padded.segmentation.resize == "pad" and padded.segmentation.options.num_threads == 1
    assert starter.resize == "stretch" and starter.options.num_threads == 2  # the caller's segmenter is unchanged


def test_frame_size_as_a_plain_tuple_is_read_as_width_height_with_a_warning(clip: Path, starter: Segmenter) -> None:
    with pytest.warns(DeprecationWarning, match=r"frame_size as a plain \(width, height\) tuple is deprecated"):
        frames = segment_video(clip, starter, frames=True, frame_size=(320, 180), limit=1, progress=False)
    (frame,) = frames
    assert frame.image.shape == (180, 320, 3)
    (same,) = segment_video(clip, starter, frames=True, frame_size=Size(180, 320), limit=1, progress=False)
    assert np.array_equal(same.image, frame.image)


@pytest.mark.parametrize(("name", "error", "message"), BAD_CASES)
def test_cli_reports_bad_video_in_one_line_and_leaves_no_output(
    bad_inputs, tmp_path: Path, name: str, error: type, message: str
) -> None:
    path = bad_inputs.get(name, tmp_path / name)
    out = tmp_path / "out"
    code, _, stderr = run_cli("video", str(path), "--out", str(out / "x.mp4"), "--masks", str(out / "masks"), "--quiet")
    assert code == 1
    assert stderr.startswith("deeplab-widgets: error: ") and message in stderr
    assert stderr.count("\n") == 1
    assert not out.exists() or not any(out.iterdir())


def test_an_interrupted_run_leaves_no_file_under_the_final_names(
    clip: Path, starter: Segmenter, tmp_path: Path
) -> None:
    count = 0

    def render(frame):
        nonlocal count
        count += 1
        if count == 4:
            raise KeyboardInterrupt
        return np.zeros((720, 1280, 3), np.uint8)

    with pytest.raises(KeyboardInterrupt):
        write_video_outputs(clip, starter, out=tmp_path / "v.mp4", masks=tmp_path / "m", render=render, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_masks_and_overlay_on_the_first_frames(clip: Path, tmp_path: Path) -> None:
    code, stdout, _ = run_cli(
        "video", str(clip), "--out", str(tmp_path / "o.mp4"), "--overlay", "--masks", str(tmp_path / "m"),
        "--limit", "8", "--smooth", "0.6", "--quiet",
    )  # fmt: skip
    assert code == 0 and "8 frames" in stdout
    masks = sorted((tmp_path / "m").iterdir())
    assert [p.name for p in masks] == [f"frame_{i:06d}.png" for i in range(8)]
    last = Image.open(masks[-1])
    assert last.mode == "P" and last.size == (1280, 720) and BIRD in np.unique(np.asarray(last))
    frames = decoded(tmp_path / "o.mp4")
    assert len(frames) == 8 and frames[0].shape == (720, 1280, 3)
    # An overlay keeps the photo: unlike a flat mask video it has many distinct colours.
    assert len(np.unique(frames[0].reshape(-1, 3), axis=0)) > 1000


@pytest.mark.slow
def test_seeking_decodes_from_a_keyframe_and_gives_the_pixels_of_a_decode_from_the_start(clip: Path) -> None:
    targets = (0, 1, 76, 150, 279)
    with VideoReader(clip) as reader:
        reference = {f.index: f.pixels for f in reader if f.index in targets}
    for n in targets:
        with VideoReader(clip, start=n, limit=1) as reader:
            (frame,) = list(reader)
        assert frame.index == n and frame.time == pytest.approx(n / 20)
        np.testing.assert_array_equal(frame.pixels, reference[n])  # exact: not a pixel differs
        # The clip's keyframes are frames 0, 76 and 145: the decoder starts at the last one before the target.
        assert reader.decoded_from == max(k for k in (0, 76, 145) if k <= n)


@pytest.mark.slow
def test_video_player_sends_small_frames_to_the_browser_viewer_and_never_reruns_the_model_for_display(
    starter: Segmenter,
) -> None:
    import time

    from deeplab_widgets import VideoPlayer

    player = VideoPlayer("cockatoo", starter)
    viewer = player.viewer
    assert (player.frame, player.slider.max, viewer.revision) == (0, 279, 1)
    assert viewer.photo[:2] == b"\xff\xd8"  # the frame as JPEG, at display size
    assert Image.open(io.BytesIO(viewer.photo)).size == (640, 360)
    player.slider.value = 200  # seek
    assert player.frame == 200 and "frame 200 at 10.00 s" in player.fps_label.value
    mask = Image.open(io.BytesIO(viewer.mask_png))
    assert mask.mode == "P" and mask.size == (257, 257)  # the class map at the model's resolution
    np.testing.assert_array_equal(np.asarray(mask), viewer.result.labels)
    assert BIRD in np.asarray(mask) and viewer.class_names[BIRD] == "bird"
    assert viewer.score_shape == [257, 257, 21] and viewer.scores, "a paused frame carries its probabilities"
    assert viewer.download_name == "cockatoo_frame000200"

    runs, revision = starter.invocations, viewer.revision
    player.alpha = 0.1
    player.mode = "mask"
    player.hidden = (BIRD,)
    assert (viewer.alpha, viewer.mode, viewer.hidden) == (0.1, "mask", (BIRD,))  # drawn by the browser
    viewer.hidden = ()  # a class toggled in the browser's legend comes back to the player's trait
    assert player.hidden == ()
    assert starter.invocations == runs and viewer.revision == revision, "display options never reach the model"

    player.slider.value = 240
    player.play()
    deadline = time.monotonic() + 60
    while player.frame < 246 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert player.playing and viewer.scores == b"", "played frames are sent without probabilities"
    player.pause()
    assert player.frame >= 246 and not player.playing and player.fps > 0
    assert viewer.scores and viewer.download_name == f"cockatoo_frame{player.frame:06d}", "the paused frame, scored"
    player.close()


def test_video_player_shows_a_bad_file_in_its_status_line(starter: Segmenter, tmp_path: Path) -> None:
    from deeplab_widgets import VideoPlayer

    (tmp_path / "notes.mp4").write_text("not a video")
    player = VideoPlayer(tmp_path / "notes.mp4", starter)
    assert "notes.mp4 is not a readable video file" in player.status.value
    assert player.play_button.disabled
    player.playing = True  # what a page could send anyway: nothing plays
    assert not player.playing and player._thread is None
    assert "no video · model <b>deeplabv3-starter</b>" in player.about.value


@pytest.mark.parametrize("interpreters", [1, 2])
def test_a_clip_that_breaks_off_yields_every_frame_decoded_before_the_break(bad_inputs, interpreters: int) -> None:
    frames = []
    with pytest.raises(VideoTruncatedError) as caught:
        for frame in segment_video(
            bad_inputs["cut_faststart.mp4"], "deeplabv3-starter", interpreters=interpreters, progress=False
        ):
            frames.append(frame.index)
    broken = int(str(caught.value).split("breaks off at frame ")[1].split(",")[0])
    assert broken > 100 and frames == list(range(broken))


def _stored_turned(clip: Path, folder: Path, rotation: int, frames: int = 12) -> Path:
    """The clip's first frames stored turned the other way, with a display rotation that shows them upright."""
    path = folder / f"rotated_{rotation}.mp4"
    with av.open(str(clip)) as src, av.open(str(path), "w") as dst:
        stream = dst.add_stream("libx264", rate=20, options={"crf": "12"})
        size = src.streams.video[0].codec_context
        stream.width, stream.height = (size.height, size.width) if rotation in (90, 270) else (size.width, size.height)
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(rotation)
        for i, frame in enumerate(src.decode(video=0)):
            if i == frames:
                break
            stored = np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), -rotation // 90))
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")))
        dst.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_rotation_tag_turns_the_frames_upright(clip: Path, tmp_path: Path, rotation: int) -> None:
    turned = _stored_turned(clip, tmp_path, rotation)
    info = video_info(turned)
    assert (info.size, info.rotation) == (Size(720, 1280), rotation)
    with (
        VideoReader(clip, Size(180, 320), full=True, limit=12) as a,
        VideoReader(turned, Size(180, 320), full=True) as b,
    ):
        for original, shown in zip(a, b, strict=True):
            assert shown.pixels.shape == original.pixels.shape == (180, 320, 3)
            assert shown.image is not None and original.image is not None
            assert np.abs(shown.image.astype(int) - original.image).mean() < 4  # re-encoded, the same picture
    upright_maps = [f.labels for f in segment_video(clip, "deeplabv3-starter", limit=12, progress=False)]
    turned_maps = [f.labels for f in segment_video(turned, "deeplabv3-starter", progress=False)]
    agreement = np.mean([(a == b).mean() for a, b in zip(upright_maps, turned_maps, strict=True)])
    assert agreement > 0.97


def short_clip(source: Path, target: Path, frames: range = range(180, 220), size: tuple[int, int] = (320, 180)) -> Path:
    """Frames `frames` of `source` re-encoded (H.264, `size` as width x height, 20 fps) to `target` (.mkv, .mp4)."""
    with av.open(str(source)) as src, av.open(str(target), "w") as dst:
        stream = dst.add_stream("h264", rate=20)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i in frames:
                small = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                small.pts, small.time_base = i - frames.start, Fraction(1, 20)  # the new clip starts at 0 s
                dst.mux(stream.encode(small))
            if i >= frames.stop:
                break
        dst.mux(stream.encode(None))
    return target


def wait_until(condition, seconds: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.slow
def test_video_player_plays_at_the_clips_frame_rate_and_says_when_it_cannot(clip: Path, segmenters) -> None:
    import time

    from deeplab_widgets import VideoPlayer

    player = VideoPlayer(clip, segmenters["deeplabv3-starter"])
    try:
        player.play()
        started = time.perf_counter()
        wait_until(lambda: player.frame >= 10)
        time.sleep(1.0)
        shown, elapsed = player.frame, time.perf_counter() - started
        player.pause()
        # Frame n is due n / 20 s after frame 0: however fast the machine, never earlier.
        assert shown <= elapsed * player.info.fps + 1, (shown, elapsed)
        assert player.progress_label.value == "" and player.progress.layout.visibility == "hidden"

        player.use(segmenters["deeplabv3-mnv2-voc"])  # 513x513: far slower than 20 frames a second here
        assert player.frame == shown and "deeplabv3-mnv2-voc" in player.about.value
        player.play()
        wait_until(lambda: player.frame >= shown + 12, 180)
        assert not player.keeping_up and "slower than real time (the clip has 20 fps)" in player.fps_label.value
        assert player.progress.layout.visibility == "visible" and player.progress.value == player.frame + 1
        assert f"segmented {player.frame + 1} of 280 frames · about" in player.progress_label.value
        player.pause()
    finally:
        player.close()


@pytest.mark.slow
def test_an_uploaded_video_is_segmented_and_played_and_a_bad_one_keeps_the_video_on_screen(
    clip: Path, starter: Segmenter, tmp_path: Path
) -> None:
    from deeplab_widgets import VideoPlayer

    data = short_clip(clip, tmp_path / "bird.mkv").read_bytes()
    player = VideoPlayer("cockatoo", starter)
    try:
        player.upload.value = ({"name": "my bird.mkv", "type": "video/x-matroska", "size": len(data),
                                "content": memoryview(data)},)  # fmt: skip
        assert player.name == "my bird.mkv" and player.info.size == (180, 320) and player.slider.max == 39
        assert "my bird.mkv · 320x180 · 20 fps · 2.0 s · model <b>deeplabv3-starter</b>" in player.about.value
        assert player.playing, "an upload is segmented from its start at once"
        wait_until(lambda: not player.playing)
        assert player.frame == 39 and player.status.value == ""
        assert player.viewer.download_name == "my_bird_frame000039" and "bird" in player.viewer.result.class_names
        names = {player.viewer.result.class_names[i] for i in np.unique(player.viewer.result.labels)}
        assert "bird" in names

        stored = Path(player.source)
        player.upload.value = (
            {"name": "notes.mp4", "type": "video/mp4", "size": 11, "content": memoryview(b"not a video")},
        )
        assert "notes.mp4 is not a readable video file" in player.status.value
        assert player.source == stored and player.name == "my bird.mkv", "the video on screen stays"
        assert len(list(stored.parent.parent.iterdir())) == 1, "the refused upload's file is gone"
    finally:
        player.close()
    assert not stored.exists(), "closing the player deletes its uploads"


def test_app_mode_refuses_a_video_over_the_upload_limit_or_over_4k_frames(
    clip: Path, starter: Segmenter, tmp_path: Path
) -> None:
    from deeplab_widgets import VideoPlayer
    from deeplab_widgets.widgets.app_policy import AppPolicy

    player = VideoPlayer("cockatoo", starter, policy=AppPolicy(app_mode=True, max_upload_mb=0.05))
    try:
        assert player.upload.max_bytes == 50_000  # the browser refuses it before sending it
        big = short_clip(clip, tmp_path / "big.mp4", range(0, 40), (640, 360)).read_bytes()
        player.upload.value = ({"name": "big.mp4", "type": "video/mp4", "size": len(big), "content": memoryview(big)},)
        assert "this app accepts uploads up to 0.05 MB" in player.status.value and player.name == "cockatoo.mp4"
    finally:
        player.close()
    player = VideoPlayer("cockatoo", starter, policy=AppPolicy(app_mode=True))
    try:
        huge = short_clip(clip, tmp_path / "huge.mp4", range(0, 1), (4000, 2250)).read_bytes()
        player.upload.value = (
            {"name": "huge.mp4", "type": "video/mp4", "size": len(huge), "content": memoryview(huge)},
        )
        assert "huge.mp4 has 4000x2250 frames; this app plays videos up to 3840x2160" in player.status.value
        assert player.name == "cockatoo.mp4" and not player.playing
    finally:
        player.close()
