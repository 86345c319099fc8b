"""``gateway serve`` and the bench's references share one launcher (issue 12): the loop and HTTP
implementation are resolved once, uvloop/httptools only when the ``[speed]`` extra is installed."""

from __future__ import annotations

import pytest

from gateway import serving


@pytest.mark.parametrize("installed", [set(), {"uvloop", "httptools"}])
def test_auto_takes_the_speed_extra_only_when_it_is_installed(
    installed: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving, "_installed", lambda module: module in installed)
    impl = serving.resolve_implementation()
    assert impl.as_dict() == (
        {"loop": "uvloop", "http": "httptools"} if installed else {"loop": "asyncio", "http": "h11"}
    )
    # A named implementation is taken as named (the plain ones are always there).
    assert serving.resolve_implementation("asyncio", "h11").as_dict() == {"loop": "asyncio", "http": "h11"}


def test_a_missing_or_unknown_implementation_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving, "_installed", lambda module: False)
    with pytest.raises(ValueError, match="speed"):
        serving.resolve_implementation("uvloop", "auto")
    with pytest.raises(ValueError, match="speed"):
        serving.resolve_implementation("auto", "httptools")
    with pytest.raises(ValueError):
        serving.resolve_implementation("trio", "auto")


def test_gateway_serve_refuses_an_uninstalled_loop_before_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gateway.cli import main

    monkeypatch.setattr(serving, "_installed", lambda module: False)
    assert main(["serve", "--loop", "uvloop", "--port", "1"]) == 2
    assert "not installed" in capsys.readouterr().err
