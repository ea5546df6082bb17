"""The topic catalogue holds DESIGN.md's topics with the guarantees it states."""

from __future__ import annotations

import pytest

from streams.errors import ConfigError
from streams.topics import CATALOGUE, Topics, feed_spec, feed_topic

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
