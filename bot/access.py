"""`CONFIG_FILE` and the namespace access policy of every interaction: `/exitcode pod`, `/exitcode ns`
and every alert button (`NamespaceAccess.refusal`, issue 14).

The bot reads live pods with its own service account, so whoever can type in a channel where the bot
answers can read crash details of every namespace the bot sees. Two layers narrow that, and both must
allow a namespace before anything is fetched:
- `ALLOWED_NAMESPACES` (globs, default `*`): what the bot may ever be asked about, from any surface;
- `channel_namespaces` in `CONFIG_FILE`: which namespaces each Slack channel may ask about. Once the map
  has entries it is an allow-list: a channel not listed (and no `"*"` entry) may query nothing.

The same file carries `namespace_channels`, the per-namespace alert routing, so operators keep one file:

    channel_namespaces:                 # keys: "#channel-name", a channel ID (C0123ABCD), or "*"
      "#payments-oncall": ["payments-*", "shared"]
      "C0123ABCD": ["*"]
    namespace_channels:                 # namespace glob -> channel; the first matching glob wins
      "prod-*/payments-*": "#payments-prod"   # CLUSTER_GLOB/NAMESPACE_GLOB: one cluster's (CLUSTERS)
      "payments-*": "#payments-alerts"
    channel_clusters:                   # with CLUSTERS: a channel's default and allowed clusters
      "#payments-oncall": {default: prod-eu, allowed: ["prod-*"]}

Issue 12 adds `namespace_routes` (namespace glob → destinations on the other alert surfaces,
`teams:payments, pagerduty:none`), `surfaces` (more targets per surface, each naming the *environment
variable* holding its URL or key: the file never holds a secret) and `pagerduty_severity`; see the
README's "Alert surfaces" and `bot.wiring.surfaces`.

With CLUSTERS a channel may query the clusters its `channel_clusters` entry allows (globs; every
cluster when the map has no entry for it, as with no map at all) times the namespaces
`channel_namespaces` allows: `allowed: ["prod-*"]` and `["payments-*"]` give payments namespaces of prod
clusters only. `default` is the cluster `pod NS/POD` means in that channel (else the home cluster).

A typo must stop the bot at startup, not silently open or close access at 3 a.m., so the file is validated
strictly and every problem is a `ConfigFileError` naming the file and the field (as the knowledge loader
does). `{}` or an empty file is a valid, empty configuration.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
)

from bot.alerting.destinations import RouteError, parse_route
from bot.alerting.routing import channel_for_namespace
from bot.diagnosis.names import DNS1123_SUBDOMAIN, validate_namespace, validate_pod_name
from bot.diagnosis.ports import InvalidName
from bot.render.alert_pagerduty import SeverityRules, parse_severity_rules

ANY_CHANNEL = "*"
"""The `channel_namespaces` key that applies to every channel not listed by name or ID."""

_CHANNEL_NAME = re.compile(r"^#[a-z0-9][a-z0-9._-]{0,79}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
_NAMESPACE_GLOB = re.compile(r"^[a-z0-9*?\[\]!-]{1,63}$")
_CHANNEL_HINT = "write a channel as #channel-name or as its ID (C0123ABCD)"


class ConfigFileError(Exception):
    """`CONFIG_FILE` cannot be used; the message names the file and the field."""

    def __init__(self, path: Path, problem: str, field: str | None = None) -> None:
        self.path = path
        self.problem = problem
        self.field = field
        where = f"{path}, field '{field}'" if field else str(path)
        super().__init__(f"{where}: {problem}")


def _channel(value: str) -> str:
    """A channel reference: `#name` (normalised to lower case, as Slack stores names) or an ID."""
    cleaned = value.strip()
    if _CHANNEL_ID.match(cleaned):
        return cleaned
    if cleaned.startswith("#") and _CHANNEL_NAME.match(cleaned.lower()):
        return cleaned.lower()
    raise ValueError(f"{cleaned!r} is not a channel: {_CHANNEL_HINT}")


def _channel_key(value: str) -> str:
    return ANY_CHANNEL if value.strip() == ANY_CHANNEL else _channel(value)


def _namespace_glob(value: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise ValueError("a namespace glob cannot be empty")
    if cleaned != cleaned.lower():
        raise ValueError(f"{cleaned!r}: namespaces are lower case, so this glob would never match")
    if not _NAMESPACE_GLOB.match(cleaned):
        raise ValueError(
            f"{cleaned!r} is not a namespace glob: use lower-case letters, digits, '-' and the glob "
            "characters * ? [ ]"
        )
    return cleaned


def _route_glob(value: str) -> str:
    """A `namespace_channels` key: a namespace glob, or `CLUSTER_GLOB/NAMESPACE_GLOB` (issue 13)."""
    cleaned = value.strip()
    cluster, separator, namespace = cleaned.rpartition("/")
    if not separator:
        return _namespace_glob(cleaned)
    return f"{_cluster_glob(cluster)}/{_namespace_glob(namespace)}"


def _cluster_glob(value: str) -> str:
    cleaned = value.strip()
    if not cleaned or "/" in cleaned or any(character.isspace() for character in cleaned):
        raise ValueError(
            f"{cleaned!r} is not a cluster glob: a cluster name (its context) without spaces or '/'"
        )
    return cleaned


_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_SURFACE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def _route(value: str) -> str:
    """A `namespace_routes` value: destinations (`teams:payments, pagerduty:none`), normalised."""
    try:
        destinations = parse_route(value)
    except RouteError as error:
        raise ValueError(str(error)) from None
    if not destinations:
        raise ValueError("a route names at least one destination (surface:target), e.g. teams:payments")
    return ", ".join(f"{d.surface}:{d.target}" for d in destinations)


def _env_name(value: str) -> str:
    """The *name* of an environment variable holding a URL or key: secrets never go in this file."""
    if not _ENV_NAME.match(value):
        # Never echoed: what was written here instead of a name may well be the URL or key itself.
        raise ValueError(
            "not an environment variable name: the file names the variable that holds the URL or key "
            "(e.g. TEAMS_PAYMENTS_URL), never the secret itself"
        )
    return value


def _surface_name(value: str) -> str:
    if not _SURFACE_NAME.match(value):
        raise ValueError(f"{value!r} is not a surface name (teams, pagerduty, webhook)")
    return value


def _target_name(value: str) -> str:
    if not _TARGET_NAME.match(value):
        raise ValueError(f"{value!r} is not a target name (letters, digits, . _ -)")
    return value


def _one_or_many(value: Any) -> Any:
    """`"#team": "payments-*"` means the same as `"#team": ["payments-*"]`."""
    return [value] if isinstance(value, str) else value


ChannelRef = Annotated[str, AfterValidator(_channel)]
ChannelKey = Annotated[str, AfterValidator(_channel_key)]
NamespaceGlob = Annotated[str, AfterValidator(_namespace_glob)]
NamespaceGlobs = Annotated[tuple[NamespaceGlob, ...], BeforeValidator(_one_or_many)]
RouteGlob = Annotated[str, AfterValidator(_route_glob)]
ClusterGlob = Annotated[str, AfterValidator(_cluster_glob)]
RouteText = Annotated[str, AfterValidator(_route)]
EnvName = Annotated[str, AfterValidator(_env_name)]
SurfaceName = Annotated[str, AfterValidator(_surface_name)]
TargetName = Annotated[str, AfterValidator(_target_name)]


class ChannelClusters(BaseModel):
    """One channel's clusters (CLUSTERS): the one a command without `CLUSTER/` means, and which it may
    query at all (globs; default every cluster)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: ClusterGlob | None = None
    allowed: Annotated[tuple[ClusterGlob, ...], BeforeValidator(_one_or_many)] = ("*",)


class BotConfig(BaseModel):
    """The content of `CONFIG_FILE`. Both maps are optional; key order is the file's order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel_namespaces: dict[ChannelKey, NamespaceGlobs] = Field(default_factory=dict)
    """Channel (`#name`, ID or `*`) → namespace globs it may query with `/exitcode pod|ns`."""
    namespace_channels: dict[RouteGlob, ChannelRef] = Field(default_factory=dict)
    """Namespace glob (or `CLUSTER_GLOB/NAMESPACE_GLOB`) → the channel its crash alerts go to (first
    matching glob wins)."""
    channel_clusters: dict[ChannelKey, ChannelClusters] = Field(default_factory=dict)
    """Channel (`#name`, ID or `*`) → its default cluster and the cluster globs it may query."""
    namespace_routes: dict[RouteGlob, RouteText] = Field(default_factory=dict)
    """Namespace glob (or `CLUSTER_GLOB/NAMESPACE_GLOB`) → destinations on the other alert surfaces
    (`teams:payments, pagerduty:checkout`; `pagerduty:none` = no pages); per surface, the first matching
    glob that names it wins (`bot.alerting.destinations`)."""
    surfaces: dict[SurfaceName, dict[TargetName, dict[str, EnvName]]] = Field(default_factory=dict)
    """Surface → target → {setting: ENVIRONMENT_VARIABLE}: more Teams webhooks, PagerDuty services or
    webhook receivers than the plain settings' `default`, each naming the variables that hold its URL or
    key (checked against what each surface needs at startup)."""
    pagerduty_severity: Annotated[SeverityRules, PlainValidator(parse_severity_rules)] = Field(
        default_factory=SeverityRules
    )
    """PagerDuty severity rules, first match wins (`bot.render.alert_pagerduty.parse_severity_rules`)."""

    def alert_channel_for(self, namespace: str, cluster: str | None = None) -> str | None:
        """The channel `namespace_channels` routes `namespace`'s (in `cluster`) alerts to (first
        matching glob in the file's order); None when no glob matches (the caller then uses
        `ALERT_CHANNEL`). The rule lives in `bot.alerting.routing`, shared with the alert service."""
        return channel_for_namespace(namespace, self.namespace_channels, cluster)


def load_bot_config(path: Path | None) -> BotConfig:
    """`CONFIG_FILE` validated; no file configured means an empty configuration. Raises `ConfigFileError`."""
    if path is None:
        return BotConfig()
    raw = _read_yaml(path)
    if not isinstance(raw, Mapping):
        raise ConfigFileError(
            path, "the file must be a mapping with channel_namespaces and/or namespace_channels"
        )
    try:
        return BotConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        problem = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            problem = (
                "unknown field (the file knows channel_namespaces, namespace_channels, channel_clusters, "
                "namespace_routes, surfaces and pagerduty_severity; a channel_clusters entry knows default "
                "and allowed)"
            )
        elif first["type"] in ("tuple_type", "list_type"):
            problem = 'must be a list of namespace globs, e.g. ["payments-*", "shared"]'
        elif first["type"] == "dict_type":
            problem = "must be a mapping (see the example in k8s/base/configmap.yaml)"
        raise ConfigFileError(path, problem, _field_path(first["loc"])) from None


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(path, "config file not found (CONFIG_FILE)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(path, f"cannot read the config file ({error})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigFileError(path, f"YAML syntax error{where}: {error.problem or 'invalid YAML'}") from None
    except yaml.YAMLError as error:
        raise ConfigFileError(path, f"YAML syntax error: {error}") from None
    return {} if data is None else data


def _field_path(loc: Sequence[int | str]) -> str:
    """`('channel_namespaces', '#team', 0)` → `channel_namespaces["#team"][0]`; a bad key → `…[key]`."""
    if not loc:
        return ""
    parts = [str(loc[0])]
    for part in loc[1:]:
        if part == "[key]":
            parts.append(" (the key)")
        elif isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f'["{part}"]')
    return "".join(parts)


# ------------------------------------------------------------------------------------- the policy


@dataclass(frozen=True, slots=True)
class SlackChannel:
    """Where a Slack request came from: the channel ID, and its name (without `#`) when known."""

    id: str
    name: str | None = None


class NamespaceAccess:
    """May a namespace be queried (from this channel)? `denial()` answers with the sentence to show."""

    def __init__(
        self,
        allowed_namespaces: Sequence[str] = ("*",),
        channel_namespaces: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.allowed_namespaces = tuple(allowed_namespaces)
        self.channel_namespaces = dict(channel_namespaces or {})

    @classmethod
    def from_config(cls, allowed_namespaces: Sequence[str], config: BotConfig) -> NamespaceAccess:
        return cls(allowed_namespaces, config.channel_namespaces)

    def channel_globs(self, channel: SlackChannel) -> tuple[str, ...] | None:
        """The globs `channel` may query; None when the file restricts no channel at all."""
        if not self.channel_namespaces:
            return None
        by_name = f"#{channel.name.lower()}" if channel.name else None
        for key in (channel.id, by_name, ANY_CHANNEL):
            if key is not None and key in self.channel_namespaces:
                return tuple(self.channel_namespaces[key])
        return ()

    def denial(self, namespace: str, channel: SlackChannel | None = None) -> str | None:
        """None when `namespace` may be queried; else why not, in one or two sentences (raw text).

        `channel` is None outside Slack (console mode, the CLI): only `ALLOWED_NAMESPACES` applies there.
        """
        if not _matches(namespace, self.allowed_namespaces):
            if not self.allowed_namespaces:
                return "This bot may not look at any namespace: ALLOWED_NAMESPACES is empty."
            return (
                f"This bot may not look at namespace “{namespace}”: it is limited to "
                f"{_listed(self.allowed_namespaces)} (ALLOWED_NAMESPACES)."
            )
        if channel is None:
            return None
        globs = self.channel_globs(channel)
        if globs is None or _matches(namespace, globs):
            return None
        if not globs:
            return (
                "Pods and namespaces cannot be queried from this channel: the bot's CONFIG_FILE "
                "(channel_namespaces) does not list it. Ask the bot's operator, or ask in a channel that "
                "may query this namespace."
            )
        return (
            f"Namespace “{namespace}” cannot be queried from this channel; this channel may query "
            f"{_listed(globs)} (CONFIG_FILE, channel_namespaces)."
        )

    def refusal(
        self,
        namespace: str,
        channel: SlackChannel | None,
        *,
        pod: str | None = None,
        other_names: Sequence[str] = (),
    ) -> str | None:
        """The one check every interaction passes before anything is read or written (issue 14).

        Slash commands, every alert button, and whatever surface gets actions later: the names must be
        valid Kubernetes names (`namespace` and `pod` DNS-1123 labels/subdomains, `other_names` such as a
        container, workload or node DNS-1123 subdomains), then `ALLOWED_NAMESPACES` and the channel map
        decide, with the same sentences as `denial`. Button values come back from the client, so they
        are untrusted input exactly like typed text. None when the interaction may proceed.
        """
        try:
            validate_namespace(namespace)
            if pod is not None:
                validate_pod_name(pod)
        except InvalidName as error:
            return error.user_message
        for name in other_names:
            if not (len(name) <= _MAX_SUBDOMAIN and DNS1123_SUBDOMAIN.fullmatch(name)):
                return f"“{name[:80]}” is not a valid Kubernetes name, so nothing was done."
        return self.denial(namespace, channel)


_MAX_SUBDOMAIN = 253


class ClusterAccess:
    """Which cluster a channel's command means, and may it ask that one (`channel_clusters`, issue 13).

    Applied before `NamespaceAccess`, so a channel may query the allowed clusters × the allowed
    namespaces. `channel` None (console, CLI): every cluster, the home one by default."""

    def __init__(self, channel_clusters: Mapping[str, ChannelClusters] | None = None) -> None:
        self.channel_clusters = dict(channel_clusters or {})

    def _entry(self, channel: SlackChannel | None) -> ChannelClusters | None:
        if channel is None:
            return None
        by_name = f"#{channel.name.lower()}" if channel.name else None
        for key in (channel.id, by_name, ANY_CHANNEL):
            if key is not None and key in self.channel_clusters:
                return self.channel_clusters[key]
        return None

    def default_for(self, channel: SlackChannel | None) -> str | None:
        """The channel's default cluster; None: the bot's home cluster."""
        entry = self._entry(channel)
        return entry.default if entry is not None else None

    def denial(self, cluster: str, channel: SlackChannel | None) -> str | None:
        """None when `channel` may query `cluster`; else why not, in one sentence (raw text)."""
        entry = self._entry(channel)
        if entry is None or _matches(cluster, entry.allowed):
            return None
        if not entry.allowed:
            return "No cluster may be queried from this channel (CONFIG_FILE, channel_clusters)."
        return (
            f"Cluster “{cluster}” cannot be queried from this channel; this channel may query "
            f"{_listed(entry.allowed)} (CONFIG_FILE, channel_clusters)."
        )


def _matches(namespace: str, globs: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(namespace, glob) for glob in globs)


def _listed(globs: Sequence[str]) -> str:
    return ", ".join(globs[:10]) + (f" and {len(globs) - 10} more" if len(globs) > 10 else "")
