"""The docs name things as the code does (issue 15 item 7)."""

import re
from pathlib import Path

from ex4d_bridge.cli import _parser
from ex4d_bridge.server.config import ServerConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_docs_give_serve_its_default_data_dir():
    default = _parser().parse_args(["serve"]).data_dir
    assert Path(default) == ServerConfig().data_dir
    named = []
    for doc in DOCS:
        text = doc.read_text()
        named += re.findall(r"--data-dir\s+\./([\w.-]+)", text)
        named += re.findall(r"data in \./([\w.-]+)", text)
    assert named and set(named) == {default}
