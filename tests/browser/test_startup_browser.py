"""What a new user sees first: the first cell that imports the kit, in a real JupyterLab,
shows none of TensorFlow's C++ start-up lines (absl's "before absl::InitializeLog()" note,
oneDNN, "Could not find cuda drivers", "failed call to cuInit"), whether the kit or the
student imports TensorFlow first. The kit's kernel configuration (jupyter-config/kernel-config,
installed into the environment's etc/ipython) sends the kernel's C-level output to the
terminal that runs JupyterLab instead of the notebook; Python errors still reach the cell.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

KERNEL_CONFIG = Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.json"
NOISE = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "Could not find cuda drivers",
    "cuInit",
    "cpu_feature_guard",
    "I0000",
    "E0000",
    "W0000",
)
KIT = (
    "from mnist_widgets import LayerBuilder, load_data\n"
    "from mnist_widgets.models import build_model\n"
    "model = build_model('dense')  # the first tensors: TensorFlow looks for a GPU here\n"
    "print('READY', model.count_params())"
)
TENSORFLOW = "import tensorflow as tf\nprint('TENSORFLOW', tf.__version__)"
# the error a student makes still shows in the cell
MISTAKE = "build_model('resnet')"

CASES = {
    "kit-first": [KIT, MISTAKE],
    "tensorflow-first": [TENSORFLOW, KIT, MISTAKE],
}


def stderr_texts(nb, index: int) -> list[str]:
    streams = nb.output(index).locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    return streams.all_inner_texts()


@pytest.mark.parametrize("case", list(CASES))
def test_the_first_cells_show_no_tensorflow_start_up_lines(notebook, lab, case):
    assert KERNEL_CONFIG.exists(), f"{KERNEL_CONFIG} is missing: run `make jupyter-config`"
    cells = CASES[case]
    nb = notebook(f"startup-{case}", cells)
    last = len(cells) - 1
    for index in range(last):
        nb.run_cell(index, timeout=240)
    nb.run_cell(last, timeout=60)

    kit = cells.index(KIT)
    assert "READY 169670" in nb.output_text(kit)
    for index in range(last):
        text = nb.output_text(index)
        assert not [n for n in NOISE if n in text], f"cell {index} shows:\n{text}"
        assert stderr_texts(nb, index) == [], f"cell {index} wrote to stderr"
    mistake = nb.output_text(last)
    assert "PresetError" in mistake and "unknown preset 'resnet'" in mistake
    nb.screenshot(nb.code_cell(kit), f"startup-{case}")
    # the lines were written, to the terminal that runs JupyterLab
    log = lab.log.read_text(errors="replace")
    assert "absl::InitializeLog" in log or "oneDNN" in log
