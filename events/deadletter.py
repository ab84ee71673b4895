"""Headers a dead letter carries besides the original ones: why, from where, and its id."""
REASON = "govshare_dlq_reason"
SOURCE = "govshare_dlq_source"  # topic/partition/offset of the original message
ID = "govshare_dlq_id"  # deterministic, so a re-sent dead letter is recognised
