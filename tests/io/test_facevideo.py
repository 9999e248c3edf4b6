"""From a session's camera to face_frames.npz, on a real face in real containers made at test time: the
bundled photograph moved, scaled and rotated by known amounts, written as AVI at 61 fps (MPEG-4, and
H.264 with B-frames), beside a BDF whose Status marks the stimulus. Then the database's defects, each
in one line, and the command line from a raw folder with only videos to a trained teacher."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from emokd.core.constants import BDF_CHANNELS
from emokd.errors import EmokdError
from emokd.io import extras, mahnob
from emokd.io.bdf import BIOSEMI_UV, DIGITAL_MAX, DIGITAL_MIN, write_bdf
from emokd.io.faces_align import TEMPLATE_48

pytestmark = pytest.mark.skipif(not extras.video_available(),
                                reason="the 'video' extra is not installed: " + extras.INSTALL_HINT)
pytest.importorskip("skimage", reason="scikit-image (the bundled photograph) is not installed")

from emokd.io import facevideo, gaze, video  # noqa: E402
from emokd.synth import videoclip  # noqa: E402

SFREQ = 256
STIM_S = (1.5, 4.5)  # the stimulus in the BDF (s): 3 s, 192 face frames
MOTION = {"max_shift_px": 20.0, "max_scale": 0.1, "max_angle_deg": 8.0}


def tiny_session(root, subject: int, trial_no: int, *, stim_s=STIM_S, total_s: int = 6, n_edges: int = 2):
    """A session folder with a 6 s BDF (noise; Status rising at the stimulus start and end, or ``n_edges`` times)."""
    n = total_s * SFREQ
    data = np.random.default_rng(trial_no).normal(0, 10.0, (len(BDF_CHANNELS), n))  # uV
    data[-1] = 0
    edges = [int(s * SFREQ) for s in stim_s] + [int((stim_s[1] + 0.5) * SFREQ)] * (n_edges - 2)
    for e in edges[:n_edges]:
        data[-1, e:e + 25] = 1
    folder = mahnob.session_dir(root, subject, trial_no)
    folder.mkdir(parents=True, exist_ok=True)
    write_bdf(folder / mahnob.bdf_name(subject, trial_no), data, ch_names=BDF_CHANNELS, sfreq=SFREQ,
              units=["uV"] * (len(BDF_CHANNELS) - 1) + ["Boolean"],
              physical_ranges=[BIOSEMI_UV] * (len(BDF_CHANNELS) - 1) + [(float(DIGITAL_MIN), float(DIGITAL_MAX))])
    return folder


@pytest.fixture(scope="module")
def still_points():
    """The photograph's five points, found on the still at full size: the ground truth the clips move."""
    from emokd.io.faces_align import MediaPipeFaces

    with MediaPipeFaces() as find:
        return find(videoclip.photo()).points


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Two sessions, one per codec, their face frames made with every socket refused: {codec: (root, key, clip)}."""
    root = tmp_path_factory.mktemp("raw")
    sessions = {"mpeg4": (1, 2), "h264": (1, 4)}
    clips = {}
    for k, (codec, (subject, trial_no)) in enumerate(sessions.items()):
        tiny_session(root, subject, trial_no)
        # the camera starts with the BDF here (align="bdf"), so that the clip has frames before the stimulus
        clips[codec] = videoclip.write_camera(root, subject, trial_no, codec=codec, seed=k, black_outside=True,
                                              align="bdf", **MOTION)
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access refused by the test")

    with pytest.MonkeyPatch.context() as mp:
        for name in ("connect", "connect_ex", "sendto", "sendall", "send"):
            mp.setattr(socket.socket, name, refuse)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        results = facevideo.make_face_frames(root, [(f"P01_T{t:02d}", s, t) for s, t in sessions.values()],
                                             n_jobs=1, align="bdf", progress=False)
    return {"root": root, "sessions": sessions, "clips": clips, "results": results, "attempts": attempts}


def load(made, codec):
    subject, trial_no = made["sessions"][codec]
    path = mahnob.session_dir(made["root"], subject, trial_no) / mahnob.FRAMES_FILE
    with np.load(path) as npz:
        return path, {k: npz[k] for k in npz.files}


def test_made_without_network(made):
    assert [r.status for r in made["results"]] == ["made", "made"]
    assert made["attempts"] == []


@pytest.mark.parametrize("codec", ["mpeg4", "h264"])
def test_face_found_in_every_frame_and_eyes_on_the_template(made, still_points, codec):
    _, npz = load(made, codec)
    clip = made["clips"][codec]
    assert npz["frames"].shape == (192, 48, 48, 3) and npz["frames"].dtype == np.uint8 and float(npz["fps"]) == 64
    assert not npz["lost"].any() and (npz["confidence"] > 0.5).all() and (npz["filled_from"] == -1).all()
    # where the eyes really are in each frame (the photograph's eyes under the clip's known motion), mapped by
    # the frame's alignment, land on the template's eyes
    errors = []
    for m, i in enumerate(npz["source_frame"]):
        eyes = clip.motion.apply(int(i), still_points[:2])
        mapped = eyes @ npz["transform"][m, :, :2].T + npz["transform"][m, :, 2]
        errors.append(np.linalg.norm(mapped - TEMPLATE_48[:2], axis=1).max())
    assert max(errors) < 2.0
    # the motion was real: the raw eye positions moved by many pixels, and the face turned
    raw = np.array([clip.motion.apply(int(i), still_points[:2]).mean(0) for i in npz["source_frame"]])
    assert np.ptp(raw, axis=0).max() > 10 and np.ptp(clip.motion.angle_deg) > 5


@pytest.mark.parametrize("codec", ["mpeg4", "h264"])
def test_frames_chosen_are_ffmpegs_fps_64(made, codec):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the test extra's imageio-ffmpeg is not installed")
    path, npz = load(made, codec)
    clip = made["clips"][codec]
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(clip.path), "-vf",
                           "fps=64", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)
    frames = np.frombuffer(done.stdout, np.uint8).reshape(-1, 240, 320, 3)
    timing = facevideo.read_provenance(path)["timing"]
    first, stop = timing["output_slots"]
    reference = np.array([videoclip.read_stamp(f) for f in frames[first:stop]])
    # ffmpeg's choice, but for a frame captured outside the stimulus at either end (the first kept slot
    # repeats the last frame before the start): that one is the nearest frame inside
    inside = video.within_period(reference, fps=clip.fps, start_s=Fraction(3, 2), end_s=Fraction(9, 2))
    np.testing.assert_array_equal(npz["source_frame"], inside)
    differ = np.flatnonzero(inside != reference)
    assert set(differ) <= {0, len(reference) - 1} and timing["differ_from_ffmpeg"] == len(differ)


@pytest.mark.parametrize("codec", ["mpeg4", "h264"])
def test_nothing_outside_the_stimulus_is_kept(made, codec):
    """The frames before the stimulus start and from its end on are black: none is kept."""
    _, npz = load(made, codec)
    clip = made["clips"][codec]
    t = npz["source_frame"] / float(clip.fps)
    assert t.min() >= STIM_S[0] and t.max() < STIM_S[1]
    assert clip.visible[npz["source_frame"]].all()
    assert npz["frames"].reshape(len(t), -1).mean(1).min() > 60  # no black frame kept, none filled in
    assert len(t) == round((STIM_S[1] - STIM_S[0]) * 64)


def test_provenance_and_the_teachers_grey_frames(made):
    path, npz = load(made, "h264")
    prov = facevideo.read_provenance(path)
    assert "mediapipe 0.10.14" in prov["detector"] and prov["versions"]["mediapipe"] == "0.10.14"
    assert prov["camera"]["codec"] == "h264" and prov["camera"]["t0_s"] != "0"  # B-frames: late first frame
    assert prov["camera"]["sha256"] and prov["lost"] == {"n": 0, "of": 192, "max_fraction": facevideo.MAX_LOST,
                                                         "filled_with": prov["lost"]["filled_with"]}
    assert prov["timing"]["video_time_0"] == "BDF start" and prov["timing"]["stimulus_samples"] == [384, 1152]
    # the teachers read one channel: BT.601 luma of the colour crops, 16 frames per label step
    grey = mahnob.read_frames(path, 12, stimulus_s=3.0)
    assert grey.shape == (12, 16, 48, 48)
    rgb = npz["frames"][:192].astype(np.float64)
    luma = np.rint(rgb @ [0.299, 0.587, 0.114]).reshape(12, 16, 48, 48)
    assert np.abs(grey.astype(int) - luma).max() <= 1


@pytest.mark.slow
def test_rerun_is_resumable_and_parallel(made, tmp_path):
    root = tmp_path / "raw"
    shutil.copytree(made["root"], root)
    (mahnob.session_dir(root, 1, 4) / mahnob.FRAMES_FILE).unlink()  # as if killed before its file was written
    tiny_session(root, 1, 6)  # no camera file
    sessions = [("P01_T02", 1, 2), ("P01_T04", 1, 4), ("P01_T06", 1, 6)]
    with pytest.raises(EmokdError, match="missing camera file"):
        facevideo.make_face_frames(root, sessions[2:], progress=False)
    done = facevideo.make_face_frames(root, sessions, n_jobs=2, on_error="skip", align="bdf", progress=False)
    assert [r.status for r in done] == ["present", "made", "failed"]
    assert done[1].n_frames == 192 and done[1].n_lost == 0
    assert "\n" not in done[2].line() and "missing camera file" in done[2].line()
    again = np.load(mahnob.session_dir(root, 1, 4) / mahnob.FRAMES_FILE)["source_frame"]
    np.testing.assert_array_equal(again, load(made, "h264")[1]["source_frame"])
    assert not list(root.rglob("*.tmp"))


def write_labels(root, traces: dict):
    """A label file (the public one's layout) for ``{(subject, trial_no): trace}``."""
    import scipy.io

    cells = np.empty((len(traces), 1), dtype=object)
    for i, v in enumerate(traces.values()):
        cells[i, 0] = np.asarray(v, dtype=np.float64)[None, :]
    scipy.io.savemat(root / mahnob.LABEL_FILE, {"trials_included": np.array(list(traces), dtype=np.uint8),
                                                 "labels": cells})


# --- the database's defects: one line each --------------------------------------------------------------

def one_line(call, *args, **kwargs) -> str:
    with pytest.raises(EmokdError) as err:
        call(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_sessions_without_eeg(tmp_path):
    for session, (subject, trial_no) in {1854: (15, 34), 1984: (16, 34)}.items():
        folder = mahnob.session_dir(tmp_path, subject, trial_no)
        assert folder.name == str(session)
        folder.mkdir(parents=True)
        message = one_line(facevideo.session_face_frames, tmp_path, subject, trial_no)
        assert message.startswith(f"{folder}: no EEG recording") and "released without EEG (1854, 1984)" in message


@pytest.mark.parametrize("n_edges", [1, 3])
def test_status_with_other_than_two_edges(tmp_path, n_edges):
    tiny_session(tmp_path, 1, 2, n_edges=n_edges)
    message = one_line(facevideo.session_face_frames, tmp_path, 1, 2)
    assert f"Status channel has {n_edges} rising edges" in message and "expected exactly 2" in message


def test_missing_camera_file(tmp_path):
    tiny_session(tmp_path, 1, 2)
    assert "missing camera file" in one_line(facevideo.session_face_frames, tmp_path, 1, 2)


def test_video_shorter_than_the_stimulus(tmp_path):
    folder = tiny_session(tmp_path, 1, 2)
    motion = videoclip.clip_motion(200, fps=61)  # 3.3 s of video, the stimulus ends at 4.5 s
    videoclip.write_avi(folder / videoclip.CAMERA_NAME.format(subject=1, section=2), videoclip.render_frames(motion))
    message = one_line(facevideo.session_face_frames, tmp_path, 1, 2, align="bdf")  # the camera starts with the BDF
    assert "video shorter than the stimulus" in message and "the stimulus ends at 4.50 s" in message
    assert not (folder / mahnob.FRAMES_FILE).exists()


@pytest.mark.slow
def test_a_face_lost_too_often_is_refused_not_filled(tmp_path):
    tiny_session(tmp_path, 1, 2)
    clip = videoclip.write_camera(tmp_path, 1, 2, black_outside=True, align="bdf", **MOTION)
    # black from the middle of the stimulus on: half the frames have no face
    half = sum(STIM_S) / 2
    visible = clip.visible & (np.arange(len(clip.visible)) / float(clip.fps) < half)
    videoclip.write_avi(clip.path, videoclip.render_frames(clip.motion, visible=visible))
    message = one_line(facevideo.session_face_frames, tmp_path, 1, 2, align="bdf")
    assert "the face is lost in" in message and "of 192 stimulus frames" in message and "not written" in message
    assert not (mahnob.session_dir(tmp_path, 1, 2) / mahnob.FRAMES_FILE).exists()


def gaze_file(folder, *, broken: bool, movie_s: float = 3.0):
    names = ["Timestamp", "DateTimeStamp", "Event", "GazePointX"]
    lines = [f"## header line {k}" for k in range(23)] + ["\t".join(names)]
    for k in range(400):
        t = k * 1000 / 60
        event = "MovieStart" if k == 90 else ("MovieEnd" if k == 90 + int(movie_s * 60) else "")
        lines.append("\t".join([f"{t:.0f}", "0", event, "512"]))
    if broken:
        lines[100] = "1500\t0"
    path = folder / gaze.GAZE_PATTERN.format(subject=1, section=2)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_gaze_file_with_broken_lines_is_one_warning(tmp_path, caplog):
    path = gaze_file(tmp_path, broken=True)
    events = gaze.read_gaze_events(path)
    assert events.broken == ((101, 2),) and events.movie_s == pytest.approx(3.0)
    with caplog.at_level(logging.WARNING, logger="emokd"):
        facevideo._check_gaze(tmp_path, 1, 2, 3.0)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: 1 broken line(s) (first: line 101 has 2 fields, the header has 4); stimulus not cross-checked "
        "with the gaze file"]


def test_gaze_file_that_disagrees_with_status_is_one_warning(tmp_path, caplog):
    gaze_file(tmp_path, broken=False, movie_s=5.0)
    with caplog.at_level(logging.WARNING, logger="emokd"):
        facevideo._check_gaze(tmp_path, 1, 2, 3.0)
        facevideo._check_gaze(tmp_path, 1, 2, 5.0)  # agrees: silent
    assert len(caplog.records) == 1 and "lasts 5.00 s, the Status channel's stimulus 3.00 s" in caplog.messages[0]


def test_prepare_skip_bad_names_each_defective_session_in_one_line(tmp_path, capsys):
    from emokd.__main__ import main

    tiny_session(tmp_path, 1, 2)  # no camera
    tiny_session(tmp_path, 1, 4, n_edges=3)
    videoclip.write_camera(tmp_path, 1, 2, size=(64, 48))  # to be replaced by a short one
    folder = mahnob.session_dir(tmp_path, 1, 2)
    videoclip.write_avi(folder / videoclip.CAMERA_NAME.format(subject=1, section=2),
                        videoclip.render_frames(videoclip.clip_motion(61, fps=61)))
    mahnob.session_dir(tmp_path, 15, 34).mkdir(parents=True)  # session 1854
    write_labels(tmp_path, {(1, 2): np.zeros(12), (1, 4): np.zeros(12), (15, 34): np.zeros(12)})
    assert main(["prepare", str(tmp_path), "--quiet", "--faces", "video"]) == 2  # stops at the first
    err = capsys.readouterr().err.strip()
    assert err.startswith("emokd prepare: error: ") and "\n" not in err
    assert main(["prepare", str(tmp_path), "--quiet", "--skip-bad"]) == 0
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.startswith("  failed ")]
    assert len(failed) == 3
    assert any("P01_T02" in line and "video shorter than the stimulus" in line for line in failed)
    assert any("P01_T04" in line and "Status channel has 3 rising edges" in line for line in failed)
    assert any("P15_T34" in line and "no EEG recording" in line for line in failed)


@pytest.mark.slow
def test_prepare_from_videos_then_the_smoke_run_trains_the_teacher(tmp_path):
    """A raw MAHNOB-HCI-layout folder with only videos (no face_frames.npz): `emokd prepare` makes the face
    frames (two sessions at once), then `emokd run --preset smoke` trains the frame teacher on them."""
    from emokd.core.config import synth_config
    from emokd.synth.synthetic import generate

    raw = tmp_path / "raw"
    generate(raw, synth_config("smoke", clip_length_range_s=(10.0, 11.0), margin_s=6.0), seed=0, progress=False)
    labels = mahnob.read_labels(raw / mahnob.LABEL_FILE)
    for k, (subject, trial_no) in enumerate(labels):
        (mahnob.session_dir(raw, subject, trial_no) / mahnob.FRAMES_FILE).unlink()
        videoclip.write_camera(raw, subject, trial_no, codec="h264" if k % 2 else "mpeg4", seed=k, **MOTION)

    def emokd(*args):
        done = subprocess.run([sys.executable, "-m", "emokd", *map(str, args)], capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    prepared = emokd("prepare", raw, "--out", tmp_path / "prepared", "--n-jobs", "2", "--quiet")
    assert "frames (n_steps, 16, 48, 48)" in prepared.stdout
    for subject, trial_no in labels:
        assert not np.load(mahnob.session_dir(raw, subject, trial_no) / mahnob.FRAMES_FILE)["lost"].mean() > 0.05
    emokd("run", "--preset", "smoke", "--data", tmp_path / "prepared", "--out", tmp_path / "run", "--quiet",
          "--teacher-backbone", "train")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert len(results["folds"]) == 3 and np.isfinite(results["summary"]["teacher"]["ccc"]["mean"])
    assert results["config"]["teacher"]["backbone"] == "train"  # the frame CNN trained end to end, on the faces
