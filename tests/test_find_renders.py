"""``generate --trajectory-tag``: a render is found by its file tag or by the trajectory that
rendered it, and a missing one is refused with the tags that exist."""

import pytest

from ex4d_bridge.cli import main
from ex4d_bridge.errors import InputError
from ex4d_bridge.generation.command import find_renders


@pytest.fixture
def renders(tmp_path):
    for tag in ("180", "90", "-30", "walk.json"):
        (tmp_path / f"color_{tag}.mp4").write_bytes(b"")
        (tmp_path / f"mask_{tag}.mp4").write_bytes(b"")
    return tmp_path


@pytest.mark.parametrize(
    "asked, tag",
    [("180", "180"), ("surround", "180"), ("orbit:90", "90"), ("90", "90"), ("orbit:-30.0", "-30")],
)
def test_a_render_is_found_by_tag_or_by_trajectory(renders, asked, tag):
    ((found, color, mask),) = find_renders(renders, [asked])
    assert found == tag
    assert color == renders / f"color_{tag}.mp4" and mask == renders / f"mask_{tag}.mp4"


def test_every_render_without_tags(renders):
    assert [t for t, _, _ in find_renders(renders, None)] == ["-30", "180", "90", "walk.json"]


def test_a_missing_render_lists_the_tags_there(renders):
    with pytest.raises(InputError) as e:
        find_renders(renders, ["orbit:60"])
    msg = str(e.value)
    assert "'orbit:60' (tag '60')" in msg and "color_60.mp4" in msg
    assert "tags there: -30, 180, 90, walk.json" in msg


def test_the_cli_says_which_tags_exist(renders, capsys):
    assert main(["generate", str(renders), "--trajectory-tag", "orbit:45"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
    assert "tags there: -30, 180, 90, walk.json" in err
