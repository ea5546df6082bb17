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


def test_erase_wait_may_be_0_but_not_negative(tmp_path: Path) -> None:
    """INTELSHARE_ERASE_WAIT (60 s by default) may be 0, "look once"; a negative one names
    the variable."""
    assert Settings.load({}, config_file=tmp_path / "x").erase_wait == 60.0
    zero = Settings.load({"INTELSHARE_ERASE_WAIT": "0"}, config_file=tmp_path / "x")
    assert zero.erase_wait == 0.0
    with pytest.raises(ConfigError, match="INTELSHARE_ERASE_WAIT"):
        Settings.load({"INTELSHARE_ERASE_WAIT": "-1"}, config_file=tmp_path / "x")


def test_broker_wait_may_be_0_but_not_negative(tmp_path: Path) -> None:
    """INTELSHARE_BROKER_WAIT=0 means "do not wait"; a negative wait names the variable."""
    assert Settings.load({}, config_file=tmp_path / "x").broker_wait == 60.0
    zero = Settings.load({"INTELSHARE_BROKER_WAIT": "0"}, config_file=tmp_path / "x")
    assert zero.broker_wait == 0.0
    with pytest.raises(ConfigError, match="INTELSHARE_BROKER_WAIT"):
        Settings.load({"INTELSHARE_BROKER_WAIT": "-1"}, config_file=tmp_path / "x")
    with pytest.raises(ConfigError, match="INTELSHARE_REQUEST_TIMEOUT"):
        Settings.load({"INTELSHARE_REQUEST_TIMEOUT": "0"}, config_file=tmp_path / "x")


def test_retention_days_default_short_for_plaintext_topics(tmp_path: Path) -> None:
    """Reports in clear between the agents are kept a week, dead letters two, feeds a year."""
    settings = Settings.load({}, config_file=tmp_path / "absent.toml")
    assert settings.retention_intermediate_days == 7
    assert settings.retention_deadletter_days == 14
    assert settings.retention_feed_days == 365


def test_retention_days_from_file_and_environment(tmp_path: Path) -> None:
    """Retention comes from intelshare.toml, and an INTELSHARE_RETENTION_* variable beats it."""
    toml = tmp_path / "intelshare.toml"
    toml.write_text("retention_intermediate_days = 3\nretention_feed_days = 90\n")
    env = {"INTELSHARE_RETENTION_FEED_DAYS": "30"}
    settings = Settings.load(env, config_file=toml)
    assert (settings.retention_intermediate_days, settings.retention_feed_days) == (3, 30)


@pytest.mark.parametrize(
    "raw",
    [
        "-1",  # negative
        "0",  # nothing kept would lose reports a stopped worker has not read
        "7d",  # a unit
        "7.5",
        "1e3",
        "1_000",  # int() would take it
        "\u0667",  # an Arabic-Indic seven: int() would take it
        "7; rm -rf /",
        "",
        "36501",  # more than a hundred years
        "99999999999999999999999",  # would overflow the broker's milliseconds
    ],
)
def test_bad_retention_is_refused_naming_the_setting(tmp_path: Path, raw: str) -> None:
    """Malformed, negative, oversized and hostile retention values name the variable to fix."""
    with pytest.raises(ConfigError, match="INTELSHARE_RETENTION_DEADLETTER_DAYS"):
        Settings.load({"INTELSHARE_RETENTION_DEADLETTER_DAYS": raw}, config_file=tmp_path / "x")


@pytest.mark.parametrize("value", ["true", "7.0", '"7 days"', "[7]"])
def test_bad_retention_in_the_file_is_refused(tmp_path: Path, value: str) -> None:
    """A TOML boolean, float, text or list is no number of days, and the setting is named."""
    toml = tmp_path / "intelshare.toml"
    toml.write_text(f"retention_intermediate_days = {value}\n")
    with pytest.raises(ConfigError, match="retention_intermediate_days"):
        Settings.load({}, config_file=toml)


@pytest.mark.parametrize("name", ["BROKER_WAIT", "REQUEST_TIMEOUT", "COMMIT_SECONDS"])
@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_a_wait_or_interval_that_is_no_finite_number_is_refused(
    tmp_path: Path, name: str, raw: str
) -> None:
    """float() takes these; a NaN wait would never end (every comparison with it is false)
    and an infinite one neither."""
    with pytest.raises(ConfigError, match=f"INTELSHARE_{name}.*finite"):
        Settings.load({f"INTELSHARE_{name}": raw}, config_file=tmp_path / "x")
