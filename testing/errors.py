"""The shape of a refused input (`BadInput`): exit class 2, one line, a fix."""

from __future__ import annotations

import pytest

from switchman.errors import BadInput


def code_of(fn, *args, **kwargs) -> str:
    with pytest.raises(BadInput) as info:
        fn(*args, **kwargs)
    assert info.value.exit_code == 2
    assert "\n" not in info.value.message  # one line, even for names with newlines
    assert info.value.fix
    return info.value.code
