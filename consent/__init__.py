"""The consent stage: permission requests sent as replies to the photographers' posts, and their answers read back."""
