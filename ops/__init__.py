"""Running intelshare: the local Kafka broker, provisioning, demo and benchmark."""
