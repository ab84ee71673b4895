"""The one consumer runtime every stage runs on, and the tables it keeps."""
