"""The one stylesheet: shipped with the package, carried by every kit widget, and the only
place the widgets' HTML gets its looks from."""

from __future__ import annotations

import re
from pathlib import Path

import ipywidgets as widgets

from mnist_widgets.widgets import styles

WIDGETS = Path(styles.__file__).parent
# the modules whose HTML and classes the stylesheet styles (the dashboard adds its own section)
STYLED = ["builder", "gallery.py", "drawing.py", "runboard"]


def styled_sources() -> dict[str, str]:
    files: list[Path] = []
    for name in STYLED:
        path = WIDGETS / name
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return {path.name: path.read_text() for path in files}


def test_the_stylesheet_is_package_data_and_one_shared_widget():
    text = styles.css()
    assert ".mnist-summary" in text and "/* builder */" in text
    first, second = styles.stylesheet(), styles.stylesheet()
    assert first is second and isinstance(first, widgets.HTML)
    assert first.value.startswith("<style>") and text in first.value
    assert first.layout.display == "none" and styles.STYLESHEET_CLASS in first._dom_classes
    first.close()
    again = styles.stylesheet()  # a closed one is replaced, never reused
    assert again is not first and again.comm is not None


def test_every_class_the_widgets_use_is_in_the_stylesheet():
    rules = set(re.findall(r"\.(mnist-[\w-]+)", styles.css()))
    used: set[str] = set()
    for source in styled_sources().values():
        used |= set(re.findall(r"add_class\(\s*[\"'](mnist-[\w-]+)", source))
        for attribute in re.findall(r"class=[\"']([^\"']+)", source):
            used |= {name for name in attribute.split() if name.startswith("mnist-")}
    used -= {"mnist-drawing-pad"}  # a handle for tests and scripts, styled by ipycanvas
    assert used, "no kit classes found: the scan is broken"
    assert not used - rules, f"classes without a rule: {sorted(used - rules)}"


def test_the_widgets_html_has_no_inline_styles():
    for name, source in styled_sources().items():
        inline = re.findall(r"<[a-z]+[^>]*\sstyle=", source)
        assert not inline, f"{name} styles inline: {inline}"
