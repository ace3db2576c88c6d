"""The ingest pipeline every source feeds, as small steps.

    decode and validate → batch → write → dead letters → commit

- `decode.py`: a `Message` (`message.py`) becomes a `PlateEvent` or a
  `DeadLetter` with the reason; never an exception.
- `batch.py`: decoded messages collect into a `Batch` until it is full or
  old enough; the batch remembers the offsets it covers.
- `write.py`: a batch is stored in one transaction by the source's
  `ingestor.writer.Writer` (rows the database refuses become dead letters),
  its dead letters are delivered, then, in the order the batches were read,
  it is committed. Transient outages are retried there (`retry.py`), and
  while writes are backed up the step refuses more work: back-pressure.
- `deadletter.py`: the Kafka dead-letter topic, acknowledged by the broker;
  HTTP and file import deliver theirs to the answer and the rejects file.

Steps share one contract (`step.py`): `submit` an item or be refused with
`MessageRejected`, `poll` to do what is due, `join` to finish everything.
The sources (`ingestor.sources`) differ only in how they receive messages
and acknowledge a committed batch: Kafka commits offsets, HTTP answers the
request, a file import saves its checkpoint.
"""
