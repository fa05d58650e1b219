"""The board: task files on disk, parsed into tasks, watched for changes, moved crash-safely."""
