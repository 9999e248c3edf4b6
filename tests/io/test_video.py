"""The camera's frames at 64 fps: ffmpeg's fps filter's choice, checked against the ffmpeg binary of
imageio-ffmpeg on real AVI files (MPEG-4, and H.264 with B-frames) written at test time."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest

from emokd.errors import EmokdError
from emokd.io import extras, video

av = pytest.importorskip("av", reason="the 'video' extra (PyAV) is not installed: " + extras.INSTALL_HINT)
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the test extra's imageio-ffmpeg (a real ffmpeg) "
                                                               "is not installed")
pytest.importorskip("cv2", reason="the 'video' extra (OpenCV) is not installed: " + extras.INSTALL_HINT)

from emokd.synth import videoclip  # noqa: E402  (needs the extra)

SIZE = (240, 48)  # wide enough for the 14-bit frame-number bar code, no taller than needed


def stamped_clip(path, n: int, *, fps, codec: str):
    """A clip whose frame i shows the number i in a bar code."""
    def frames():
        for i in range(n):
            frame = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
            videoclip.stamp_frame(frame, i)
            yield frame
    return videoclip.write_avi(path, frames(), fps=fps, size=SIZE, codec=codec)


def ffmpeg_fps64(path) -> np.ndarray:
    """The frame numbers in what `ffmpeg -i PATH -vf fps=64` writes (the paper's command)."""
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-vf", "fps=64",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    frames = np.frombuffer(done.stdout, np.uint8).reshape(-1, SIZE[1], SIZE[0], 3)
    return np.array([videoclip.read_stamp(f) for f in frames])


@pytest.mark.parametrize("codec, fps", [("mpeg4", Fraction(61)), ("h264", Fraction(61)),
                                        ("h264", Fraction(609, 10)), ("mpeg4", Fraction(61000, 1001))])
@pytest.mark.slow
def test_the_frames_chosen_are_ffmpegs_fps_64(tmp_path, codec, fps):
    n = 250
    path = stamped_clip(tmp_path / "clip.avi", n, fps=fps, codec=codec)
    info = video.probe_video(path)
    assert info.fps == fps and info.n_frames == n and info.codec == {"mpeg4": "mpeg4", "h264": "h264"}[codec]
    # decoding yields the frames in presentation order, whatever the container's timestamps say
    decoded = [videoclip.read_stamp(rgb) for _, rgb in video.read_frames(path, range(n))]
    assert decoded == list(range(n))
    reference = ffmpeg_fps64(path)
    assert len(reference) > n  # 64 > 61: frames repeated
    np.testing.assert_array_equal(video.fps_choice(len(reference), fps=info.fps, t0=info.t0, n_in=n), reference)
    # any window of output frames, as the stimulus period takes
    np.testing.assert_array_equal(video.fps_choice(100, fps=info.fps, t0=info.t0, first=37, n_in=n),
                                  reference[37:137])


def test_h264_with_b_frames_in_avi_has_timestamps_out_of_order(tmp_path):
    """Why emokd times frames by their decode index: PyAV's pts of such a file are not in order, and the
    first frame's decode time is one or two frame intervals late (ffmpeg times it from there)."""
    path = stamped_clip(tmp_path / "clip.avi", 40, fps=61, codec="h264")
    with av.open(str(path)) as container:
        pts = [f.pts for f in container.decode(container.streams.video[0])]
    assert sorted(pts) != pts
    assert video.probe_video(path).t0 > 0


def test_fps_choice_repeats_frames_where_61_fps_leaves_a_slot_empty():
    index = video.fps_choice(64 * 3, fps=Fraction(61))
    assert index[0] == 0 and np.all(np.diff(index) >= 0) and np.all(np.diff(index) <= 1)
    assert len(np.unique(index)) == 61 * 3  # every input frame once, 9 of them twice
    # a straightforward loop over ffmpeg's rule: the last frame i with round(i * 64 / 61) <= n
    slot = [int(Fraction(i * 64, 61) + Fraction(1, 2)) for i in range(200)]
    np.testing.assert_array_equal(index, [max(i for i in range(200) if slot[i] <= n) for n in range(64 * 3)])


def test_stimulus_slots_keep_only_the_stimulus_period():
    start_s, end_s = video.stimulus_in_video(30 * 256 + 100, 90 * 256 + 7, 256.0, align="bdf")
    slots = video.stimulus_slots(start_s, end_s)
    times = np.arange(slots.start, slots.stop) / 64
    assert times[0] >= start_s and times[-1] < end_s
    assert (slots.start - 1) / 64 < start_s and slots.stop / 64 >= end_s  # none left out either
    assert video.stimulus_in_video(100, 356, 256.0, align="stimulus") == (0, 1)
    with pytest.raises(EmokdError, match="align='camera'"):
        video.stimulus_in_video(0, 1, 256.0, align="camera")


def test_missing_camera_file_is_one_line(tmp_path):
    (tmp_path / "P1-Rec1-2009.07.09.17.53.46_C2 trigger _C_Section_2.avi").write_bytes(b"")
    with pytest.raises(EmokdError) as err:
        video.find_camera(tmp_path, 2)
    message = str(err.value)
    assert "\n" not in message and "missing camera file" in message and "_C1 trigger _C_Section_2.avi" in message
    assert "C2 trigger" in message  # the other videos are named


def test_video_shorter_than_the_stimulus_is_refused(tmp_path):
    path = stamped_clip(tmp_path / "clip.avi", 61, fps=61, codec="mpeg4")  # 1 s
    info = video.probe_video(path)
    video.check_covers(info, Fraction(1), align="bdf")
    with pytest.raises(EmokdError, match=r"video shorter than the stimulus: its 61 frames .* end at 1\.00 s, the "
                                         r"stimulus ends at 1\.50 s of video time \(video time 0 = BDF start\)"):
        video.check_covers(info, Fraction(3, 2), align="bdf")
    with pytest.raises(EmokdError, match="video shorter than the stimulus: it ends after 61 frames"):
        list(video.read_frames(path, [10, 70]))


def test_a_file_that_is_no_video_is_named(tmp_path):
    bad = tmp_path / "P1-Rec1_C1 trigger _C_Section_2.avi"
    bad.write_bytes(b"RIFF0000AVI nothing")
    with pytest.raises(EmokdError, match=r"_C_Section_2\.avi: (not a readable video|holds no video stream)"):
        video.probe_video(bad)


def test_missing_packages_name_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av":
            raise ImportError("No module named 'av'", name="av")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    monkeypatch.delitem(__import__("sys").modules, "av")
    with pytest.raises(EmokdError) as err:
        extras.require_video("av")
    message = str(err.value)
    assert "\n" not in message and "'video' extra" in message and 'pip install "emokd[video]"' in message
    assert "--no-deps mediapipe==0.10.14" in message
    assert not extras.video_available()


def test_a_corrupt_stream_ends_in_one_line_or_decodes(tmp_path):
    """A third of the file overwritten: the decoder conceals it, or emokd names the file (never a decoder
    traceback that would stop `prepare --skip-bad`)."""
    path = stamped_clip(tmp_path / "clip.avi", 120, fps=61, codec="h264")
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    start = len(data) // 3
    data[start:start + len(data) // 3] = rng.integers(0, 256, len(data) // 3, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    try:
        got = [i for i, _ in video.read_frames(path, range(120))]
    except EmokdError as err:  # either the decoder gives up (named) or the demuxer stops early (too short)
        assert str(path) in str(err) and "\n" not in str(err)
    else:
        assert got == list(range(120))  # FFmpeg concealed the damage: every frame still came out
