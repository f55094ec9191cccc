"""E-mail: each client's weekly and monthly reports after their period closes, and traffic alerts.

The data path: ``schedule`` says which periods are due and remembers what was sent (``ledger``);
``compose`` turns a period's numbers (the dashboard's, through reports/overview.py) into a message
per recipient; ``outbox`` delivers it (SMTP, or .eml files); ``links`` signs the per-recipient
unsubscribe link; ``alerts`` decides when traffic needs a word; ``service`` runs them together."""
