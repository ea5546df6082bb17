"""intelshare's stream layer: settings, topics, codec, reports, clients and the CLI.

Everything here except the client and CLI modules is pure logic with no Kafka in it.
"""
