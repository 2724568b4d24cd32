"""The error of a runtime adapter imported without its framework: it names the extra to install.

Each adapter imports its framework inside ``try``/``except ModuleNotFoundError`` and raises
:func:`missing_framework`, so ``import orgguard.runtime.django`` without Django says
``pip install "orgguard[django]"`` instead of a bare ``No module named 'django'``.
"""

from __future__ import annotations


def missing_framework(module: str, framework: str, extra: str, exc: ModuleNotFoundError) -> ModuleNotFoundError:
    """A ``ModuleNotFoundError`` (an ``ImportError``) for ``module``, naming ``framework`` and its extra."""
    return ModuleNotFoundError(
        f"{module} needs {framework}, which is not installed ({exc}); "
        f'install it with the extra: pip install "orgguard[{extra}]"',
        name=exc.name,
    )
