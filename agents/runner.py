"""The exactly-once mechanism of every agent: a transactional consume-transform-produce loop.

Each agent (:class:`agents.base.Agent`) turns one input record into output records (to other
topics, and to its own state changelog). The runner reads a batch with ``read_committed``,
and in ONE Kafka transaction sends every output and the consumer offsets of the batch. A crash
anywhere aborts the open transaction; on restart the agent's state is rebuilt from its
changelog, which holds exactly what the committed transactions wrote, and the batch is
processed again.

Why not faust-streaming: its ``exactly_once`` mode has open reports of duplicates under
read_committed after a kill (faust-streaming/faust#517), of sends outside the transaction
(#177) and of crashes with duplicates on rebalance (#323); and a Faust worker only starts its
tasks after its own consumer group has joined, which took 34 s here after a crash. This loop
uses aiokafka, the client Faust runs on, directly.

One worker runs each agent: the transactional id is fixed per agent and topic prefix, so a second
instance fences the first instead of disclosing twice.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from agents.base import Agent
from agents.views import partitions_of, read_to_end
from streams.settings import Settings
from streams.topics import Topics

__all__ = ["AgentRunner"]

log = structlog.get_logger(__name__)


async def _assign_from_committed(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Own every partition of ``topic`` and resume each at the group's committed offset.

    Manual assignment, not group membership: one worker runs each agent (its transactional id
    fences any other), so a restart after a crash resumes at once instead of waiting for the
    dead member's session to time out.
    """
    partitions = await partitions_of(consumer, topic)
    consumer.assign(partitions)
    for partition in partitions:
        committed = await consumer.committed(partition)
        if committed is None:
            await consumer.seek_to_beginning(partition)
        else:
            consumer.seek(partition, committed)


class AgentRunner:
    """Runs one agent until :meth:`stop`, committing outputs and offsets together."""

    def __init__(self, settings: Settings, agent: Agent, *, batch: int = 500) -> None:
        self.settings = settings
        self.agent = agent
        self.batch = batch
        self.group_id = Topics(settings.topic_prefix).agent_group(agent.name)
        self.processed = 0
        self.started = False
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the open transaction, then return from :meth:`run`."""
        self._stopping.set()

    async def run(self) -> None:
        """Restore state, wait for the views, then process until stopped."""
        bootstrap = self.settings.bootstrap_servers
        if self.agent.state_topic is not None:
            records = await read_to_end(self.settings, self.agent.state_topic)
            for record in records:
                self.agent.restore(record.key or b"", record.value)
            log.info("state_restored", agent=self.agent.name, records=len(records))
        for view in self.agent.views:
            await view.ready()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            **self.settings.kafka_security(),
            group_id=self.group_id,
            isolation_level="read_committed",
            enable_auto_commit=False,
            max_poll_records=self.batch,
        )
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            **self.settings.kafka_security(),
            transactional_id=self.group_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            max_request_size=2 * 1024 * 1024,
        )
        await producer.start()
        await consumer.start()
        await _assign_from_committed(consumer, self.agent.source)
        self.started = True
        log.info("agent_started", agent=self.agent.name, source=self.agent.source)
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self.batch)
                await self._commit(producer, batches)
        finally:
            await consumer.stop()
            await producer.stop()
            log.info("agent_stopped", agent=self.agent.name, processed=self.processed)

    async def _commit(
        self,
        producer: AIOKafkaProducer,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        outputs = [
            output
            for records in batches.values()
            for record in records
            for output in self.agent.process(record)
        ]
        outputs.extend(self.agent.flush())
        if not outputs and not batches:
            return
        offsets = {partition: records[-1].offset + 1 for partition, records in batches.items()}
        async with producer.transaction():
            for output in outputs:
                await producer.send(output.topic, output.value, key=output.key)
            if offsets:
                await producer.send_offsets_to_transaction(offsets, self.group_id)
        self.processed += sum(len(records) for records in batches.values())
