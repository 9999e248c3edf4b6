"""Write BDF (Biosemi 24-bit EDF) files with edfio, and check a file's header.

Reading is MNE's job (:func:`mne.io.read_raw_bdf`); writing is edfio's
(:class:`edfio.Bdf`, the writer MNE's own export uses). This module writes the
files of the synthetic dataset in the layout of MAHNOB-HCI (Biosemi ActiveTwo
ranges, 1 s data records, a ``Status`` trigger channel) and checks a file's header
against its size before MNE reads it, because MNE only warns about a truncated
file and then reads what is there.

Format: a 256-byte ASCII header, 256 bytes per signal, then data records; each
record holds, per signal in turn, its samples as 24-bit little-endian two's
complement integers. physical = phys_min + (digital - dig_min) * (phys_max -
phys_min) / (dig_max - dig_min).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from ..errors import EmokdError
from ..core.fileio import atomic_open

DIGITAL_MIN, DIGITAL_MAX = -8388608, 8388607  # 24-bit
#: Biosemi ActiveTwo physical range of the EEG/EXG channels, in microvolts.
BIOSEMI_UV = (-262144.0, 262143.0)
#: What Biosemi writes in the header's 44-byte "reserved" field (edfio leaves it blank)
BIOSEMI_RESERVED = "24BIT"


def _digital(data, physical_ranges) -> np.ndarray:
    """Physical values -> 24-bit codes, shape (n_channels, n_times), int32.

    ``rint((x - phys_min) * (dig_max - dig_min) / (phys_max - phys_min) + dig_min)``,
    clipped to the digital range. edfio can quantise physical values itself, with the
    same formula rearranged (``round(x / gain - offset)``, no clipping): a value
    within rounding error of a half-step may then get the neighbouring code. The
    codes are computed here, in emokd's order, so that the synthetic recordings stay
    identical, byte for byte, to those of emokd's earlier hand-written BDF writer.
    """
    lo = np.array([r[0] for r in physical_ranges], dtype=np.float64)[:, None]
    hi = np.array([r[1] for r in physical_ranges], dtype=np.float64)[:, None]
    gain = (DIGITAL_MAX - DIGITAL_MIN) / (hi - lo)
    codes = np.rint((data - lo) * gain + DIGITAL_MIN)
    np.clip(codes, DIGITAL_MIN, DIGITAL_MAX, out=codes)
    return codes.astype(np.int32)


def write_bdf(
    path,
    data,
    *,
    ch_names,
    sfreq: int,
    units,
    physical_ranges,
    start: _dt.datetime | None = None,
    patient: str = "X X X X",
    recording: str = "Startdate X X X X",
) -> Path:
    """Write signals to a BDF file atomically (a temporary name, then a rename).

    Parameters
    ----------
    path : path-like
        Destination ``.bdf`` file.
    data : ndarray, shape (n_channels, n_times)
        Physical values (in ``units``); the Status channel holds integer codes.
        n_times must be a whole number of seconds (1 s records).
    ch_names : sequence of str, length n_channels
    sfreq : int
        Samples per second (and per record).
    units : sequence of str, length n_channels
        Physical dimension of each channel (e.g. ``"uV"``, ``"Boolean"``).
    physical_ranges : sequence of (min, max), length n_channels
        Physical range mapped onto the full 24-bit digital range.
    start : datetime, optional
        Start of the recording (header fields startdate and starttime); default
        2009-07-09 12:00:00.
    patient, recording : str
        The header's local patient and recording identification (80 characters
        at most); the defaults are EDF+'s anonymous values.

    Returns
    -------
    path : Path
    """
    import edfio

    path = Path(path)
    data = np.asarray(data, dtype=np.float64)
    n_chans, n_times = data.shape
    if len(ch_names) != n_chans or len(units) != n_chans or len(physical_ranges) != n_chans:
        raise EmokdError("write_bdf: ch_names, units and physical_ranges need one entry per channel")
    if n_times % sfreq:
        raise EmokdError(f"write_bdf: {n_times} samples is not a whole number of 1 s records at {sfreq} Hz")
    start = start or _dt.datetime(2009, 7, 9, 12, 0, 0)

    codes = _digital(data, physical_ranges)  # (C, T), int32; Status: its codes as they are (gain 1)
    try:
        signals = [
            edfio.BdfSignal.from_digital(codes[i], sfreq, label=name, transducer_type="Active Electrode",
                                         physical_dimension=unit, physical_range=tuple(map(float, prange)),
                                         digital_range=(DIGITAL_MIN, DIGITAL_MAX),
                                         prefiltering="HP:DC; LP:417 Hz")
            for i, (name, unit, prange) in enumerate(zip(ch_names, units, physical_ranges))
        ]
        bdf = edfio.Bdf(signals, starttime=start.time(), data_record_duration=1)
        bdf.startdate = start.date()  # the legacy field; edfio also writes it into `recording` ...
        bdf.local_recording_identification = recording  # ... which is set after it
        bdf.local_patient_identification = patient
    except ValueError as err:  # edfio checks field lengths and characters
        raise EmokdError(f"write_bdf: {err}") from None
    content = bytearray(bdf.to_bytes())
    # the 44-byte "reserved" field (bytes 192-235): edfio writes it blank, as EDF says;
    # Biosemi's BDF format has "24BIT" there (ActiveView, which recorded MAHNOB-HCI,
    # writes it). No reader needs it (MNE skips the field); it keeps the synthetic files
    # byte-identical to those of emokd's earlier writer.
    content[192:236] = BIOSEMI_RESERVED.ljust(44).encode("ascii")

    with atomic_open(path, "wb") as f:
        f.write(content)
    return path


def check_bdf_header(path) -> dict:
    """Check that a BDF/EDF file is complete before reading it.

    Returns
    -------
    info : dict
        ``n_records``, ``record_s``, ``ch_names``, ``n_samples`` (per record and
        channel), ``sfreq`` (per channel, Hz).

    Raises
    ------
    EmokdError
        If the header is not a BDF/EDF header, or the file is shorter or longer
        than its header declares (a truncated or corrupt file).
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(256)
        if len(head) < 256:
            raise EmokdError(f"{path}: only {size} bytes, not a BDF file (the fixed header alone is 256 bytes)")
        is_bdf = head[:8] == b"\xffBIOSEMI"
        if not is_bdf and head[:8] != b"0       ":
            raise EmokdError(f"{path}: not a BDF/EDF file (first bytes {head[:8]!r})")
        try:
            header_bytes = int(head[184:192].decode("ascii").strip())
            n_records = int(head[236:244].decode("ascii").strip())
            record_s = float(head[244:252].decode("ascii").strip())
            n_chans = int(head[252:256].decode("ascii").strip())
        except ValueError as err:
            raise EmokdError(f"{path}: corrupt BDF header ({err})") from None
        if not np.isfinite(record_s) or record_s <= 0:  # sampling rates are samples per record / record_s
            raise EmokdError(f"{path}: corrupt BDF header: field 'duration of a data record' is {record_s:g} s, "
                             "expected > 0")
        if n_chans <= 0 or header_bytes != 256 * (n_chans + 1):
            raise EmokdError(f"{path}: corrupt BDF header (header size {header_bytes} for {n_chans} signals)")
        rest = f.read(256 * n_chans)
    if len(rest) < 256 * n_chans:
        raise EmokdError(f"{path}: truncated inside the header ({size} bytes)")
    labels = [rest[16 * i : 16 * (i + 1)].decode("ascii", "replace").strip() for i in range(n_chans)]
    ranges = {}
    for name, start in (("physical", 104), ("digital", 120)):  # minimum, then maximum, 8 bytes per signal
        try:
            lo, hi = ([float(rest[start * n_chans + 8 * n_chans * j + 8 * i:
                                  start * n_chans + 8 * n_chans * j + 8 * (i + 1)].decode("ascii").strip())
                       for i in range(n_chans)] for j in (0, 1))
        except ValueError as err:
            raise EmokdError(f"{path}: corrupt BDF header, {name} range: {err}") from None
        ranges[name] = list(zip(lo, hi))
    off = n_chans * (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80)
    try:
        n_samples = [int(rest[off + 8 * i : off + 8 * (i + 1)].decode("ascii").strip()) for i in range(n_chans)]
    except ValueError as err:
        raise EmokdError(f"{path}: corrupt BDF header, samples per record: {err}") from None
    bytes_per_sample = 3 if is_bdf else 2
    expected = header_bytes + n_records * sum(n_samples) * bytes_per_sample
    if n_records < 1 or size != expected:
        raise EmokdError(
            f"{path}: truncated or corrupt: the header declares {n_records} records "
            f"({expected} bytes) but the file has {size} bytes"
        )
    return {
        "n_records": n_records,
        "record_s": record_s,
        "ch_names": labels,
        "n_samples": n_samples,
        "sfreq": [n / record_s for n in n_samples],
        "physical_range": ranges["physical"],
        "digital_range": ranges["digital"],
    }


def check_ranges(path, info: dict, ch_names) -> None:
    """Raise if a channel's physical or digital range (header) has zero width.

    MNE then scales by 0/0 or x/0 and reads values of kV (or inf) without an error.
    """
    for ch in ch_names:
        i = info["ch_names"].index(ch)
        for name in ("physical", "digital"):
            lo, hi = info[f"{name}_range"][i]
            if lo == hi:
                raise EmokdError(f"{path}: channel {ch}: header field '{name} minimum' = '{name} maximum' = "
                                 f"{lo:g}, a range of zero width")
