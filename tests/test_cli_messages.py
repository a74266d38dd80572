"""OS errors reach the user as one line that names a path (issue 15, item 8)."""

import errno
import os

import pytest

from ex4d_bridge import cli


def _failing(exc):
    def handler(args):
        raise exc

    return handler


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError(errno.EPERM, os.strerror(errno.EPERM)), "while writing under OUTDIR"),
        (
            PermissionError(errno.EACCES, os.strerror(errno.EACCES), "OUTDIR/scene.npz"),
            "OUTDIR/scene.npz",
        ),
        (
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "OUTDIR/a", None, "OUTDIR/b"),
            "OUTDIR/a -> OUTDIR/b",
        ),
    ],
)
def test_os_errors_name_a_path(monkeypatch, capsys, tmp_path, exc, expected):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    monkeypatch.setitem(cli.COMMANDS, "reconstruct", _failing(exc))
    code = cli.main(["reconstruct", str(video), "--depth", "d.npy", "--out", "OUTDIR"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: ") and expected in err[0]
    assert "[Errno" not in err[0]
