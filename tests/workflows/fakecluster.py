"""A fake container toolchain for the deploy workflow's act test: `docker`, `kind`, `kubectl`.

No Docker daemon or Kubernetes cluster is available here, so the shims in `shims/` run this
file. It keeps honest state in $FAKE_CLUSTER_DIR/state.json and records every call in
calls.jsonl, and it refuses what the real tools would refuse:

- docker: `build` reads the real build context BentoML prepared (Dockerfile, bento.yaml,
  the model files, whose MD5s it records); `push` needs a `login` to that registry and an
  image built under that tag.
- kind: `create cluster`; `load docker-image` needs the cluster and a built image.
- kubectl: the context is the kind cluster (or `current-context:` of $KUBECONFIG); `apply`
  refuses a document without apiVersion, kind or metadata.name, keeps Secrets (an image pull
  secret must hold valid dockerconfigjson) and records a new revision of the Deployment;
  `rollout status` fails (as an image pull would) unless the image was loaded into kind, or
  pushed and either public (state "public"), on the nodes already (it rolled out there
  before: context "cached") or pullable with a secret the Deployment names
  in imagePullSecrets holding credentials for its registry (new GHCR packages are private;
  a named secret that does not exist only makes the pull anonymous); `rollout undo`
  returns to the previous revision; `port-forward` runs the pod: the image's bento served
  with the real `bentoml serve` on 127.0.0.1. A pod of an image matching
  $FAKE_CLUSTER_BROKEN starts and answers its probes but fails every prediction (what a
  smoke test is there to catch).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shutil
import sys
from pathlib import Path

DEPLOYMENT = "model-service"


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


FOLDER = Path(os.environ.get("FAKE_CLUSTER_DIR") or fail("fakecluster: set FAKE_CLUSTER_DIR"))
STATE_FILE = FOLDER / "state.json"


def load() -> dict:
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return {"logins": {}, "images": {}, "pushed": [], "clusters": {}, "contexts": {}}


def save(state: dict) -> None:
    STATE_FILE.write_text(json.dumps(state, indent=1))


def option(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def options(args: list[str], *names: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg in names]


def registry_of(image: str) -> str:
    first = image.split("/", 1)[0]
    return first if "/" in image and ("." in first or ":" in first) else "docker.io"


# --------------------------------------------------------------------------- docker
def docker(args: list[str], state: dict) -> None:
    if args[:1] == ["version"]:
        print('"27.3.1"')
    elif args[:1] == ["login"]:
        registry = next((a for a in args[1:] if not a.startswith("-")), "docker.io")
        user = option(args, "--username", "-u")
        password = sys.stdin.read().strip() if "--password-stdin" in args else ""
        if not user or not password:
            fail("Error: Cannot perform an interactive login from a non TTY device")
        state["logins"][registry] = user  # never the password
        print("Login Succeeded")
    elif args[:1] == ["build"] or args[:2] == ["buildx", "build"]:
        docker_build(args, state)
    elif args[:1] == ["push"]:
        tag = args[1]
        if tag not in state["images"]:
            fail(f"An image does not exist locally with the tag: {tag}")
        if registry_of(tag) not in state["logins"]:
            fail(f"unauthorized: not logged in to {registry_of(tag)}")
        state["pushed"].append(tag)
        digest = hashlib.sha256(json.dumps(state["images"][tag]).encode()).hexdigest()
        print(f"{tag.rsplit(':', 1)[1]}: digest: sha256:{digest} size: 1234")
    else:
        fail(f"docker shim: unsupported command {args}", 2)


def docker_build(args: list[str], state: dict) -> None:
    import yaml

    context = Path(args[-1])
    dockerfile = Path(option(args, "--file", "-f") or context / "Dockerfile")
    if not dockerfile.is_file() or "FROM " not in dockerfile.read_text():
        fail(f"ERROR: failed to read dockerfile: {dockerfile}")
    bento = yaml.safe_load((context / "bento.yaml").read_text())
    models = {
        str(path.relative_to(context)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(context.glob("models/**/*"))
        if path.is_file() and path.name not in {"model.yaml", "latest"}  # BentoML's metadata
    }
    tags = options(args, "-t", "--tag")
    if not tags:
        fail("docker shim: build without a tag")
    for tag in tags:
        state["images"][tag] = {
            "bento": f"{bento['name']}:{bento['version']}",
            "models": models,
            "has_service_source": (context / "src" / "mlops" / "serving" / "service.py").is_file(),
        }
        print(f"naming to {tag} done")


# --------------------------------------------------------------------------- kind
def kind(args: list[str], state: dict) -> None:
    name = option(args, "--name") or "kind"
    if args[:2] == ["create", "cluster"]:
        if name in state["clusters"]:
            fail(f'ERROR: failed to create cluster: node(s) already exist for a cluster "{name}"')
        state["clusters"][name] = {"loaded": []}
        state["contexts"][f"kind-{name}"] = {}
        state["current_context"] = f"kind-{name}"
        print(f'Set kubectl context to "kind-{name}"')
    elif args[:2] == ["load", "docker-image"]:
        if name not in state["clusters"]:
            fail(f'ERROR: no nodes found for cluster "{name}"')
        for image in (a for a in args[2:] if not a.startswith("-") and a != name):
            if image not in state["images"]:
                fail(f'ERROR: image: "{image}" not present locally')
            state["clusters"][name]["loaded"].append(image)
            print(f'Image: "{image}" with ID "sha256:..." not yet present on node, loading...')
    elif args[:1] == ["version"]:
        print("kind v0.26.0 (fake)")
    else:
        fail(f"kind shim: unsupported command {args}", 2)


# --------------------------------------------------------------------------- kubectl
def context_of(state: dict) -> tuple[str, dict]:
    name = state.get("current_context")
    kubeconfig = os.environ.get("KUBECONFIG")
    if kubeconfig and Path(kubeconfig).is_file():
        for line in Path(kubeconfig).read_text().splitlines():
            if line.startswith("current-context:"):
                name = line.split(":", 1)[1].strip()
    if not name or name not in state["contexts"]:
        fail("The connection to the server localhost:8080 was refused - did you specify the "
             f"right host or port? (fake cluster: no context {name!r})")  # fmt: skip
    return name, state["contexts"][name]


def current_image(cluster: dict) -> str | None:
    deployment = cluster.get(DEPLOYMENT)
    return deployment["revisions"][deployment["current"]] if deployment else None


def new_revision(cluster: dict, image: str) -> None:
    deployment = cluster.setdefault(DEPLOYMENT, {"revisions": [], "current": 0})
    deployment["revisions"].append(image)
    deployment["current"] = len(deployment["revisions"]) - 1


def available(image: str, context: str, state: dict) -> str | None:
    """Why the cluster's nodes cannot get the image (None: they can): loaded into kind, or
    pushed to a registry and public or pulled with credentials of the Deployment's secrets."""
    kind_name = context.removeprefix("kind-") if context.startswith("kind-") else None
    if kind_name in state["clusters"] and image in state["clusters"][kind_name]["loaded"]:
        return None
    if image not in state["pushed"]:
        return f"{image} is neither loaded into kind nor pushed"
    cluster = state["contexts"][context]
    if image in state.get("public", []) or image in cluster.get("cached", []):
        return None  # public, or already on the nodes (it ran here before)
    secrets = cluster.get("secrets", {})
    names = cluster.get(DEPLOYMENT, {}).get("pull_secrets", [])
    if any(registry_of(image) in secrets.get(name, {}).get("registries", []) for name in names):
        return None
    return f"{image} is private and no image pull secret in {names} has credentials for it"


def kubectl(args: list[str], state: dict) -> None:
    context, cluster = context_of(state)
    if args[:1] == ["get"]:
        image = current_image(cluster)
        if args[1] != f"deployment/{DEPLOYMENT}" or image is None:
            fail(f'Error from server (NotFound): deployments.apps "{args[1]}" not found')
        print(image, end="")
    elif args[:1] == ["apply"]:
        kubectl_apply(sys.stdin.read(), cluster)
    elif args[:2] == ["rollout", "status"]:
        image = current_image(cluster)
        if image is None:
            fail(f'Error from server (NotFound): deployments.apps "{DEPLOYMENT}" not found')
        why = available(image, context, state)
        if why:
            fail(f'error: deployment "{DEPLOYMENT}" exceeded its progress deadline '
                 f"(ErrImagePull: {why})")  # fmt: skip
        cluster.setdefault("cached", []).append(image)
        print(f'deployment "{DEPLOYMENT}" successfully rolled out')
    elif args[:2] == ["rollout", "undo"]:
        deployment = cluster.get(DEPLOYMENT)
        if not deployment or deployment["current"] == 0:
            fail(f'error: no rollout history found for deployment "{DEPLOYMENT}"')
        new_revision(cluster, deployment["revisions"][deployment["current"] - 1])
        print(f"deployment.apps/{DEPLOYMENT} rolled back")
    elif args[:1] == ["port-forward"]:
        port_forward(args, cluster, state)
    else:
        fail(f"kubectl shim: unsupported command {args}", 2)


def kubectl_apply(manifests: str, cluster: dict) -> None:
    import base64

    import yaml

    documents = [doc for doc in yaml.safe_load_all(manifests) if doc]
    for doc in documents:
        missing = [k for k in ("apiVersion", "kind") if not doc.get(k)]
        if missing or not (doc.get("metadata") or {}).get("name"):
            unset = ", ".join(f"{k} not set" for k in missing) or "metadata.name not set"
            fail(f"error: error validating data: [{unset}]")
    for doc in (d for d in documents if d["kind"] == "Secret"):
        registries = []
        if doc.get("type") == "kubernetes.io/dockerconfigjson":
            try:
                config = json.loads(base64.b64decode(doc["data"][".dockerconfigjson"]))
                registries = sorted(config["auths"])
            except (KeyError, TypeError, ValueError):
                fail(f'The Secret "{doc["metadata"]["name"]}" is invalid: '
                     'data[.dockerconfigjson]: Invalid value: invalid character')  # fmt: skip
        cluster.setdefault("secrets", {})[doc["metadata"]["name"]] = {"registries": registries}
        print(f"secret/{doc['metadata']['name']} configured")
    kinds = {doc["kind"]: doc for doc in documents if doc["kind"] != "Secret"}
    if not kinds:
        return
    if "Deployment" not in kinds or kinds["Deployment"]["metadata"]["name"] != DEPLOYMENT:
        fail(f"kubectl shim: the manifests have no Deployment {DEPLOYMENT}")
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    image = next(c["image"] for c in pod["containers"] if c["name"] == "service")
    cluster["manifests"] = sorted(kinds)
    if current_image(cluster) == image:
        print(f"deployment.apps/{DEPLOYMENT} unchanged")
    else:
        new_revision(cluster, image)
        print(f"deployment.apps/{DEPLOYMENT} configured")
    cluster[DEPLOYMENT]["pull_secrets"] = [s["name"] for s in pod.get("imagePullSecrets", [])]
    for kind_name in sorted(set(kinds) - {"Deployment"}):
        print(f"{kind_name.lower()}/{DEPLOYMENT} configured")


def port_forward(args: list[str], cluster: dict, state: dict) -> None:
    target = next(a for a in args[1:] if a.startswith("service/"))
    local, _, remote = next(a for a in args if ":" in a and a.split(":")[0].isdigit()).partition(
        ":"
    )
    address = option(args, "--address") or "127.0.0.1"
    image = current_image(cluster)
    if target != f"service/{DEPLOYMENT}" or image is None or remote != "80":
        fail(f'error: services "{target}" not found (or port {remote} is not the service port)')
    print(f"Forwarding from {address}:{local} -> 3000 (pod of {image})", flush=True)
    broken = os.environ.get("FAKE_CLUSTER_BROKEN")
    if broken and broken in image:
        serve_broken(address, int(local))
    bento = state["images"][image]["bento"]
    bentoml = shutil.which("bentoml") or fail("kubectl shim: bentoml is not on PATH")
    os.environ["MLOPS_PREDICTION_LOG"] = str(FOLDER / "pod-predictions")
    os.execv(bentoml, [bentoml, "serve", bento, "--host", address, "--port", local])


def serve_broken(address: str, port: int) -> None:
    """A pod whose probes pass but whose model fails: every prediction is a 500."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self, code: int, text: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(text.encode())

        def do_GET(self) -> None:
            self.answer(200 if self.path in ("/livez", "/readyz") else 404, "ok")

        def do_POST(self) -> None:
            self.answer(500, "model failed to load")

        def log_message(self, *args: object) -> None:
            pass

    http.server.HTTPServer((address, port), Handler).serve_forever()


TOOLS = {"docker": docker, "kind": kind, "kubectl": kubectl}

if __name__ == "__main__":
    tool, args = sys.argv[1], sys.argv[2:]
    FOLDER.mkdir(parents=True, exist_ok=True)
    with (FOLDER / "calls.jsonl").open("a") as calls:
        calls.write(json.dumps({"tool": tool, "args": args}) + "\n")
    state = load()
    try:
        TOOLS[tool](args, state)
    finally:
        if not (tool == "kubectl" and args[:1] == ["port-forward"]):
            save(state)
