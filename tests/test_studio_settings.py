"""The studio's own settings names, apart from `yolocls serve`'s (both may run on one machine)."""

from __future__ import annotations

from yolocls.studio.settings import StudioSettings


def test_the_studio_and_serve_read_different_ports(monkeypatch):
    monkeypatch.setenv("YOLOCLS_PORT", "8000")
    monkeypatch.setenv("YOLOCLS_STUDIO_PORT", "8123")
    monkeypatch.setenv("YOLOCLS_STUDIO_HOST", "0.0.0.0")
    assert StudioSettings().port == 8123 and StudioSettings().host == "0.0.0.0"
    assert StudioSettings.deprecated_env({"YOLOCLS_PORT": "8000", "YOLOCLS_STUDIO_PORT": "8123"}) == ({}, [])


def test_serve_names_still_work_for_the_studio_with_a_deprecation_line():
    values, lines = StudioSettings.deprecated_env({"YOLOCLS_PORT": "7000", "YOLOCLS_HOST": "127.0.0.2"})
    assert values == {"port": "7000", "host": "127.0.0.2"}
    assert StudioSettings(**values).port == 7000  # type: ignore[arg-type]
    assert len(lines) == 2 and "use YOLOCLS_STUDIO_PORT" in lines[1] and "deprecated" in lines[0]
