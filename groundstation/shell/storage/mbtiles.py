"""MBTiles: local map tiles for the web map (read-only; the file is made by a tile tool, never written here)."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def open_mbtiles(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to an MBTiles file (sqlite3.OperationalError when it cannot be opened as one)."""
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


def mbtiles_metadata(conn: sqlite3.Connection) -> dict[str, str]:
    """The MBTiles `metadata` table (name -> value: format, minzoom, maxzoom, bounds, attribution, ...)."""
    return {str(name): str(value) for name, value in conn.execute("SELECT name, value FROM metadata")}


def mbtiles_tile(conn: sqlite3.Connection, z: int, x: int, y: int) -> bytes | None:
    """The tile at zoom z, column x, row y counted from the north (XYZ, as web maps ask), or None. MBTiles numbers
    rows from the south (TMS), so the row looked up is 2^z - 1 - y."""
    row = conn.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                       (z, x, (1 << z) - 1 - y)).fetchone()
    return None if row is None else bytes(row[0])
