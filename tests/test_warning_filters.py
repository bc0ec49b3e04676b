"""pyproject's pytest ``filterwarnings``: a DeprecationWarning or FutureWarning attributed to
the kit's own modules fails the test; the same warning from another library stays a warning."""

from __future__ import annotations

import warnings

import pytest


def warn_from(module: str, category: type[Warning]) -> None:
    """Issue ``category`` as if the code of ``module`` had raised it."""
    warnings.warn_explicit("old API", category, f"{module.replace('.', '/')}.py", 1, module=module)


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning])
@pytest.mark.parametrize("module", ["mnist_widgets", "mnist_widgets.widgets.builder.widget"])
def test_the_kits_own_deprecations_are_errors(module, category):
    with pytest.raises(category, match="old API"):
        warn_from(module, category)


@pytest.mark.parametrize("module", ["keras.src.layers", "mnist_widgets_extra", "tensorflow"])
def test_other_libraries_deprecations_stay_visible_warnings(module):
    with warnings.catch_warnings(record=True) as seen:  # the configured filters still apply
        warn_from(module, DeprecationWarning)  # raises if the filter caught it
    assert [str(w.message) for w in seen] == ["old API"]
