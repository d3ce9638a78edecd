"""The password policy's common-password list: 30,000 public entries, checked offline."""

from __future__ import annotations

import pytest

from pathfinder.security.passwords import (
    WeakPassword,
    check_password_policy,
    common_passwords,
    is_common_password,
)
from tests.conftest import DEFAULT_PASSWORD


def test_the_list_holds_at_least_ten_thousand_entries() -> None:
    assert len(common_passwords()) >= 10_000


@pytest.mark.parametrize(
    "password",
    ["password1234", "qwertyuiop123", "Summer2024!!!!", "Letmein123456", "football1234"],
)
def test_common_passwords_and_their_numbered_forms_are_refused(password: str) -> None:
    assert is_common_password(password)
    with pytest.raises(WeakPassword, match="too common"):
        check_password_policy(password)


@pytest.mark.parametrize("password", [DEFAULT_PASSWORD, "vague-otter-lamp-9381", "Kx7#pQ2!zR9m"])
def test_uncommon_passwords_pass(password: str) -> None:
    assert not is_common_password(password)
    check_password_policy(password)
