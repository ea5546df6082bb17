"""The worker and its agents (intake, enrich with dedup, route, sequencer): each agent is a
class on :class:`agents.base.Agent`, run by a transactional :class:`agents.runner.AgentRunner`;
:mod:`agents.worker` lists them and serves the status page."""
