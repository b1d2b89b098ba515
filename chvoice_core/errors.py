"""One exception type for every user-facing failure, so the CLI can print one clear line."""


class ChvoiceError(Exception):
    """A problem with the user's input or environment (bad file, wrong checkpoint, no network...)."""
