"""Sources: reading captures, streams and files into records, counting what is rejected."""
