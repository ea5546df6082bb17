"""The worker and its agents (intake, enrich with dedup, route, sequencer): each agent is a
class on :class:`agents.base.Agent`, run by the quixstreams engine of :mod:`agents.engine` in a
process of its own; :mod:`agents.worker` lists them, starts them and serves the status page."""

import contextlib
import importlib
import warnings

# quixstreams imports authlib's httpx client, which warns on import that its module is
# deprecated: nothing an operator can act on, so not printed at every worker start. authlib
# puts an "always" filter for its warnings first in the list when it is imported, so it is
# imported before ours goes in front of it.
with contextlib.suppress(ImportError):
    importlib.import_module("authlib.deprecate")
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
