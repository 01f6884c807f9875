"""What people and machines read: problems, plans and explanations as text, JSON or GitHub
annotations (`render`), actions and values as CSV or JSONL (`export`)."""
