"""One settings object from intelshare.toml and INTELSHARE_* variables, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.errors import ConfigError
from streams.settings import Settings


def test_defaults_point_at_the_local_broker(tmp_path: Path) -> None:
    """With nothing configured, clients talk to the local broker on 127.0.0.1:9092."""
    settings = Settings.load({}, config_file=tmp_path / "absent.toml")
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.broker_data_dir == Path(".intelshare/broker")


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    """INTELSHARE_* beats intelshare.toml, and KAFKA_BOOTSTRAP_SERVERS beats both."""
    toml = tmp_path / "intelshare.toml"
    toml.write_text('topic_prefix = "file."\nrequest_timeout = 3\nbootstrap_servers = "a:1"\n')
    env = {"INTELSHARE_TOPIC_PREFIX": "env.", "KAFKA_BOOTSTRAP_SERVERS": "b:2"}
    settings = Settings.load(env, config_file=toml)
    assert (settings.topic_prefix, settings.request_timeout, settings.bootstrap_servers) == (
        "env.",
        3.0,
        "b:2",
    )


def test_broker_port_moves_the_default_bootstrap(tmp_path: Path) -> None:
    """Setting only the broker port makes clients follow it."""
    settings = Settings.load({"INTELSHARE_BROKER_PORT": "19092"}, config_file=tmp_path / "x")
    assert settings.bootstrap_servers == "127.0.0.1:19092"


def test_bad_value_names_the_variable(tmp_path: Path) -> None:
    """A malformed number says which variable to fix."""
    with pytest.raises(ConfigError, match="INTELSHARE_REQUEST_TIMEOUT"):
        Settings.load({"INTELSHARE_REQUEST_TIMEOUT": "soon"}, config_file=tmp_path / "x")
    with pytest.raises(ConfigError, match="positive"):
        Settings.load({"INTELSHARE_BROKER_PORT": "-1"}, config_file=tmp_path / "x")


def test_unknown_setting_in_file_is_refused(tmp_path: Path) -> None:
    """A typo in intelshare.toml is an error, not silently ignored."""
    toml = tmp_path / "intelshare.toml"
    toml.write_text('bootstrap_server = "a:1"\n')
    with pytest.raises(ConfigError, match="bootstrap_server"):
        Settings.load({}, config_file=toml)


def test_broken_toml_is_named(tmp_path: Path) -> None:
    """A file that is not TOML names the file."""
    toml = tmp_path / "intelshare.toml"
    toml.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match=r"intelshare\.toml"):
        Settings.load({}, config_file=toml)


def test_broker_wait_may_be_0_but_not_negative(tmp_path: Path) -> None:
    """INTELSHARE_BROKER_WAIT=0 means "do not wait"; a negative wait names the variable."""
    assert Settings.load({}, config_file=tmp_path / "x").broker_wait == 60.0
    zero = Settings.load({"INTELSHARE_BROKER_WAIT": "0"}, config_file=tmp_path / "x")
    assert zero.broker_wait == 0.0
    with pytest.raises(ConfigError, match="INTELSHARE_BROKER_WAIT"):
        Settings.load({"INTELSHARE_BROKER_WAIT": "-1"}, config_file=tmp_path / "x")
    with pytest.raises(ConfigError, match="INTELSHARE_REQUEST_TIMEOUT"):
        Settings.load({"INTELSHARE_REQUEST_TIMEOUT": "0"}, config_file=tmp_path / "x")
