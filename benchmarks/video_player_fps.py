"""Frames per second of the VideoPlayer's playback loop against the same loop without any display.

Interleaved in one run (the machine may be shared): each round plays the cockatoo clip from `--start` to its
end (a) through `segment_video` with display-size frames and nothing shown (the loop's bound), (b) through the
VideoPlayer (each frame: a display-size JPEG and the model-resolution class map sent to the browser viewer),
and, with `--before REV`, (c) through the VideoPlayer of git revision REV (e.g. the one that rendered each frame
to a JPEG in the kernel); the order of the loops rotates from round to round. Then, on 40 frames segmented
beforehand, it times each player's display step alone (what the kernel does per frame besides decoding and the
model), interleaved frame by frame, in wall and thread CPU milliseconds. No browser is attached: the widgets'
messages are built and dropped, so this times the kernel's side of playback. Also prints the bytes each player
sends per frame.

    python benchmarks/video_player_fps.py [--rounds 3] [--start 180] [--before 17343ad]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from deeplab_widgets import Segmenter, Size
from deeplab_widgets.workflows.bench import machine_description
from deeplab_widgets.workflows.video import segment_video

ROOT = Path(__file__).resolve().parents[1]
DISPLAY = Size(360, 640)


def player_module_at(revision: str) -> ModuleType:
    """`deeplab_widgets.widgets.video_player` as it was at a git revision (imported beside today's)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{revision}:deeplab_widgets/widgets/video_player.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    name = "deeplab_widgets.widgets._video_player_before"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "deeplab_widgets.widgets"
    sys.modules[name] = module
    exec(compile(source, f"{revision}:video_player.py", "exec"), module.__dict__)
    return module


def bound_fps(segmenter: Segmenter, start: int) -> float:
    """The playback loop without a display: decode (with display-size frames) and the model."""
    times = [time.perf_counter() for _ in segment_video(
        "cockatoo", segmenter, frames=True, frame_size=DISPLAY, start=start, progress=False
    )]  # fmt: skip
    return (len(times) - 1) / (times[-1] - times[0])


def player_fps(player: Any, start: int) -> float:
    """Frames per second of `player` playing from `start` to the end (first to last frame shown)."""
    player.show_frame(start)
    times: list[float] = []
    player.observe(lambda _: times.append(time.perf_counter()), names="frame")
    player.play()
    while player.playing:
        time.sleep(0.05)
    for thread in threading.enumerate():
        if thread.name == "video-player":
            thread.join()
    return (len(times) - 1) / (times[-1] - times[0])


def display_ms(players: dict[str, Any], segmenter: Segmenter, start: int) -> dict[str, tuple[float, float]]:
    """Median (wall, thread CPU) milliseconds of each player's display step on the same 40 frames."""
    frames = list(segment_video(
        "cockatoo", segmenter, frames=True, frame_size=DISPLAY, start=start, limit=40, progress=False
    ))  # fmt: skip
    wall: dict[str, list[float]] = {name: [] for name in players}
    cpu: dict[str, list[float]] = {name: [] for name in players}
    for frame in frames * 3:
        for name, player in players.items():
            show = player._show
            t0, c0 = time.perf_counter(), time.thread_time()
            show(frame, scores=False) if "scores" in show.__code__.co_varnames else show(frame)
            cpu[name].append((time.thread_time() - c0) * 1e3)
            wall[name].append((time.perf_counter() - t0) * 1e3)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in players}


def sent_bytes(player: Any) -> int:
    """Bytes of the picture the player sends for the frame on screen."""
    viewer = getattr(player, "viewer", None)
    if viewer is not None:
        return len(viewer.photo) + len(viewer.mask_png)
    return len(player.display_image.value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start", type=int, default=180, help="first frame played (the clip has 280)")
    parser.add_argument("--before", help="git revision whose VideoPlayer to compare with")
    args = parser.parse_args()

    from deeplab_widgets.widgets.video_player import VideoPlayer

    segmenter = Segmenter("deeplabv3-starter")
    # As fast as the loop allows (playback in the Workbench waits for each frame's time in the clip).
    players = {"VideoPlayer (browser viewer)": VideoPlayer("cockatoo", segmenter, realtime=False)}
    if args.before:
        old = player_module_at(args.before)
        players[f"VideoPlayer at {args.before} (JPEG rendered in the kernel)"] = old.VideoPlayer("cockatoo", segmenter)
    results: dict[str, list[float]] = {"bound: segment_video with display-size frames, no display": []}
    results.update({name: [] for name in players})
    loads = []
    loops: list[tuple[str, Any]] = [("bound: segment_video with display-size frames, no display", None)]
    loops += list(players.items())
    for round_ in range(args.rounds):
        for name, player in loops[round_ % len(loops) :] + loops[: round_ % len(loops)]:
            fps = bound_fps(segmenter, args.start) if player is None else player_fps(player, args.start)
            results[name].append(fps)
        loads.append(os.getloadavg()[0])
        print("round:", ", ".join(f"{v[-1]:.1f}" for v in results.values()), f"(load {loads[-1]:.1f})", flush=True)

    bound = results["bound: segment_video with display-size frames, no display"]
    print(f"\nMachine: {machine_description()}; 1-minute load average {min(loads):.1f}-{max(loads):.1f}")
    print(f"Frames {args.start}-279 of cockatoo.mp4, deeplabv3-starter, display {DISPLAY}\n")
    print("| loop | frames/s (median) | ratio to the bound (median of rounds) | bytes sent per frame |")
    print("|---|---|---|---|")
    for name, fps in results.items():
        ratio = statistics.median(f / b for f, b in zip(fps, bound, strict=True))
        size = sent_bytes(players[name]) if name in players else 0
        print(f"| {name} | {statistics.median(fps):.1f} | {ratio:.2f} | {size or '-'} |")
    print("\n| display step per frame (kernel) | wall ms (median) | thread CPU ms (median) |")
    print("|---|---|---|")
    for name, (wall, cpu) in display_ms(players, segmenter, args.start).items():
        print(f"| {name} | {wall:.2f} | {cpu:.2f} |")
    print(f"(1-minute load average after: {os.getloadavg()[0]:.1f})")
    for player in players.values():
        player.close()


if __name__ == "__main__":
    main()
