"""List + watch Kubernetes objects off the event loop, resuming without losing or repeating an event.

The crash watcher must see every pod change exactly once across dropped connections, apiserver restarts,
watch timeouts and etcd compactions, and a cluster outage must never stop the process. So:

- **List, then watch from the list's resourceVersion** (paged: `limit`/`continue`, so 10,000 pods never
  sit in memory at once), with `allowWatchBookmarks=true`. The resume point is the resourceVersion of the
  last event *or bookmark*: a bookmark moves it forward in a quiet namespace of a busy cluster, so the
  resume still lies inside the apiserver's watch window.
- **Resume, don't relist**: a dropped connection, a restarted apiserver or the watch's own
  `timeoutSeconds` ending reconnects from the last resourceVersion; the apiserver replays what happened
  in between, so nothing is missed and nothing repeated.
- **`410 Gone`** (an ERROR event carrying a Status with code 410, or an HTTP 410) means the resume point
  left the window: relist. Those list events carry `relist=True`, and a `Synced` marker follows each
  complete (re)list with the uids it contained, so the consumer can forget pods that vanished meanwhile.
- **Backoff with full jitter** (`uniform(0, min(cap, base·2ⁿ))`, cap 30 s) while the apiserver is down;
  the iterator never raises for a cluster problem: it logs (first failure a warning, then quietly, then
  "recovered") and reports each restart to `WatchHooks.on_restart`.
- **Raw bytes, not models, and only what is read**: the body is read with `_preload_content=False` and
  split into lines. A pod event is first glanced at (`glance`: msgspec decodes only its uid, namespace
  and container statuses) and decoded whole with orjson only when `PodEvent.pod` is read, which the
  crash watcher does only when the container records changed. The client's `Watch.stream` builds a
  model object per event, which costs far more than everything else the watcher does; its
  `deserialize=False` mode skips the models but decodes every event whole, tracks no resourceVersion
  (a resumed watch replays from the start) and fails on an ERROR event (kubernetes 37: `KeyError:
  'raw_object'`), so this package keeps its own reader (see `bench/watch_detect.py`).

Threads: each scope (all namespaces, or each namespace of `namespaces`) runs its blocking list/watch loop
on a daemon thread that hands *batches* to the loop (waking it only when it waits), at most
`max_pending_batches` at a time, so a slow consumer slows the reader instead of filling memory. The
thread does the I/O and splits lines; each event is looked at when the iterator yields it (decoded
objects waiting between threads would survive into the garbage collector's old generations and make
every full collection walk them), and the resume point is read from the last line handed over only
when a reconnect needs it. `watching(scope)` says whether a scope's watch is open (the apiserver
accepted it), which is what a test or a readiness check waits for after the first `Synced`.
`aclose()` shuts the open socket for reading, so a thread blocked on a quiet watch returns at once and
is joined; the watch's `timeoutSeconds` and the read timeout bound the rest.
Per scope, events come in the apiserver's order; scopes interleave.

Use (the alert service):

    stream = PodStream(build_api_client(), namespaces=settings.watch_namespaces,
                       label_selector=settings.watch_label_selector, hooks=WatchHooks(on_restart=...))
    async for batch in stream.batches():  # or `async for item in stream`; ends after `aclose()`
        for item in batch:                # PodEvent | Synced
            if isinstance(item, Synced): seen.forget_missing(item.uids, item.covers)
            elif item.type == "MODIFIED" and item.glance and seen.unchanged(uid, statuses…): skip it
            else: terminations = seen.update(item.type, item.pod)   # bot.alerting.SeenPods

Give the stream its own `ApiClient` (`build_api_client()` again): each scope holds one connection open
for minutes, which should not take slots of the connection pool the slash commands' reads use.
`ResourceStream` is the same machinery for any list/watch call (the namespace cache uses it).

Modules (each small enough to read on its own):

- `events`: what the stream yields and reports (`PodEvent`, `PodGlance`, `Synced`, `EventType`,
  `RestartReason`, `WatchHooks`); `glance`: the partial decode of a pod event line.
- `settings`, `backoff`: `WatchSettings` (timeouts, page size, queue bound) and the `Backoff` policy.
- `reader`: `ScopeReader`, the blocking HTTP list/watch loop of one scope on its thread.
- `list_slots`: how many lists of the process hold pages at once (`LIST_SLOTS`), taken once an apiserver
  has answered.
- `outage`: failure classification and the one-warning-per-outage logging of a reader.
- `handover`: the bounded thread-to-loop `Sink` and the items it carries.
- `stream`: `ResourceStream`, the async iterator merging every scope's reader; `pods`: `PodStream`.

Every module logs to the `bot.kube.watch` logger.
"""

from .backoff import Backoff
from .events import EventFactory as EventFactory
from .events import EventType, PodEvent, PodGlance, RestartReason, Synced, WatchHooks
from .events import JsonDict as JsonDict
from .pods import PodStream
from .reader import ListCall as ListCall
from .settings import WatchSettings
from .stream import ResourceStream

__all__ = [
    "Backoff",
    "EventType",
    "PodEvent",
    "PodGlance",
    "PodStream",
    "ResourceStream",
    "RestartReason",
    "Synced",
    "WatchHooks",
    "WatchSettings",
]
