"""Pure business rules: statuses, reasons, documents, state machines. No I/O here."""
