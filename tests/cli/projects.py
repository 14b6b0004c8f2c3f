"""A small project on real files for the CLI tests: people.csv → cities (DuckDB) → cities.csv."""

from __future__ import annotations

from pathlib import Path

CONNECTIONS = """\
connections:
  filesystem:
    local:
      default: true
      base_dir: .
"""

PEOPLE = """\
id,name,city
1,Ada,London
2,Grace,New York
3,Alan,London
4,Hedy,Vienna
"""

PIPELINE = """\
oml_version: "0.1.0"
name: cities
steps:
  - id: people
    component: filesystem.csv_extractor
    mode: read
    config:
      connection: "@filesystem.local"
      path: data/people.csv

  - id: cities
    component: duckdb.processor
    mode: transform
    inputs:
      people: "${people.df}"
    config:
      query: |
        SELECT city, count(*) AS people
        FROM people
        GROUP BY city
        ORDER BY people DESC, city

  - id: write_cities
    component: filesystem.csv_writer
    mode: write
    inputs:
      df: "${cities.df}"
    config:
      connection: "@filesystem.local"
      path: output/cities.csv
"""


def make_project(root: Path) -> Path:
    """The project folder, with its connections, data file and pipelines/cities.yaml."""
    root.mkdir(exist_ok=True)
    (root / "osiris_connections.yaml").write_text(CONNECTIONS)
    (root / "data").mkdir()
    (root / "data" / "people.csv").write_text(PEOPLE)
    (root / "pipelines").mkdir()
    (root / "pipelines" / "cities.yaml").write_text(PIPELINE)
    return root
