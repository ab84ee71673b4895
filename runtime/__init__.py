"""The System (which stages there are, what each handles and writes: system.py) and its two
runners, the Kafka runner (loop.py) and the in-memory runner (memory.py); the one consumer
loop, failure policy, outbox and parking every stage runs on, and the tables they keep."""
