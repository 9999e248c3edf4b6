"""emokd.io.bdf: the edfio-based writer against a straightforward loop over the BDF format, and the
header fields of the synthetic files against what MAHNOB-HCI's Biosemi files hold."""

from __future__ import annotations

import datetime as dt

import edfio
import mne
import numpy as np
import pytest

from emokd.io.bdf import BIOSEMI_UV, DIGITAL_MAX, DIGITAL_MIN, check_bdf_header, write_bdf
from emokd.core.constants import BDF_CHANNELS, EEG_CHANNELS
from emokd.errors import EmokdError

STATUS_RANGE = (float(DIGITAL_MIN), float(DIGITAL_MAX))


def loop_bdf(data, ch_names, sfreq, units, ranges, start) -> bytes:
    """The BDF file of ``data`` written one field and one sample at a time (Biosemi's layout)."""
    def field(value, width):
        return str(value).ljust(width).encode("ascii")

    def number(value):
        return field(int(value) if float(value).is_integer() else value, 8)

    n_chans, n_times = data.shape
    head = b"\xffBIOSEMI" + field("X X X X", 80) + field("Startdate X X X X", 80)
    head += field(start.strftime("%d.%m.%y"), 8) + field(start.strftime("%H.%M.%S"), 8)
    head += number(256 * (n_chans + 1)) + field("24BIT", 44) + number(n_times // sfreq) + number(1)
    head += field(n_chans, 4)
    for width, values in ((16, ch_names), (80, ["Active Electrode"] * n_chans), (8, units)):
        head += b"".join(field(v, width) for v in values)
    head += b"".join(number(lo) for lo, _ in ranges) + b"".join(number(hi) for _, hi in ranges)
    head += b"".join(number(DIGITAL_MIN) for _ in ch_names) + b"".join(number(DIGITAL_MAX) for _ in ch_names)
    head += b"".join(field("HP:DC; LP:417 Hz", 80) for _ in ch_names)
    head += b"".join(number(sfreq) for _ in ch_names) + b"".join(field("", 32) for _ in ch_names)
    body = bytearray()
    for record in range(n_times // sfreq):
        for c, (lo, hi) in enumerate(ranges):
            for x in data[c, record * sfreq:(record + 1) * sfreq]:
                code = round((x - lo) * (DIGITAL_MAX - DIGITAL_MIN) / (hi - lo) + DIGITAL_MIN)
                body += min(max(code, DIGITAL_MIN), DIGITAL_MAX).to_bytes(3, "little", signed=True)
    return head + bytes(body)


def test_writer_matches_a_loop_over_the_format(tmp_path):
    rng = np.random.default_rng(3)
    sfreq = 64
    data = rng.normal(0, 80, (4, 3 * sfreq))
    data[1, 5] = 1e9  # beyond the physical range: clipped to the largest code
    data[3] = (1 << 20) + (np.arange(3 * sfreq) % 50 < 5)  # Status: CMS bit + a trigger bit
    names, units = ["Fp1", "EXG1", "Temp", "Status"], ["uV", "uV", "uV", "Boolean"]
    ranges = [BIOSEMI_UV] * 3 + [STATUS_RANGE]
    path = write_bdf(tmp_path / "x.bdf", data, ch_names=names, sfreq=sfreq, units=units, physical_ranges=ranges)
    assert path.read_bytes() == loop_bdf(data, names, sfreq, units, ranges, dt.datetime(2009, 7, 9, 12, 0, 0))
    assert not list(tmp_path.glob("*.tmp"))


def test_status_keeps_its_24_bit_codes(tmp_path):
    """Status is written as digital codes (physical range = digital range): all 24 bits survive, and
    MNE, which masks Status to its low 17 bits, sees the trigger bit without the Biosemi system bits."""
    n = 4 * 256
    status = np.full(n, 1 << 20, dtype=float)
    status[300:325] += 1
    status[700:725] += 1
    eeg = np.random.default_rng(0).normal(0, 10, n)
    path = write_bdf(tmp_path / "s.bdf", np.vstack([eeg, status]), ch_names=["Cz", "Status"], sfreq=256,
                     units=["uV", "Boolean"], physical_ranges=[BIOSEMI_UV, STATUS_RANGE])
    np.testing.assert_array_equal(edfio.read_bdf(path).signals[1].digital, status.astype(np.int32))
    raw = mne.io.read_raw_bdf(path, preload=True, verbose="error")
    assert raw.get_channel_types() == ["eeg", "stim"]
    np.testing.assert_array_equal(raw.get_data(picks="Status")[0], status.astype(int) & (2**17 - 1))


def test_synthetic_header_is_biosemi_like(smoke_dir):
    """The fields the reader, check_bdf_header and MNE use, read byte by byte from a synthetic file."""
    bdf = next((smoke_dir / "Sessions").rglob("*.bdf"))
    raw_bytes = bdf.read_bytes()
    n = 47
    head, signals = raw_bytes[:256], raw_bytes[256:256 * (n + 1)]

    def per_signal(offset, width):  # offset in units of n_signals, as in the EDF specification
        return [signals[offset * n + width * i: offset * n + width * (i + 1)].decode().strip() for i in range(n)]

    assert head[:8] == b"\xffBIOSEMI"
    assert head[8:88].strip() == b"X X X X" and head[88:168].strip() == b"Startdate X X X X"
    assert head[168:184] == b"09.07.0912.00.00"
    assert int(head[184:192]) == 256 * (n + 1) and head[192:236].strip() == b"24BIT"
    assert float(head[244:252]) == 1.0 and int(head[252:256]) == n  # 1 s records, 47 signals
    assert per_signal(0, 16) == list(BDF_CHANNELS)
    assert per_signal(16, 80) == ["Active Electrode"] * n
    assert per_signal(96, 8) == ["uV"] * 46 + ["Boolean"]
    assert per_signal(104, 8) == ["-262144"] * 46 + ["-8388608"]
    assert per_signal(112, 8) == ["262143"] * 46 + ["8388607"]
    assert per_signal(120, 8) == ["-8388608"] * n and per_signal(128, 8) == ["8388607"] * n
    assert per_signal(136, 80) == ["HP:DC; LP:417 Hz"] * n
    assert per_signal(216, 8) == ["256"] * n
    info = check_bdf_header(bdf)
    assert info["sfreq"] == [256.0] * n and info["record_s"] == 1.0
    raw = mne.io.read_raw_bdf(bdf, verbose="error")
    assert raw.info["meas_date"] == dt.datetime(2009, 7, 9, 12, 0, 0, tzinfo=dt.timezone.utc)
    assert raw.get_channel_types(picks=list(EEG_CHANNELS)) == ["eeg"] * 32
    assert raw.get_channel_types(picks=["Status"]) == ["stim"]


@pytest.mark.parametrize("duration", [b"0       ", b"-1      ", b"nan     "])
def test_record_duration_that_is_not_positive_is_refused(smoke_copy, duration):
    """A header record duration of 0 used to end in a ZeroDivisionError (prepare and read_raw)."""
    from emokd.io.mahnob import read_raw

    bdf = next((smoke_copy / "Sessions").rglob("*.bdf"))
    data = bytearray(bdf.read_bytes())
    data[244:252] = duration
    bdf.write_bytes(bytes(data))
    message = rf"{bdf}: corrupt BDF header: field 'duration of a data record' is {duration.decode().strip()} s"
    with pytest.raises(EmokdError, match=message):
        check_bdf_header(bdf)
    with pytest.raises(EmokdError, match=message):
        read_raw(bdf)
