"""The application layer: use cases over the pure core, with their collaborators passed in.

Between the core (`bot.knowledge`, `bot.diagnosis`, `bot.alerting`, `bot.render`, `bot.command`) and the
entry points (`bot.wiring`, `bot.cli`): each module here is one job, readable in one sitting, and imports
only downwards (the `layers` contract in `.importlinter`).

- `startup.py`: exit codes, `StartupError`, loading settings and the knowledge base.
- `cluster.py`: `ClusterConnection` / `connect_cluster`, the Kubernetes client built once (or why not).
- `diagnose.py`: the diagnose use case (`DiagnoseService`: `pod`/`ns` queries → `Answer`).
- `replies.py`: answering a surface's request with that use case: the Slack diagnose handler and
  console lines (`ConsoleReplies`), each rendering for its surface with the configured command name.

Nothing is imported here eagerly: `exitcode-bot explain` loads only what it uses.
"""
