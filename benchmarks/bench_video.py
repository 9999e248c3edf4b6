"""Frames per second of the video step: decode + 64 fps choice + face detection + alignment.

Writes a camera clip like the database's (780 x 580, 61 fps, H.264 with B-frames, or --codec mpeg4):
the bundled photograph (``skimage.data.astronaut``) moving, scaling and turning, then times
:func:`emokd.io.facevideo.video_face_frames` on all of it, in this one process, and the decoding
alone. Prints the 64 fps output frames made per second of wall time and per second of CPU time
(mediapipe runs its graphs on threads of its own), and what the whole database takes from that:
about 3 million frames at 64 fps (527 stimulus sessions with EEG and video, about 90 s each),
one session per process (``prepare --n-jobs N``), assuming the sessions scale with the cores.

Run:  python benchmarks/bench_video.py [--seconds 20] [--codec h264]
Writes benchmarks/results/video.json. Needs the video extra (and mediapipe, --no-deps) and scikit-image.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import psutil
from _results import write_result

from emokd.io import facevideo, video
from emokd.synth import videoclip

#: output frames of the whole database at 64 fps (the issue's figure: 527 sessions, about 90 s each)
DATABASE_FRAMES = 3_000_000
#: the machines the README's estimate is for: (name, processes at once)
MACHINES = (("a laptop, 4 cores", 4), ("a 32-core machine", 32))


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the clip (s)")
    parser.add_argument("--codec", default="h264", choices=sorted(videoclip.CODECS))
    parser.add_argument("--size", default="780x580", help="frame size, WxH (the database's camera: 780x580)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    fps = Fraction(61)
    n_in = int(args.seconds * fps)
    tmp = Path(tempfile.mkdtemp(prefix="emokd-bench-video-"))
    try:
        motion = videoclip.clip_motion(n_in, fps=float(fps), size=size, eye_distance_px=65.0)
        camera = videoclip.write_avi(tmp / "camera.avi", videoclip.render_frames(motion, size=size), fps=fps, size=size,
                                     codec=args.codec)
        proc = psutil.Process()
        t0, c0 = time.perf_counter(), proc.cpu_times()
        n_decoded = sum(1 for _ in video.read_frames(camera, range(n_in)))
        decode_s = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), proc.cpu_times()
        faces = facevideo.video_face_frames(camera, Fraction(0), Fraction(n_in - 1, 61))
        wall_s = time.perf_counter() - t0
        c1 = proc.cpu_times()
        cpu_s = (c1.user - c0.user) + (c1.system - c0.system)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n_out = len(faces.frames)
    fps_wall, fps_cpu = n_out / wall_s, n_out / cpu_s
    result = {
        "codec": args.codec, "size": list(size), "input_fps": 61, "clip_seconds": args.seconds,
        "input_frames": n_decoded, "output_frames_64fps": n_out, "lost": int(faces.lost.sum()),
        "decode_seconds": decode_s, "decode_fps": n_decoded / decode_s,
        "step_seconds": wall_s, "step_cpu_seconds": cpu_s,
        "output_fps_wall": fps_wall, "output_fps_cpu": fps_cpu,
        "database_frames": DATABASE_FRAMES,
        "database_hours_one_process": DATABASE_FRAMES / fps_wall / 3600,
        "database_hours": {name: DATABASE_FRAMES / (fps_cpu * n) / 3600 for name, n in MACHINES},
        "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"{n_out} face frames at 64 fps from {n_decoded} frames of {size[0]}x{size[1]} {args.codec} at 61 fps, "
          f"{result['lost']} lost")
    print(f"  decoding alone:      {result['decode_fps']:7.0f} frames/s")
    print(f"  the whole step:      {fps_wall:7.1f} frames/s of wall time, {fps_cpu:.1f} per CPU-second "
          f"({cpu_s / wall_s:.2f} cores busy)")
    print(f"  the database ({DATABASE_FRAMES / 1e6:.0f} M frames): {result['database_hours_one_process']:.1f} h in one "
          "process here")
    for name, n in MACHINES:
        print(f"    on {name} (--n-jobs {n}, one core each): {result['database_hours'][name]:.1f} h")
    write_result("video", result)
    return result


if __name__ == "__main__":
    main()
