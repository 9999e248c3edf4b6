"""The eye-gaze file of a MAHNOB-HCI session, read for one thing: when the movie started and ended.

``P<s>-Rec1-All-Data-New_Section_<section>.tsv`` (Tobii export: about 23 lines of header, then a
row of column names and one tab-separated row per 60 Hz sample, with an ``Event`` column that marks
``MovieStart`` and ``MovieEnd``). The gaze tracker's clock is independent of the BDF's, so the
movie's duration in it is a check of the stimulus that the Status channel gives
(:func:`emokd.io.facevideo.session_face_frames` warns when they differ by more than a second).
Some files have broken lines (Sessions/1200 of the database): they are counted and named, and the
check is then not made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import EmokdError

#: the gaze file of a session (``{subject}``, ``{section}``)
GAZE_PATTERN = "P{subject}-Rec1-All-Data-New_Section_{section}.tsv"
#: lines searched for the row of column names
HEADER_LINES = 40


@dataclass(frozen=True)
class GazeEvents:
    """What :func:`read_gaze_events` found.

    Attributes
    ----------
    path : Path
    movie_start_ms, movie_end_ms : float or None
        ``Timestamp`` (ms) of the rows marked ``MovieStart`` and ``MovieEnd``; None when absent.
    broken : tuple of (int, int)
        (line number, number of fields) of each line whose fields do not match the column names.
    n_fields : int
        Fields of the row of column names.
    """

    path: Path
    movie_start_ms: float | None
    movie_end_ms: float | None
    broken: tuple
    n_fields: int

    @property
    def movie_s(self) -> float | None:
        """The movie's duration by the gaze tracker's clock (s), or None."""
        if self.movie_start_ms is None or self.movie_end_ms is None:
            return None
        return (self.movie_end_ms - self.movie_start_ms) / 1000.0

    def describe_broken(self) -> str:
        """One line: how many lines are broken, and the first."""
        line, n = self.broken[0]
        return (f"{self.path}: {len(self.broken)} broken line(s) (first: line {line} has {n} fields, the header "
                f"has {self.n_fields})")


def find_gaze(folder, subject: int, section: int) -> Path | None:
    """The session's gaze file, or None when it has none."""
    path = Path(folder) / GAZE_PATTERN.format(subject=int(subject), section=int(section))
    return path if path.is_file() else None


def read_gaze_events(path) -> GazeEvents:
    """Find the row of column names, count broken lines and read the times of MovieStart and MovieEnd."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise EmokdError(f"{path}: cannot read ({err.strerror})") from None
    header = next((k for k, line in enumerate(lines[:HEADER_LINES])
                   if {"Timestamp", "Event"} <= set(line.split("\t"))), None)
    if header is None:
        raise EmokdError(f"{path}: no row of column names with 'Timestamp' and 'Event' in its first "
                         f"{HEADER_LINES} lines")
    names = lines[header].split("\t")
    col_t, col_e = names.index("Timestamp"), names.index("Event")
    broken, times = [], {}
    for k, line in enumerate(lines[header + 1:], start=header + 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(names):
            broken.append((k, len(fields)))
            continue
        event = fields[col_e].strip()
        if event in ("MovieStart", "MovieEnd") and event not in times:
            try:
                times[event] = float(fields[col_t])
            except ValueError:
                broken.append((k, len(fields)))
    return GazeEvents(path=path, movie_start_ms=times.get("MovieStart"), movie_end_ms=times.get("MovieEnd"),
                      broken=tuple(broken), n_fields=len(names))
