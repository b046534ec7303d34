"""Config paths that make no sense are refused with one line and exit 2, before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest

import cli


def _wlb(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(list(args))
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return code, lines[0]


@pytest.mark.parametrize("command", [["queue"], ["collect"], ["run"], ["doctor"]])
def test_dev_null_as_config_is_refused_and_creates_nothing(capsys, command: list[str]) -> None:
    existed = Path("/dev/data").exists()
    code, line = _wlb(capsys, "--config", "/dev/null", *command)
    assert code == 2
    assert line == ("error: /dev/null: not a regular file; pass --config the path of a config.toml "
                    "('wlb init' writes one)")
    assert Path("/dev/data").exists() == existed


def test_a_folder_as_config_is_refused(tmp_path: Path, capsys) -> None:
    code, line = _wlb(capsys, "--config", str(tmp_path), "queue")
    assert code == 2 and f"{tmp_path}: not a regular file" in line


def test_a_media_dir_under_a_file_is_refused_before_anything_is_created(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    config = tmp_path / "config.toml"
    config.write_text('database = "sqlite:///state/wlb.db"\nmedia_dir = "data/media"\n', encoding="utf-8")
    code, line = _wlb(capsys, "--config", str(config), "collect")
    assert code == 2
    assert line == (f"error: {config}: data_dir {tmp_path}/data cannot be created "
                    f"({tmp_path}/data is not a folder); set data_dir to a folder you can write to")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "data"]


def test_a_media_dir_on_a_read_only_parent_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'media_dir = "{locked}/media"\n', encoding="utf-8")
    real_access = os.access
    # Tests may run as root, for whom every folder is writable: stand in for a read-only mount's answer.
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == locked else real_access(p, mode, **kw))
    code, line = _wlb(capsys, "--config", str(config), "queue")
    assert code == 2 and f"({locked} is not writable)" in line


def test_a_config_that_sets_only_media_dir_keeps_the_lock_and_sessions_beside_it(tmp_path: Path) -> None:
    """Before data_dir existed, the run lock and Bluesky sessions lived in media_dir's parent: an upgrade finds them."""
    from app.config import load_settings

    config = tmp_path / "etc" / "config.toml"
    config.parent.mkdir()
    config.write_text(f'media_dir = "{tmp_path}/srv/wlb/media"\n', encoding="utf-8")
    assert load_settings(config).data_dir == tmp_path / "srv" / "wlb"
    config.write_text('media_dir = "store/media"\n', encoding="utf-8")
    assert load_settings(config).data_dir == config.parent / "store"


def test_data_dir_wins_and_unset_folders_go_beside_the_config(tmp_path: Path) -> None:
    from app.config import load_settings

    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    settings = load_settings(config)
    assert (settings.data_dir, settings.media_dir) == (tmp_path / "data", tmp_path / "data" / "media")
    config.write_text(f'data_dir = "state"\nmedia_dir = "{tmp_path}/photos"\n', encoding="utf-8")
    settings = load_settings(config)
    assert (settings.data_dir, settings.media_dir) == (tmp_path / "state", tmp_path / "photos")
    config.write_text('data_dir = "state"\n', encoding="utf-8")
    assert load_settings(config).media_dir == tmp_path / "state" / "media"


@pytest.mark.parametrize("line", ["data_dir = 3", "media_dir = 3", "data_dir = [1]"])
def test_a_folder_that_is_not_a_path_is_one_line(tmp_path: Path, capsys, line: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"{line}\n", encoding="utf-8")
    code, message = _wlb(capsys, "--config", str(config), "queue")
    assert code == 2 and "unexpected" not in message and f"'{line.split()[0]}'" in message, message


def test_a_kind_that_is_not_a_string_is_one_line(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[channels.a]\nkind = ["mastodon"]\nbase_url = "https://x.example"\n', encoding="utf-8")
    code, message = _wlb(capsys, "--config", str(config), "queue")
    assert code == 2 and "'channels.a.kind'" in message and "unexpected" not in message, message
