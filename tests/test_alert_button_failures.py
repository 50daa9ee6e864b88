"""Issue 14, helpful failures: a log read that fails names the likely cause and the next command, and
Re-diagnose of a replaced pod diagnoses the workload's current pod (and says so).

Wire-level (signed clicks into the real Bolt app, a real alert from the alert service, the fake
Kubernetes API answering as the API server does), plus the pure explainer's three causes.
"""

from __future__ import annotations

import copy
import json

from bot.diagnosis.log_failure import explain_log_failure
from tests.conftest import MakeHttpBot
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.test_alert_button_access import alert_and_app, click, private_answer
from tests.test_alert_buttons import button_value, thread_replies
from tests.test_alert_service import Harness, harness_fixture, until, web_pod  # noqa: F401
from tests.test_alerting_pods import make_pod

NO_ADDRESSES = "no preferred addresses found; known addresses: []"


async def test_kubelet_unreachable_names_the_node_and_the_next_command(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)
    node = json.loads(button_value(message, "exitcode_alert_logs"))["n"]
    harness.kube.faults.fail("get", "pods/log", 500, message=NO_ADDRESSES)

    await click(http, message, "exitcode_alert_logs")

    answer = await private_answer(http, 1)
    assert f"could not reach the kubelet on node {node}" in answer
    assert f"Next: `kubectl get node {node} -o wide`" in answer
    assert thread_replies(harness, message) == []


async def test_a_container_that_never_started_says_so_and_points_at_describe(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    """A StatefulSet-style replacement under the same name: the new container is stuck before starting."""
    message, http, _ = await alert_and_app(harness, make_http_bot)
    name = json.loads(button_value(message, "exitcode_alert_logs"))["pod"]
    pod = harness.kube.cluster.get("Pod", "shop", name)
    assert pod is not None
    stuck = copy.deepcopy(pod)
    stuck["status"]["containerStatuses"] = [
        {
            "name": "app",
            "image": "registry.example/app:1",
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": {
                "waiting": {"reason": "CreateContainerConfigError", "message": 'secret "db" not found'}
            },
            "lastState": {},
        }
    ]
    harness.kube.cluster.apply(stuck)
    harness.kube.cluster.set_log("shop", name, "app", "", previous=True)  # the old instance's log is gone

    await click(http, message, "exitcode_alert_logs")

    answer = await private_answer(http, 1)
    assert "never started (CreateContainerConfigError)" in answer
    assert f"Next: `kubectl describe pod -n shop {name}`" in answer


async def test_an_empty_or_rotated_log_says_so_and_gives_the_kubectl_logs_command(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)
    name = json.loads(button_value(message, "exitcode_alert_logs"))["pod"]
    harness.kube.cluster.set_log("shop", name, "app", "", previous=True)

    await click(http, message, "exitcode_alert_logs")

    answer = await private_answer(http, 1)
    assert "rotated away" in answer
    assert f"Next: `kubectl logs -n shop {name} -c app --previous`" in answer


async def test_rediagnose_of_a_replaced_pod_diagnoses_the_workloads_current_pod(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)
    old = json.loads(button_value(message, "exitcode_alert_rediagnose"))["pod"]
    harness.kube.cluster.delete("Pod", "shop", old)
    harness.kube.cluster.apply(web_pod("api-7d9f8c6b5-n3wp0"))
    harness.kube.cluster.apply(make_pod("api-gateway-0", labels={"app": "gateway"}))  # same prefix, not ours

    await click(http, message, "exitcode_alert_rediagnose")

    await until("the diagnosis", lambda: len(thread_replies(harness, message)) == 1)
    reply = json.dumps(thread_replies(harness, message)[0])
    assert f"{old}` no longer exists (replaced)" in reply
    assert "api-7d9f8c6b5-n3wp0" in reply and "api-gateway-0" not in reply


def test_the_explainer_tells_the_three_causes_apart() -> None:
    pod = make_pod("api-0")
    kubelet = explain_log_failure(
        namespace="shop", pod_name="api-0", container="app", api_message=NO_ADDRESSES, pod=pod
    )
    assert (
        "kubelet on node node-1" in kubelet.cause
        and kubelet.next_command == "kubectl get node node-1 -o wide"
    )

    gone = explain_log_failure(
        namespace="shop", pod_name="api-0", container="app", api_message=None, pod=None, node="node-2"
    )
    assert "no longer exists" in gone.cause and gone.next_command == "kubectl get pods -n shop"

    waiting = copy.deepcopy(pod)
    waiting["status"]["containerStatuses"][0].update(
        state={"waiting": {"reason": "ImagePullBackOff"}}, restartCount=0, lastState={}
    )
    never = explain_log_failure(
        namespace="shop", pod_name="api-0", container="app", api_message=None, pod=waiting
    )
    assert "never started (ImagePullBackOff)" in never.cause
    assert never.next_command == "kubectl describe pod -n shop api-0"

    rotated = explain_log_failure(
        namespace="shop", pod_name="api-0", container="app", api_message=None, pod=pod
    )
    assert "rotated away" in rotated.cause
    assert rotated.next_command == "kubectl logs -n shop api-0 -c app --previous"
