"""Hyperliquid wire formats -> candidate rows for the catalogue's tables, plus quarantined records.

Entry points: :func:`parse_bytes` (one decoded raw-zone file), :func:`parse_lines` (a batch of raw-zone lines, or
bare lines with ``wrap``), :func:`parse_text` (one file's text), :func:`parse_info_json` (an Info-API response),
:func:`resolve_node_fills` (pair node fills into trades) and :func:`record_problem` (validity rules).
"""

from data_lake.parsers.checks import record_problem
from data_lake.parsers.decode import lines_frame, lines_of_bytes
from data_lake.parsers.frames import WRAPS, parse_bytes, parse_lines, parse_text
from data_lake.parsers.info_api import parse_info_json
from data_lake.parsers.node import resolve_node_fills
from data_lake.parsers.records import Records

__all__ = [
    "WRAPS",
    "Records",
    "lines_frame",
    "lines_of_bytes",
    "parse_bytes",
    "parse_info_json",
    "parse_lines",
    "parse_text",
    "record_problem",
    "resolve_node_fills",
]
