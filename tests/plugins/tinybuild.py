"""Just enough of a PEP 517 backend to build a pure-Python test plugin offline: the
top-level modules listed in ``[tool.tinybuild] modules`` and the project's entry points.
Copied beside a plugin's ``pyproject.toml`` (``backend-path = ["."]``) by the tests."""
import base64, hashlib, os, tomllib, zipfile


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("pyproject.toml", "rb") as fh:
        pyproject = tomllib.load(fh)
    project = pyproject["project"]
    name, version = project["name"].replace("-", "_"), project["version"]
    info = f"{name}-{version}.dist-info"
    files = {}
    for module in pyproject["tool"]["tinybuild"]["modules"]:
        with open(module + ".py", "rb") as fh:
            files[module + ".py"] = fh.read()
    files[info + "/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {version}\n").encode()
    files[info + "/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: tinybuild\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    files[info + "/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for group, eps in project.get("entry-points", {}).items()).encode()
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[info + "/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel
