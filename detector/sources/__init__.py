"""Where raw records come from: JSONL files or Kafka, behind one small interface."""

from detector.sources.base import Record, Source

__all__ = ["Record", "Source"]
