"""The contract every part of govshare imports: events, envelope, codec, topics, publisher."""
