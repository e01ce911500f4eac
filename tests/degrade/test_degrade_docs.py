"""docs/degradations.md stays in sync with the presets and the rendered pictures."""
from __future__ import annotations

import re
from pathlib import Path

from mmfuse import degrade as D

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "degradations.md"


def test_every_preset_setting_and_operator_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for preset in D.list_presets():
        assert f"`{preset}`" in text, preset
        for name in D.load_preset(preset).names:
            assert f"`{name}`" in text, (preset, name)
    for op in D.list_operators():
        assert f"| `{op}` |" in text, op


def test_pictures_exist_are_small_and_cover_every_operator():
    text = DOC.read_text(encoding="utf-8")
    refs = re.findall(r"\(img/degrade/([^)]+\.png)\)", text)
    assert len(refs) >= 30
    for name in refs:
        p = DOC.parent / "img" / "degrade" / name
        assert p.is_file(), name
        assert p.stat().st_size < 150 * 1024, name
    rows = [line for line in text.splitlines() if "(img/degrade/" in line]
    shown = {op for op in D.list_operators() for line in rows if f"{op}(" in line}
    assert shown == set(D.list_operators())
