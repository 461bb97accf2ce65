"""The deployment assets under deploy/, checked against each other and against the code.

Run by deploy/check.sh (which prepares the venv, kubectl and the gateway binary):
    python deploy/check.py --kubectl KUBECTL --gateway BIN [--promtool PROMTOOL] [--junit FILE]

Prints one PASS/FAIL/SKIP line per check, then `deploy-checks: N passed, N failed, N skipped`,
and writes the same results as JUnit XML. Exit status 1 if any check failed.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
WORK = ROOT / "target" / "deploy-check"

# Kubernetes versions the manifests are validated against: the oldest supported (the preStop
# sleep action is on by default from 1.30) and the newest the schemas know.
K8S_VERSIONS = ["1.30.0", "1.37.0"]
# Kinds outside the core schemas, checked by structure instead.
CRD_KINDS = {"ServiceMonitor"}

# Renders: name -> kustomization directory (the servicemonitor component is rendered on top of
# the gateway overlay through a kustomization written under target/).
RENDERS = {
    "base": K8S / "base",
    "sidecar": K8S / "overlays" / "sidecar",
    "gateway": K8S / "overlays" / "gateway",
    "gateway+servicemonitor": None,
}


class Failed(Exception):
    """A check's failure, with the reasons."""


class Skipped(Exception):
    """A check that could not run here."""


RESULTS: list[tuple[str, str, str, float]] = []  # (name, PASS/FAIL/SKIP, message, seconds)


def check(name: str, fn, *args) -> object:
    started = time.monotonic()
    try:
        value = fn(*args)
        status, message = "PASS", ""
    except Failed as e:
        value, status, message = None, "FAIL", str(e)
    except Skipped as e:
        value, status, message = None, "SKIP", str(e)
    except Exception:  # a bug in a check is a failed check, with its traceback
        value, status, message = None, "FAIL", traceback.format_exc()
    seconds = time.monotonic() - started
    RESULTS.append((name, status, message, seconds))
    line = f"{status} {name} ({seconds:.1f}s)"
    if message:
        line += ":\n    " + message.strip().replace("\n", "\n    ")
    print(line, flush=True)
    return value


def expect(problems: list[str]) -> None:
    if problems:
        raise Failed("\n".join(problems))


def run(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=300)


def rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def duration_seconds(text: str) -> float:
    """humantime durations as the gateway's config uses them ("30s", "500ms", "5m", "1h 30m")."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text.strip())
    if not parts:
        raise ValueError(f"not a duration: {text!r}")
    for number, unit in parts:
        if unit not in units:
            raise ValueError(f"unknown unit in {text!r}")
        total += float(number) * units[unit]
    return total


def port_of(addr: str) -> int:
    return int(addr.rsplit(":", 1)[1])


# ------------------------------------------------------------------------------- the code's facts


class Code:
    """What the gateway itself says: default ports, admin paths, the build command."""

    def __init__(self, gateway: str):
        self.gateway = gateway
        empty = WORK / "empty.toml"
        empty.write_text("# built-in defaults\n")
        out = self.check_config(empty, {})
        m = re.search(r"listen (\S+), admin (\S+),", out)
        if not m:
            raise Failed(f"unexpected check-config output: {out!r}")
        self.listen_port = port_of(m.group(1))
        self.admin_port = port_of(m.group(2))
        admin_rs = (ROOT / "src" / "http" / "admin.rs").read_text()
        self.admin_paths = set(re.findall(r'^\s*"(/[a-z]+)"', admin_rs, re.M))
        for path in ("/healthz", "/readyz", "/metrics"):
            if path not in self.admin_paths:
                raise Failed(f"src/http/admin.rs serves no {path} (found {sorted(self.admin_paths)})")

    def check_config(self, path: Path, env: dict[str, str]) -> str:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MASTRA_GATEWAY__")}
        clean.update(env)
        r = run([self.gateway, "--config", str(path), "check-config"], env=clean)
        if r.returncode != 0:
            raise Failed(f"{rel(path)}: check-config failed: {(r.stderr or r.stdout).strip()}")
        return r.stdout.strip()


def env_file(path: Path) -> dict[str, str]:
    """A kustomize/compose env file: KEY=VALUE lines, # comments."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value
    return out


# ------------------------------------------------------------------------------------ checks


def check_yamllint(venv_bin: Path) -> None:
    files = sorted(str(p.relative_to(ROOT)) for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
    files.append("deploy/.yamllint")
    r = run([str(venv_bin / "yamllint"), "-c", "deploy/.yamllint", "-f", "parsable", "--strict", *files])
    if r.returncode != 0:
        raise Failed((r.stdout + r.stderr).strip())
    if len(files) < 10:
        raise Failed(f"only {len(files)} YAML files found under deploy/")


def check_configs(code: Code) -> None:
    """Every config file shipped in deploy/ (and the image's default config.toml)."""
    secrets = env_file(K8S / "base" / "secrets.example.env")
    files = sorted(DEPLOY.rglob("*.toml")) + [ROOT / "config.toml"]
    problems = []
    for f in files:
        try:
            code.check_config(f, secrets)
        except Failed as e:
            problems.append(str(e))
    expect(problems)
    if len(files) < 5:
        raise Failed(f"only {len(files)} config files found")


def render(kubectl: str, name: str) -> list[dict]:
    directory = RENDERS[name]
    if directory is None:
        directory = WORK / "render-gateway-servicemonitor"
        directory.mkdir(parents=True, exist_ok=True)
        overlay = os.path.relpath(K8S / "overlays" / "gateway", directory)
        component = os.path.relpath(K8S / "components" / "servicemonitor", directory)
        (directory / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {overlay}\ncomponents:\n  - {component}\n"
        )
    r = run([kubectl, "kustomize", str(directory)])
    if r.returncode != 0:
        raise Failed(f"kubectl kustomize {rel(directory)}:\n{r.stderr.strip()}")
    (WORK / f"rendered-{name}.yaml").write_text(r.stdout)
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    if not docs:
        raise Failed("rendered nothing")
    return docs


def check_schemas(docs: list[dict]) -> None:
    import kubernetes_validate

    problems = []
    for version in K8S_VERSIONS:
        for d in docs:
            if d["kind"] in CRD_KINDS:
                continue
            try:
                kubernetes_validate.validate(d, version, strict=True)
            except Exception as e:  # ValidationError, SchemaNotFoundError
                msg = getattr(e, "message", None) or str(e)
                where = "/".join(str(p) for p in getattr(e, "path", []))
                problems.append(f"k8s {version}: {d['kind']}/{d['metadata']['name']} {where}: {msg}")
    expect(problems)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_manifests(name: str, docs: list[dict], code: Code) -> None:
    problems: list[str] = []
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    configmaps = {d["metadata"]["name"]: d for d in by_kind(docs, "ConfigMap")}
    secrets = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    services = by_kind(docs, "Service")
    deployments = by_kind(docs, "Deployment")
    gateways = 0

    for dep in deployments:
        dname = f"Deployment/{dep['metadata']['name']}"
        pod = dep["spec"]["template"]
        spec = pod["spec"]
        pod_labels = pod["metadata"].get("labels", {})
        if not selects(dep["spec"]["selector"]["matchLabels"], pod_labels):
            problems.append(f"{dname}: its selector does not match its pod labels")
        psc = spec.get("securityContext", {})
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{dname}: pod seccompProfile is not RuntimeDefault")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v and ("ConfigMap", v["configMap"]["name"]) not in names:
                problems.append(f"{dname}: volume {v['name']} names a missing ConfigMap")
        for c in spec["containers"]:
            cname = f"{dname} container {c['name']}"
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                problems.append(f"{cname}: runAsNonRoot is not set")
            if sc.get("runAsUser", psc.get("runAsUser", 0)) == 0:
                problems.append(f"{cname}: runs as uid 0 (or an unset uid)")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cname}: allowPrivilegeEscalation is not false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cname}: readOnlyRootFilesystem is not true")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{cname}: capabilities do not drop ALL")
            res = c.get("resources", {})
            if not {"cpu", "memory"} <= set(res.get("requests", {})) or "memory" not in res.get("limits", {}):
                problems.append(f"{cname}: needs cpu/memory requests and a memory limit")
            image = c["image"]
            tag = image.rsplit("/", 1)[-1].partition(":")[2]
            if "@sha256:" not in image and (not tag or tag == "latest"):
                problems.append(f"{cname}: image {image!r} is not pinned to a tag")
            for ref in c.get("envFrom", []):
                if "secretRef" in ref and ("Secret", ref["secretRef"]["name"]) not in names:
                    problems.append(f"{cname}: envFrom names a missing Secret")
        gw = [c for c in spec["containers"] if c["name"] == "gateway"]
        if gw:
            gateways += 1
            problems += check_gateway_pod(dname, dep, gw[0], configmaps, secrets, code, services, name)

    if gateways != 1:
        problems.append(f"expected one Deployment with a gateway container, found {gateways}")

    # Services: their selectors find pods, their target ports exist there.
    pods = [(d["metadata"]["name"], d["spec"]["template"]) for d in deployments]
    for svc in services:
        sname = f"Service/{svc['metadata']['name']}"
        matched = [(n, t) for n, t in pods if selects(svc["spec"].get("selector", {}), t["metadata"].get("labels", {}))]
        if not matched:
            problems.append(f"{sname}: its selector matches no pod template")
            continue
        for n, t in matched:
            ports = {p.get("name"): p["containerPort"] for c in t["spec"]["containers"] for p in c.get("ports", [])}
            for p in svc["spec"]["ports"]:
                target = p.get("targetPort", p["port"])
                if isinstance(target, str) and target not in ports:
                    problems.append(f"{sname}: targetPort {target!r} is no named port of Deployment/{n}")
                if target in ("mastra", 4111) and any(c["name"] == "gateway" for c in t["spec"]["containers"]):
                    problems.append(f"{sname}: exposes Mastra's port of a pod the gateway fronts")
    gw_svc = [s for s in services if s["metadata"]["name"] == "mastra-gateway"]
    if len(gw_svc) != 1 or [p.get("targetPort") for p in gw_svc[0]["spec"]["ports"]] != ["http"]:
        problems.append("Service/mastra-gateway must expose exactly the gateway's `http` port")

    for hpa in by_kind(docs, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        targets = [d for d in deployments if d["metadata"]["name"] == ref["name"]]
        if ref["kind"] != "Deployment" or not targets:
            problems.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: scales a missing {ref['kind']}/{ref['name']}")
        elif "replicas" in targets[0]["spec"]:
            problems.append(f"Deployment/{ref['name']}: sets replicas although an HPA owns them")
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        sel = pdb["spec"]["selector"]["matchLabels"]
        if not any(selects(sel, t["metadata"].get("labels", {})) for _, t in pods):
            problems.append(f"PodDisruptionBudget/{pdb['metadata']['name']}: selects no pods")
    for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
        if not by_kind(docs, kind):
            problems.append(f"no {kind}")

    if name.startswith("gateway"):
        problems += check_network_policy(docs)
    if name.endswith("servicemonitor"):
        problems += check_service_monitor(docs, code)
    expect(problems)


def check_gateway_pod(dname, dep, c, configmaps, secrets, code, services, render_name) -> list[str]:
    problems = []
    spec = dep["spec"]["template"]["spec"]
    args = c.get("args", [])
    if "--config" not in args:
        return [f"{dname}: the gateway has no --config argument"]
    config_path = args[args.index("--config") + 1]
    mount = [m for m in c.get("volumeMounts", []) if config_path.startswith(m["mountPath"].rstrip("/") + "/")]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    if not mount or "configMap" not in volumes.get(mount[0]["name"], {}):
        return [f"{dname}: {config_path} is not mounted from a ConfigMap"]
    cm = configmaps[volumes[mount[0]["name"]]["configMap"]["name"]]
    key = config_path[len(mount[0]["mountPath"].rstrip("/")) + 1:]
    text = cm["data"].get(key)
    if text is None:
        return [f"{dname}: the ConfigMap has no {key}"]
    config = tomllib.loads(text)

    # The config as deployed passes check-config, with the environment the Secret gives it.
    env = {}
    for ref in c.get("envFrom", []):
        if "secretRef" in ref:
            data = secrets[ref["secretRef"]["name"]].get("data", {})
            env.update({k: base64.b64decode(v).decode() for k, v in data.items()})
    deployed = WORK / f"deployed-{render_name}.toml"
    deployed.write_text(text)
    try:
        code.check_config(deployed, env)
    except Failed as e:
        problems.append(f"{dname}: {e}")

    server = config.get("server", {})
    listen = port_of(server.get("listen", f"0.0.0.0:{code.listen_port}"))
    admin = port_of(server.get("admin_listen", f"0.0.0.0:{code.admin_port}"))
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if ports.get("http") != listen or ports.get("admin") != admin:
        problems.append(f"{dname}: containerPorts {ports} do not match listen {listen} / admin {admin}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != path or port != admin or path not in code.admin_paths:
            problems.append(f"{dname}: {probe} must GET {path} on the admin port {admin} (has {get})")
    ann = dep["spec"]["template"]["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(admin) or ann.get("prometheus.io/path") != "/metrics":
        problems.append(f"{dname}: prometheus.io annotations must name the admin port {admin} and /metrics")

    # Drain timing: preStop sleep, then server.shutdown_grace, then ~1 s for the final events.
    grace = duration_seconds(server.get("shutdown_grace", "30s"))
    sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds")
    tgps = spec.get("terminationGracePeriodSeconds", 30)
    if not sleep:
        problems.append(f"{dname}: the gateway has no preStop sleep")
    else:
        need = sleep + grace + 1
        if not need <= tgps <= need + 15:
            problems.append(
                f"{dname}: terminationGracePeriodSeconds {tgps} should be preStop {sleep} + shutdown_grace {grace:g} + 1..15 s"
            )
        for other in spec["containers"]:
            if other is c:
                continue
            other_sleep = other.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            if other_sleep < sleep + grace:
                problems.append(
                    f"{dname}: container {other['name']} stops before the gateway has drained (preStop {other_sleep} s < {sleep + grace:g} s)"
                )
            if other_sleep > tgps:
                problems.append(f"{dname}: container {other['name']}'s preStop outlasts terminationGracePeriodSeconds")

    # Upstreams: the pod's own loopback (a sidecar in this pod), or a Service of the render.
    ups = config.get("upstreams") or [config.get("upstream", {})]
    svc_ports = {(s["metadata"]["name"], p["port"]) for s in services for p in s["spec"]["ports"]}
    for u in ups:
        url = u.get("url", "http://127.0.0.1:4111")
        m = re.match(r"https?://([^/:]+):(\d+)", url)
        if not m:
            problems.append(f"{dname}: upstream URL {url} has no explicit host:port")
            continue
        host, port = m.group(1), int(m.group(2))
        if host == "127.0.0.1":
            others = [o for o in spec["containers"] if o is not c]
            declared = {e.get("value") for o in others for e in o.get("env", []) if e["name"] == "PORT"}
            if not others or str(port) not in declared:
                problems.append(f"{dname}: upstream {url} is loopback, but no other container of the pod serves port {port}")
        elif (host, port) not in svc_ports and not (render_name == "base" and host == "mastra"):
            problems.append(f"{dname}: upstream {url} is no Service port of this render")
    if render_name == "gateway" and len(ups) < 2:
        problems.append(f"{dname}: the gateway overlay should front several upstreams ([[upstreams]])")
    return problems


def check_network_policy(docs: list[dict]) -> list[str]:
    problems = []
    policies = by_kind(docs, "NetworkPolicy")
    mastra_pods = [d for d in by_kind(docs, "Deployment") if not any(c["name"] == "gateway" for c in d["spec"]["template"]["spec"]["containers"])]
    gateway_labels = [d["spec"]["template"]["metadata"]["labels"] for d in by_kind(docs, "Deployment") if any(c["name"] == "gateway" for c in d["spec"]["template"]["spec"]["containers"])]
    if not mastra_pods:
        problems.append("no Mastra Deployment")
    for dep in mastra_pods:
        labels = dep["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in policies if selects(p["spec"]["podSelector"].get("matchLabels", {}), labels) and "Ingress" in p["spec"].get("policyTypes", [])]
        if not covering:
            problems.append(f"Deployment/{dep['metadata']['name']}: no NetworkPolicy restricts its ingress")
        for p in covering:
            for rule in p["spec"].get("ingress", []):
                peers = rule.get("from", [])
                if not peers:
                    problems.append(f"NetworkPolicy/{p['metadata']['name']}: an ingress rule admits everyone")
                for peer in peers:
                    sel = peer.get("podSelector", {}).get("matchLabels")
                    if set(peer) != {"podSelector"} or not sel or not all(selects(sel, g) for g in gateway_labels):
                        problems.append(f"NetworkPolicy/{p['metadata']['name']}: admits {peer}, not just the gateway's pods")
                    others = [d for d in by_kind(docs, "Deployment") if d["spec"]["template"]["metadata"]["labels"] not in gateway_labels]
                    if sel and any(selects(sel, o["spec"]["template"]["metadata"]["labels"]) for o in others):
                        problems.append(f"NetworkPolicy/{p['metadata']['name']}: its peer selector matches non-gateway pods")
    return problems


def check_service_monitor(docs: list[dict], code: Code) -> list[str]:
    """The ServiceMonitor CRD by structure: it finds one Service, whose named port is the
    gateway's admin port, at the admin listener's /metrics."""
    problems = []
    monitors = by_kind(docs, "ServiceMonitor")
    if len(monitors) != 1:
        return [f"expected one ServiceMonitor, found {len(monitors)}"]
    sm = monitors[0]
    if sm.get("apiVersion") != "monitoring.coreos.com/v1":
        problems.append(f"ServiceMonitor apiVersion {sm.get('apiVersion')}")
    allowed = {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels"}
    if set(sm["spec"]) - allowed:
        problems.append(f"ServiceMonitor: unexpected spec keys {set(sm['spec']) - allowed}")
    sel = sm["spec"]["selector"].get("matchLabels", {})
    found = [s for s in by_kind(docs, "Service") if selects(sel, s["metadata"].get("labels", {}))]
    if len(found) != 1:
        return problems + [f"ServiceMonitor selects {len(found)} Services, not one"]
    svc = found[0]
    gw = [d for d in by_kind(docs, "Deployment") if any(c["name"] == "gateway" for c in d["spec"]["template"]["spec"]["containers"])][0]
    container = [c for c in gw["spec"]["template"]["spec"]["containers"] if c["name"] == "gateway"][0]
    cports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for ep in sm["spec"]["endpoints"]:
        if set(ep) - {"port", "path", "interval", "scrapeTimeout", "scheme", "relabelings", "metricRelabelings", "honorLabels"}:
            problems.append(f"ServiceMonitor endpoint: unexpected keys {set(ep)}")
        sp = [p for p in svc["spec"]["ports"] if p.get("name") == ep.get("port")]
        if not sp:
            problems.append(f"ServiceMonitor endpoint port {ep.get('port')!r} is no port of Service/{svc['metadata']['name']}")
            continue
        target = sp[0].get("targetPort", sp[0]["port"])
        if cports.get(target, target) != cports.get("admin"):
            problems.append("ServiceMonitor scrapes a port other than the gateway's admin port")
        if ep.get("path", "/metrics") != "/metrics" or "/metrics" not in code.admin_paths:
            problems.append(f"ServiceMonitor path {ep.get('path')} is not the admin /metrics")
        if not re.fullmatch(r"\d+[smh]", ep.get("interval", "30s")):
            problems.append(f"ServiceMonitor interval {ep.get('interval')!r}")
    return problems


# -------------------------------------------------------------------------------- Dockerfiles


def dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """.dockerignore as Docker reads it: the last matching pattern decides; `!` re-includes; a
    pattern matching a directory covers everything under it."""
    out = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pat = line[1:] if negate else line
        pat = os.path.normpath(pat.strip("/"))
        rx = ""
        i = 0
        while i < len(pat):
            if pat.startswith("**", i):
                rx += ".*"
                i += 2
            elif pat[i] == "*":
                rx += "[^/]*"
                i += 1
            elif pat[i] == "?":
                rx += "[^/]"
                i += 1
            else:
                rx += re.escape(pat[i])
                i += 1
        out.append((negate, re.compile(rx + "$")))
    return out


def excluded(path: str, patterns) -> bool:
    parts = path.split("/")
    result = False
    for negate, rx in patterns:
        # A pattern matches the path or one of its parent directories.
        if any(rx.match("/".join(parts[: i + 1])) for i in range(len(parts))):
            result = not negate
    return result


def git_files() -> list[str]:
    """The repo's files (tracked and untracked, not ignored); outside a git checkout (an
    exported tree), the files on disk but for .git, target and node_modules."""
    r = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"])
    if r.returncode == 0 and (ROOT / ".git").exists():
        return [f for f in r.stdout.split("\0") if f and (ROOT / f).exists()]
    out = []
    for d, dirs, names in os.walk(ROOT):
        dirs[:] = [x for x in dirs if x not in (".git", "target", "node_modules")]
        out += [os.path.relpath(os.path.join(d, n), ROOT) for n in names]
    return out


def image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(tag) and tag != "latest"


def parse_dockerfile(path: Path):
    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(path=str(path))
    stages: list[dict] = []
    global_args = {}
    for ins in parser.structure:
        op, value = ins["instruction"], ins["value"]
        if op == "FROM":
            words = value.split()
            stages.append({"image": words[0], "name": words[2] if len(words) >= 3 and words[1].upper() == "AS" else None, "ins": []})
        elif not stages:
            if op == "ARG":
                k, _, v = value.partition("=")
                global_args[k] = v
        else:
            stages[-1]["ins"].append((op, value))
    return stages, global_args


def check_copy_sources(stages, label: str) -> list[str]:
    problems = []
    files = git_files()
    patterns = dockerignore_patterns()
    stage_names = [s["name"] for s in stages if s["name"]]
    for s in stages:
        for op, value in s["ins"]:
            if op not in ("COPY", "ADD"):
                continue
            words = value.split()
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            if any(f.startswith("--from=") for f in flags):
                src_stage = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")][0]
                if src_stage not in stage_names:
                    problems.append(f"{label}: COPY --from={src_stage} names no stage")
                continue
            for src in paths[:-1]:
                src = os.path.normpath(src)
                matching = [f for f in files if src == "." or f == src or f.startswith(src + "/")]
                if not matching:
                    problems.append(f"{label}: COPY source {src} does not exist in the repo")
                    continue
                sent = [f for f in matching if not excluded(f, patterns)]
                if not sent:
                    problems.append(f"{label}: COPY source {src} is excluded by .dockerignore")
                elif src in files and excluded(src, patterns):
                    problems.append(f"{label}: {src} is excluded by .dockerignore")
    return problems


def check_gateway_dockerfile(code: Code) -> None:
    path = DEPLOY / "Dockerfile"
    stages, global_args = parse_dockerfile(path)
    problems = []
    if len(stages) < 2:
        raise Failed("deploy/Dockerfile must be multi-stage")
    for s in stages:
        if not image_pinned(s["image"]):
            problems.append(f"base image {s['image']} is not pinned to a tag or digest")
    build, final = stages[0], stages[-1]

    # The builder's RUN steps are exactly the one build command, and CI runs the same script.
    runs = [re.sub(r"--mount=\S+\s*", "", v).strip() for op, v in build["ins"] if op == "RUN"]
    if runs != ['sh deploy/build.sh "$PROFILE"']:
        problems.append(f"the builder's RUN steps must be exactly `sh deploy/build.sh \"$PROFILE\"`, not {runs}")
    run_all = (ROOT / "tests" / "run-all.sh").read_text()
    if not re.search(r'^setup_step "cargo build" sh deploy/build\.sh release\b', run_all, re.M):
        problems.append("tests/run-all.sh does not build with `sh deploy/build.sh release`")
    build_sh = (DEPLOY / "build.sh").read_text()
    if 'cargo build --locked --profile "$profile" --bin mastra-gateway' not in build_sh:
        problems.append("deploy/build.sh no longer runs `cargo build --locked --profile ...`")
    if global_args.get("PROFILE") not in ("release", "dist"):
        problems.append(f"ARG PROFILE={global_args.get('PROFILE')!r}: release or dist")
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    if global_args.get("PROFILE") not in ("release", None) and global_args.get("PROFILE") not in cargo.get("profile", {}):
        problems.append(f"Cargo.toml has no [profile.{global_args.get('PROFILE')}]")
    m = re.match(r"rust:(\d+)\.(\d+)", build["image"])
    need = tuple(int(x) for x in cargo["package"]["rust-version"].split(".")[:2])
    if not m or (int(m.group(1)), int(m.group(2))) < need:
        problems.append(f"builder image {build['image']} is older than rust-version {cargo['package']['rust-version']}")

    ins = dict()
    for op, v in final["ins"]:
        ins.setdefault(op, []).append(v)
    user = (ins.get("USER") or ["root"])[-1].split(":")[0]
    if not user.isdigit() or int(user) == 0:
        problems.append(f"USER {user!r} must be a numeric non-root uid (Kubernetes' runAsNonRoot checks it)")
    copies_from = [v for v in ins.get("COPY", []) if "--from=" in v]
    if copies_from != ["--from=build /src/target/${PROFILE}/mastra-gateway /usr/local/bin/mastra-gateway"]:
        problems.append(f"the runtime stage must copy only the binary built by deploy/build.sh, has {copies_from}")
    other = [v for v in ins.get("COPY", []) if "--from=" not in v]
    if other != ["config.toml /etc/mastra-gateway/config.toml"]:
        problems.append(f"the runtime stage copies {other}: only the binary and the default config")
    if ins.get("WORKDIR", [""])[-1] != "/etc/mastra-gateway":
        problems.append("WORKDIR must be the default config's directory (the health check reads ./config.toml)")
    hc = " ".join(ins.get("HEALTHCHECK", []))
    if '"/usr/local/bin/mastra-gateway", "healthcheck"' not in hc:
        problems.append(f"HEALTHCHECK must run `mastra-gateway healthcheck`: {hc!r}")
    expose = sorted(int(p.split("/")[0]) for v in ins.get("EXPOSE", []) for p in v.split())
    if expose != sorted([code.listen_port, code.admin_port]):
        problems.append(f"EXPOSE {expose} is not the default listen/admin ports {code.listen_port}/{code.admin_port}")
    if ins.get("ENTRYPOINT") != ['["/usr/local/bin/mastra-gateway"]']:
        problems.append(f"ENTRYPOINT {ins.get('ENTRYPOINT')}")
    problems += check_copy_sources(stages, "deploy/Dockerfile")
    problems += check_build_context(cargo)
    expect(problems)


def check_build_context(cargo: dict) -> list[str]:
    """The builder copies the context (`COPY . .`): it must hold every target Cargo.toml
    declares (cargo refuses a manifest whose explicit targets are missing, even for
    `cargo build --bin`) and the build script, and leave out the bulky or private rest."""
    problems = []
    patterns = dockerignore_patterns()
    files = set(git_files())
    needed = ["Cargo.toml", "Cargo.lock", "deploy/build.sh", cargo.get("lib", {}).get("path", "src/lib.rs")]
    if "build" in cargo.get("package", {}) or "build.rs" in files:
        needed.append(cargo["package"].get("build", "build.rs"))
    defaults = {"bin": "src/bin/{}.rs", "bench": "benches/{}.rs", "test": "tests/{}.rs", "example": "examples/{}.rs"}
    for kind, default in defaults.items():
        for target in cargo.get(kind, []):
            path = target.get("path")
            if not path:
                path = default.format(target["name"])
                if kind == "bin" and target["name"] == cargo["package"]["name"]:
                    path = "src/main.rs"
                if path not in files:
                    path = path[: -len(".rs")] + "/main.rs"
            needed.append(path)
    for path in needed:
        if path not in files:
            problems.append(f"Cargo.toml needs {path}, which is not in the repo")
        elif excluded(path, patterns):
            problems.append(f".dockerignore leaves {path} out of the build context, and the build needs it")
    for path in (".git/config", "target/release/mastra-gateway", "tests/fixtures/mastra/node_modules/x/index.js",
                 "bench/results/x.json", "tests/run-all.sh"):
        if not excluded(path, patterns):
            problems.append(f".dockerignore lets {path} into the build context")
    return problems


def check_build_context_loads() -> None:
    """The builder's context, as .dockerignore makes it, is enough for cargo: it is copied to
    target/deploy-check/context and cargo loads the package and resolves the lock file there
    (`cargo fetch --locked`)."""
    import shutil

    ctx = WORK / "context"
    shutil.rmtree(ctx, ignore_errors=True)
    patterns = dockerignore_patterns()
    sent = [f for f in git_files() if not excluded(f, patterns) and (ROOT / f).is_file()]
    for f in sent:
        (ctx / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, ctx / f)
    if len(sent) > 500:
        raise Failed(f"the build context has {len(sent)} files: is .dockerignore letting in too much?")
    host = re.search(r"^host: (\S+)", run(["rustc", "-vV"]).stdout, re.M).group(1)
    # `cargo fetch` loads the manifest as a build does (every declared target must exist) and
    # resolves the lock file; it downloads only what the cache lacks (the tests' dev-dependencies
    # on a fresh machine, which `cargo test` fetches anyway).
    r = run(["cargo", "fetch", "--locked", "--target", host, "--manifest-path", str(ctx / "Cargo.toml")])
    if r.returncode != 0:
        raise Failed(f"cargo cannot load the Docker build context ({len(sent)} files):\n{r.stderr.strip()}")
    if not (ctx / "deploy" / "build.sh").is_file() or not (ctx / "config.toml").is_file():
        raise Failed("deploy/build.sh or config.toml is not in the build context")


def check_mastra_dockerfile() -> None:
    path = DEPLOY / "mastra-demo.Dockerfile"
    stages, _ = parse_dockerfile(path)
    problems = []
    for s in stages:
        if not image_pinned(s["image"]):
            problems.append(f"base image {s['image']} is not pinned")
    final = stages[-1]
    users = [v for op, v in final["ins"] if op == "USER"]
    if not users or not users[-1].split(":")[0].isdigit() or users[-1].split(":")[0] == "0":
        problems.append("the demo Mastra must run as a numeric non-root USER")
    # The node image satisfies the fixture's packages' engines.
    lock = json.loads((ROOT / "tests" / "fixtures" / "mastra" / "package-lock.json").read_text())
    need = (0, 0, 0)
    for meta in lock.get("packages", {}).values():
        m = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)", meta.get("engines", {}).get("node", "") if isinstance(meta.get("engines"), dict) else "")
        if m:
            need = max(need, tuple(int(x) for x in m.groups()))
    m = re.match(r"node:(\d+)\.(\d+)\.(\d+)", stages[0]["image"])
    if not m or tuple(int(x) for x in m.groups()) < need:
        problems.append(f"{stages[0]['image']} is older than the packages' engines.node >= {'.'.join(map(str, need))}")
    cmd = [v for op, v in final["ins"] if op == "CMD"]
    if not cmd or '"--port", "4111"' not in cmd[-1] or '"--host", "0.0.0.0"' not in cmd[-1]:
        problems.append(f"CMD must serve --port 4111 --host 0.0.0.0: {cmd}")
    problems += check_copy_sources(stages, "deploy/mastra-demo.Dockerfile")
    expect(problems)


# ----------------------------------------------------------------------------------- compose


def check_compose_schema(venv_bin: Path) -> None:
    r = run([str(venv_bin / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "deploy/compose.yaml"])
    if r.returncode != 0:
        raise Failed((r.stdout + r.stderr).strip())


def check_compose_vs_code(code: Code) -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    problems = []
    for name, svc in services.items():
        build = svc.get("build", {})
        context = (DEPLOY / build.get("context", ".")).resolve()
        if not (context / build.get("dockerfile", "Dockerfile")).is_file():
            problems.append(f"{name}: build dockerfile {build.get('dockerfile')} not found in {rel(context)}")
        if not image_pinned(svc.get("image", "")):
            problems.append(f"{name}: image {svc.get('image')!r} has no tag")
    gw, mastra = services["gateway"], services["mastra"]

    # The gateway's config file is the one mounted where --config points.
    cmd = gw["command"]
    config_target = cmd[cmd.index("--config") + 1]
    mounts = [v for v in gw.get("volumes", []) if v.get("target") == config_target]
    if not mounts:
        raise Failed(f"gateway: --config {config_target} is not mounted")
    config_file = (DEPLOY / mounts[0]["source"]).resolve()
    if not config_file.is_file():
        raise Failed(f"gateway: {mounts[0]['source']} does not exist")
    config = tomllib.loads(config_file.read_text())
    code.check_config(config_file, {})
    listen = port_of(config.get("server", {}).get("listen", f":{code.listen_port}"))
    admin = port_of(config.get("server", {}).get("admin_listen", f":{code.admin_port}"))
    if (listen, admin) != (code.listen_port, code.admin_port):
        problems.append(f"gateway: ports {listen}/{admin} differ from the defaults {code.listen_port}/{code.admin_port} (image EXPOSE, README)")
    published = {}
    for p in gw.get("ports", []):
        parts = str(p).split(":")
        published[int(parts[-1])] = parts
        if len(parts) != 3 or parts[0] != "127.0.0.1":
            problems.append(f"gateway: port {p} should be published on 127.0.0.1 only (an open gateway)")
    if set(published) != {listen, admin}:
        problems.append(f"gateway: publishes container ports {sorted(published)}, the config listens on {listen} and {admin}")
    test = gw.get("healthcheck", {}).get("test", [])
    url = test[test.index("--url") + 1] if "--url" in test else ""
    m = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/\w+)", url)
    if test[:3] != ["CMD", "/usr/local/bin/mastra-gateway", "healthcheck"] or not m:
        problems.append(f"gateway: healthcheck must run the healthcheck subcommand with a --url: {test}")
    elif int(m.group(1)) != admin or m.group(2) != "/healthz" or m.group(2) not in code.admin_paths:
        problems.append(f"gateway: healthcheck {url} is not the admin listener's /healthz (:{admin})")
    grace = duration_seconds(config.get("server", {}).get("shutdown_grace", "30s"))
    if duration_seconds(gw.get("stop_grace_period", "10s")) < grace + 1:
        problems.append(f"gateway: stop_grace_period is shorter than shutdown_grace {grace:g}s + 1s")
    if gw.get("depends_on", {}).get("mastra", {}).get("condition") != "service_healthy":
        problems.append("gateway: should wait for a healthy mastra")

    # The upstream is the mastra service, on the port its command serves.
    um = re.fullmatch(r"http://([\w-]+):(\d+)/?", config.get("upstream", {}).get("url", ""))
    mcmd = mastra.get("command", [])
    mport = int(mcmd[mcmd.index("--port") + 1]) if "--port" in mcmd else None
    if not um or um.group(1) not in services or int(um.group(2)) != mport:
        problems.append(f"gateway upstream {config.get('upstream', {}).get('url')} is not the mastra service's --port {mport}")
    if "--host" not in mcmd or mcmd[mcmd.index("--host") + 1] != "0.0.0.0":
        problems.append("mastra: must listen on 0.0.0.0 (--host) to be reachable from the gateway")
    if str(mport) not in [str(e) for e in mastra.get("expose", [])]:
        problems.append(f"mastra: does not expose {mport}")
    mtest = " ".join(mastra.get("healthcheck", {}).get("test", []))
    if f"127.0.0.1:{mport}/health" not in mtest:
        problems.append(f"mastra: healthcheck does not ask 127.0.0.1:{mport}/health")
    server_mjs = (ROOT / "tests" / "fixtures" / "mastra" / "server.mjs").read_text()
    if "arg('host')" not in server_mjs or "app.get('/health'" not in server_mjs:
        problems.append("tests/fixtures/mastra/server.mjs has no --host option or /health route")
    expect(problems)


# ---------------------------------------------------------------------------------- promtool


def check_promtool_rules(promtool: str | None) -> None:
    if not promtool:
        raise Skipped("promtool not installed (.ci/run installs Debian's prometheus package)")
    r = run([promtool, "check", "rules", "deploy/prometheus/alerts.yaml"])
    if r.returncode != 0 or "SUCCESS" not in r.stdout:
        raise Failed((r.stdout + r.stderr).strip())


def check_promtool_tests(promtool: str | None) -> None:
    if not promtool:
        raise Skipped("promtool not installed")
    r = run([promtool, "test", "rules", "deploy/prometheus/alerts.test.yaml"])
    if r.returncode != 0:
        raise Failed((r.stdout + r.stderr).strip())


def dashboard_exprs(dash: dict) -> list[str]:
    out = []
    for p in dash["panels"]:
        out += [t["expr"] for t in p.get("targets", []) if "expr" in t]
    return out


def check_dashboard_promql(promtool: str | None) -> None:
    """Every dashboard query, with Grafana's variables filled in, is valid PromQL (promtool
    parses it as a recording rule)."""
    if not promtool:
        raise Skipped("promtool not installed")
    dash = json.loads((DEPLOY / "grafana" / "mastra-gateway.json").read_text())
    rules = []
    for i, expr in enumerate(dashboard_exprs(dash)):
        e = expr.replace("$__rate_interval", "5m").replace("$job", ".*")
        rules.append({"record": f"dashboard:query_{i}", "expr": e})
    if len(rules) < 15:
        raise Failed(f"only {len(rules)} queries found")
    f = WORK / "dashboard-queries.rules.yaml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    r = run([promtool, "check", "rules", str(f)])
    if r.returncode != 0:
        raise Failed((r.stdout + r.stderr).strip())


def check_rules_structure() -> None:
    """The rule file's shape (also without promtool): alerts with for, severity, summary."""
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    problems = []
    alerts = [r for g in doc["groups"] for r in g["rules"]]
    names = [a.get("alert") for a in alerts]
    if len(set(names)) != len(names) or None in names:
        problems.append(f"alert names must be unique and set: {names}")
    for a in alerts:
        if a.get("labels", {}).get("severity") not in ("info", "warning", "critical"):
            problems.append(f"{a.get('alert')}: severity label")
        if not a.get("annotations", {}).get("summary") or not a.get("for"):
            problems.append(f"{a.get('alert')}: needs `for` and a summary")
    covered = " ".join(a["expr"] for a in alerts)
    for need in ('status=~"5.."', "mastra_gateway_overhead_seconds_bucket", "mastra_gateway_upstream_up", "mastra_gateway_open_streams"):
        if need not in covered:
            problems.append(f"no alert over {need} (error ratio, overhead, upstream down, saturation)")
    expect(problems)


def check_dashboard_structure() -> None:
    dash = json.loads((DEPLOY / "grafana" / "mastra-gateway.json").read_text())
    problems = []
    if not dash.get("uid") or not dash.get("title"):
        problems.append("uid and title are required")
    ids = [p["id"] for p in dash["panels"]]
    if len(set(ids)) != len(ids):
        problems.append("panel ids are not unique")
    variables = {v["name"] for v in dash["templating"]["list"]}
    cells = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problems.append(f"panel {p['id']} ({p['title']}) overlaps another")
                    break
                cells.add((x, y))
        if g["x"] + g["w"] > 24:
            problems.append(f"panel {p['id']} is wider than the grid")
        if p["type"] == "row":
            continue
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {p['id']}: datasource is not ${{datasource}}")
        if not p.get("targets"):
            problems.append(f"panel {p['id']}: no queries")
        for t in p.get("targets", []):
            for var in re.findall(r"\$(?!__)(\w+)", t.get("expr", "")):
                if var not in variables:
                    problems.append(f"panel {p['id']}: ${var} is no dashboard variable")
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("requests", "error", "duration", "overhead", "first token", "open streams", "rate-limited", "cache hit", "upstream health"):
        if topic not in titles:
            problems.append(f"no panel about {topic!r}")
    expect(problems)


# ------------------------------------------------------------------------------------- main


def write_junit(path: Path) -> None:
    suite = ET.Element("testsuite", name="deploy-checks", tests=str(len(RESULTS)),
                       failures=str(sum(1 for r in RESULTS if r[1] == "FAIL")), errors="0",
                       skipped=str(sum(1 for r in RESULTS if r[1] == "SKIP")),
                       time=f"{sum(r[3] for r in RESULTS):.2f}")
    for name, status, message, seconds in RESULTS:
        case = ET.SubElement(suite, "testcase", classname="deploy", name=name, time=f"{seconds:.2f}")
        if status == "FAIL":
            ET.SubElement(case, "failure", message=message.splitlines()[0] if message else "failed").text = message
        elif status == "SKIP":
            ET.SubElement(case, "skipped", message=message)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--promtool")
    ap.add_argument("--junit")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    venv_bin = Path(sys.executable).parent

    code = check("gateway facts (default ports, admin paths)", Code, a.gateway)
    check("yamllint deploy/", check_yamllint, venv_bin)
    if code:
        check("check-config: every config file in deploy/ and config.toml", check_configs, code)
    for name in RENDERS:
        docs = check(f"kustomize render {name}", render, a.kubectl, name)
        if docs is None:
            continue
        check(f"kubernetes schemas {name} (strict; k8s {', '.join(K8S_VERSIONS)})", check_schemas, docs)
        if code:
            check(f"manifests {name} (probes, ports, drain timing, security, references)", check_manifests, name, docs, code)
    if code:
        check("deploy/Dockerfile (build step = CI's, non-root, healthcheck, pinned, COPY sources)", check_gateway_dockerfile, code)
    check("Docker build context: cargo loads it (--locked)", check_build_context_loads)
    check("deploy/mastra-demo.Dockerfile", check_mastra_dockerfile)
    check("compose schema (compose-spec)", check_compose_schema, venv_bin)
    if code:
        check("compose vs code (ports, paths, config)", check_compose_vs_code, code)
    check("alert rules structure", check_rules_structure)
    check("promtool check rules", check_promtool_rules, a.promtool)
    check("promtool test rules", check_promtool_tests, a.promtool)
    check("dashboard structure", check_dashboard_structure)
    check("dashboard queries parse (promtool)", check_dashboard_promql, a.promtool)

    passed = sum(1 for r in RESULTS if r[1] == "PASS")
    failed = sum(1 for r in RESULTS if r[1] == "FAIL")
    skipped = sum(1 for r in RESULTS if r[1] == "SKIP")
    if a.junit:
        write_junit(Path(a.junit))
    print(f"deploy-checks: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
