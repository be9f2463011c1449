"""Files and folders yolocls publishes follow the umask like any other tool's output (not mkstemp's 0600)."""

from __future__ import annotations

import os
import stat

import pytest

from yolocls.core.fs import atomic_write_text, publish_dir, staging_dir


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                        (0o002, 0o664, 0o775)])
def test_published_files_and_folders_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "run.json", "{}")
        with staging_dir(tmp_path / "report") as tmp:
            atomic_write_text(tmp / "metrics.json", "{}")
            publish_dir(tmp, tmp_path / "report", overwrite=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run.json").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "report").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "report" / "metrics.json").stat().st_mode) == file_mode
