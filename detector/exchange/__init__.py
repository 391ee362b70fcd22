"""Cross-worker fingerprint exchange: split attacks whose keys sit on partitions of different workers.

Each worker publishes its clients' input fingerprints (:mod:`~detector.exchange.wire`) to the
fingerprint topic, each LSH bucket on one partition; the worker owning a partition matches them
across every sender (:mod:`~detector.exchange.bucket_owner`) and broadcasts the matches, which the
owners of the clients take into their cross-client features (:mod:`~detector.exchange.exchange`).
"""
