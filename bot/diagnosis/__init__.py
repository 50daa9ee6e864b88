"""Pod diagnosis (pure core): pod + events + owners + log tails → a `Diagnosis` with a verdict.

Import the module you need; this package imports nothing, so an adapter that only needs the ports
does not load the engine.

- `ports`: `ClusterReader` (+ optional `CurrentLogReader`) and the `ClusterError` family.
- `gather.gather_evidence(reader, namespace, name, *, log_lines) -> PodEvidence` (async, through the
  protocol only; partial failures recorded, only the pod read raises).
- `engine.diagnose(evidence, kb, now) -> Diagnosis` (pure); the types are in `model` and `evidence`.
- `triage.triage_namespace(pods, now, *, kb=None) -> list[TriageRow]` and
  `triage.select_pods_by_prefix(pods, prefix) -> list[dict]` for `/exitcode ns` and workload prefixes.
- `names`: DNS-1123 checks (`validate_namespace`, `validate_pod_name`, `parse_target`) raising
  `InvalidName` with a sentence, and `suggest_close_names` for "pod not found — did you mean".

Rendered by `bot.render.diagnosis_blocks` / `diagnosis_text` / `diagnosis_json`.
"""
