"""`exitcode-bot pod|ns --json`: the diagnosis or triage document; a pod picked from a workload adds
`selected` (what was asked, which workload, and its other pods)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bot.diagnosis.answers import IncidentsAnswer, PodAnswer, TriageAnswer
from bot.diagnosis.findings import stamp
from bot.render.diagnosis_json import diagnosis_json, triage_json


def answer_json(answer: PodAnswer | TriageAnswer | IncidentsAnswer) -> dict[str, Any]:
    """The JSON document of an answer (a refusal is not a document: the CLI prints its sentence)."""
    if isinstance(answer, IncidentsAnswer):
        return {"incidents": [asdict(item) for item in answer.incidents]}
    if isinstance(answer, TriageAnswer):
        document = triage_json(answer.rows, namespace=answer.namespace, pods_checked=answer.pods_checked)
        if answer.incidents:
            document["incidents"] = [asdict(item) for item in answer.incidents]
        return document
    document = diagnosis_json(answer.diagnosis)
    selection = answer.selection
    if selection is not None:
        document["selected"] = {
            "query": selection.query,
            "workload": selection.workload,
            "crashed": selection.crashed,
            "other_pods": [
                {
                    "pod": line.name,
                    "phase": line.phase,
                    "restarts": line.restarts,
                    "exit_code": line.exit_code,
                    "reason": line.reason,
                    "state": line.state,
                    "finished_at": stamp(line.finished_at) if line.finished_at else None,
                }
                for line in selection.others
            ],
        }
    return document
