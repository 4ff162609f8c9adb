"""Seeded fault campaign: damaged models and photos through `segment()`; every outcome is a result or a project error.

The test suite runs a few dozen cases of each kind (tests/test_faults.py); run more now and then with

    python tests/fault_campaign.py --cases 500

Each case runs in a child process, so a damaged file that crashed the interpreter would show as a crash
instead of taking the campaign down. Prints one line per kind: cases, results, project errors, escapes, crashes.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

#: Runs in the child: reads (kind, bytes as latin-1) cases from stdin, prints one outcome per line.
CHILD = r"""
import json, sys, warnings
from deeplab_widgets import DeeplabWidgetsError, Segmenter, load_sample
warnings.simplefilter("ignore")
photo = load_sample("cat")
starter = Segmenter("deeplabv3-starter")
for line in sys.stdin:
    kind, data = json.loads(line)
    data = data.encode("latin-1")
    try:
        if kind == "model":
            result = Segmenter.from_file(data).segment(photo)
        else:
            result = starter.segment(data)
        assert result.labels.ndim == 2 and result.labels.size > 0
        outcome = "result"
    except DeeplabWidgetsError:
        outcome = "error"
    except Exception as exc:
        outcome = f"escape {type(exc).__name__}: {exc}"
    print(json.dumps(outcome), flush=True)
"""


@dataclass(frozen=True)
class Case:
    """One damaged input: what it is ("model" or "image"), how it was damaged, and its bytes."""

    kind: str
    damage: str
    data: bytes


def damaged(data: bytes, kind: str, rng: random.Random) -> Case:
    """`data` with one seeded kind of damage: truncated, bytes flipped, a block zeroed, or a header overwritten."""
    how = rng.choice(["truncate", "flip", "zero", "header"])
    buf = bytearray(data)
    if how == "truncate":
        buf = buf[: rng.randrange(1, len(buf))]
    elif how == "flip":
        for _ in range(rng.randint(1, 64)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif how == "zero":
        start = rng.randrange(len(buf))
        size = min(rng.randint(1, 4096), len(buf) - start)
        buf[start : start + size] = bytes(size)
    else:
        end = min(len(buf), 256)
        for i in range(rng.randrange(8, end)):
            buf[i] = rng.randrange(256)
    return Case(kind, how, bytes(buf))


def cases(count: int, seed: int = 0) -> Iterator[Case]:
    """`count` damaged models and `count` damaged photos (JPEG, PNG, BMP), the same ones for the same seed."""
    import io

    from deeplab_widgets import load_sample
    from deeplab_widgets.assets.zoo import fetch_model

    rng = random.Random(seed)
    model = fetch_model("deeplabv3-starter").read_bytes()
    photo = load_sample("cat")
    photos = []
    for fmt in ("JPEG", "PNG", "BMP"):
        buf = io.BytesIO()
        photo.save(buf, format=fmt)
        photos.append(buf.getvalue())
    for _ in range(count):
        yield damaged(model, "model", rng)
    for _ in range(count):
        yield damaged(rng.choice(photos), "image", rng)


def run(batch: list[Case]) -> list[str]:
    """The outcome of each case ("result", "error", "escape ...", or "crash ..." for a dead child)."""
    outcomes: list[str] = []
    todo = list(batch)
    while todo:
        child = subprocess.run(
            [sys.executable, "-c", CHILD],
            input="".join(json.dumps([c.kind, c.data.decode("latin-1")]) + "\n" for c in todo),
            capture_output=True,
            text=True,
            timeout=600,
        )
        done = [json.loads(line) for line in child.stdout.splitlines()]
        outcomes += done
        if len(done) < len(todo):  # the child died on case len(done): record it and go on after it
            outcomes.append(f"crash (exit {child.returncode}, {todo[len(done)].damage})")
            todo = todo[len(done) + 1 :]
        else:
            todo = []
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100, help="damaged files of each kind (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    batch = list(cases(args.cases, args.seed))
    outcomes = run(batch)
    for kind in ("model", "image"):
        tally = Counter(o.split(" ")[0] for c, o in zip(batch, outcomes, strict=True) if c.kind == kind)
        print(f"{kind}: {args.cases} cases, {dict(tally)}")
    for case, outcome in zip(batch, outcomes, strict=True):
        if outcome.startswith(("escape", "crash")):
            print(f"  {case.kind} ({case.damage}): {outcome}")


if __name__ == "__main__":
    main()
