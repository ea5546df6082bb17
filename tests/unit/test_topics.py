"""The topic catalogue holds DESIGN.md's topics with the guarantees it states."""

from __future__ import annotations

import pytest

from streams.errors import ConfigError
from streams.settings import Settings
from streams.topics import (
    CATALOGUE,
    Topics,
    configured,
    feed_spec,
    feed_topic,
    unit_feedback_spec,
)

BY_NAME = {spec.name: spec for spec in CATALOGUE}


def test_catalogue_holds_every_topic_of_the_design() -> None:
    """Every fixed topic name of the data flow is in the catalogue."""
    assert set(BY_NAME) == {
        "intel.submissions",
        "intel.validated",
        "intel.enriched",
        "intel.deadletter",
        "intel.audit.pending",
        "intel.audit",
        "intel.audit.checkpoints",
        "intel.audit.cosignatures",
        "intel.receipts",
        "intel.agreements",
        "intel.agreements.history",
        "intel.ref.facilities",
        "intel.ref.subjects",
        "intel.ref.agencies",
        "intel.ref.units",
        "intel.keys.subjects",
        "intel.keys.commitments",
        "intel.feedback",
        "intel.ref.unitkeys",
    }


def test_audit_is_one_partition_kept_forever() -> None:
    """intel.audit has one partition (total order) and infinite retention."""
    audit = BY_NAME["intel.audit"]
    assert audit.partitions == 1
    assert audit.config["retention.ms"] == "-1"
    assert audit.config["retention.bytes"] == "-1"
    assert BY_NAME["intel.audit.pending"].partitions == 1


@pytest.mark.parametrize(
    "name",
    [
        "intel.agreements",
        "intel.ref.facilities",
        "intel.ref.subjects",
        "intel.ref.agencies",
        "intel.ref.units",
    ],
)
def test_agreements_and_reference_data_are_compacted(name: str) -> None:
    """The latest record per key is kept: agreements and reference data are compacted."""
    assert BY_NAME[name].config["cleanup.policy"] == "compact"


def test_units_are_one_compacted_partition_named_by_the_catalogue() -> None:
    """intel.ref.units (unit users and their submission keys) is in Topics with its prefix."""
    assert BY_NAME["intel.ref.units"].partitions == 1
    assert Topics("p.").units == "p.intel.ref.units"


def test_feed_topic_is_per_agency() -> None:
    """An agency's feed is intel.feed.<agency id>."""
    assert feed_topic("kz-knb") == "intel.feed.kz-knb"
    assert feed_spec("kz-knb").name == "intel.feed.kz-knb"


@pytest.mark.parametrize("agency", ["", "KZ-KNB", "../audit", "a b", "x" * 64, "kz.knb", "-kz"])
def test_hostile_agency_ids_make_no_topic(agency: str) -> None:
    """Agency ids that could name another topic or an invalid one are refused."""
    with pytest.raises(ConfigError):
        feed_topic(agency)


def test_retention_settings_reach_the_plaintext_topics_dead_letters_and_feeds() -> None:
    """The settings' retention replaces the catalogue's on the topics it names, and no other."""
    settings = Settings(
        retention_intermediate_days=2, retention_deadletter_days=5, retention_feed_days=9
    )
    day = 24 * 60 * 60 * 1000
    for name in ("intel.submissions", "intel.validated", "intel.enriched", "intel.feedback"):
        config = configured(BY_NAME[name], settings).config
        assert (config["retention.ms"], config["cleanup.policy"]) == (str(2 * day), "delete")
    assert configured(BY_NAME["intel.deadletter"], settings).config["retention.ms"] == str(5 * day)
    assert configured(feed_spec("kz-knb"), settings).config["retention.ms"] == str(9 * day)
    unit = configured(unit_feedback_spec("KZ-PIU-A"), settings)  # feedback to a unit: a feed
    assert (unit.name, unit.config["retention.ms"]) == ("intel.feedback.KZ-PIU-A", str(9 * day))
    for name in ("intel.audit", "intel.agreements", "intel.audit.pending"):
        assert configured(BY_NAME[name], settings) == BY_NAME[name]


def test_default_retention_is_a_week_for_reports_in_clear() -> None:
    """With default settings, no topic holding whole reports in clear keeps them over 7 days."""
    for name in ("intel.submissions", "intel.validated", "intel.enriched"):
        assert configured(BY_NAME[name], Settings()).config["retention.ms"] == str(7 * 86400000)


def test_key_topics_are_compacted_so_that_erased_keys_leave_the_disks() -> None:
    """The subjects' keys and commitments are compacted, with segments rolled and cleaned
    within minutes and tombstones dropped a minute later: a destroyed key does not linger."""
    for name in ("intel.keys.subjects", "intel.keys.commitments"):
        config = BY_NAME[name].config
        assert config["cleanup.policy"] == "compact"
        for key in ("segment.ms", "max.compaction.lag.ms", "delete.retention.ms"):
            assert int(config[key]) <= 60_000
        assert float(config["min.cleanable.dirty.ratio"]) <= 0.01


@pytest.mark.parametrize("unit", ["../x", "", "a" * 65, "bad id"])
def test_a_unit_id_that_cannot_name_a_topic_is_refused(unit: str) -> None:
    """A unit's feedback topic is named after its id: an unsafe id is a ConfigError."""
    with pytest.raises(ConfigError, match="unit id"):
        Topics("p.").unit_feedback(unit)
