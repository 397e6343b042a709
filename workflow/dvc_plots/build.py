"""Build the offline page template for `dvc plots show/diff` (`make plots-template`).

DVC's default page loads Vega, Vega-Lite and Vega-Embed from a CDN, so without internet the page
is blank. This script fetches the pinned npm packages with `npm pack`, checks each tarball against
the integrity npm recorded in `vendor.json`, and writes `offline.html`: DVC's page with the three
minified builds inlined. `.dvc/config` points `plots.html_template` at it; `vendor.json` keeps
each inlined script's SHA-256 (tests/test_dvc_plots_offline.py checks the template against it).

To move to newer versions: edit `version` in vendor.json, run with `--update`, review, commit.
Only this refresh needs npm; a fresh clone needs nothing (the template is committed).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "vendor.json"
TEMPLATE = HERE / "offline.html"
# The majors DVC's own page loads (dvc_render.vega.VegaRenderer.SCRIPTS: vega@5, vega-lite@5,
# vega-embed@6); DVC's plot templates write Vega-Lite 5 specs.
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- Vega, Vega-Lite and Vega-Embed inlined (versions and SHA-256 in
         workflow/dvc_plots/vendor.json; BSD-3-Clause, (c) the University of Washington
         Interactive Data Lab), so the page renders without network. Built by
         `make plots-template`; do not edit. -->
{inline}
    <style>
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""
MARK = '<script data-package="{name}@{version}">\n{code}\n</script>'


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_integrity(data: bytes) -> str:
    """npm's `integrity` of a tarball: sha512, base64."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def npm_pack(name: str, version: str, integrity: str | None, into: Path) -> bytes:
    """The tarball of name@version from the npm registry, checked against its sha512 integrity."""
    out = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(into)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    info = json.loads(out.stdout)[0]
    data = (into / info["filename"]).read_bytes()
    digest = npm_integrity(data)
    if integrity is not None and digest != integrity:
        sys.exit(f"{name}@{version}: tarball {digest} is not the recorded {integrity}")
    return data


def script_from(tarball: bytes, member: str, into: Path) -> str:
    path = into / "pkg.tgz"
    path.write_bytes(tarball)
    with tarfile.open(path) as tar:
        file = tar.extractfile(f"package/{member}")
        assert file is not None, member
        return file.read().decode("utf-8")


def render(scripts: list[tuple[dict, str]]) -> str:
    blocks = []
    for pkg, code in scripts:
        # DVC fills {scripts}/{plot_divs}/{refresh_tag} by plain text replacement, and a
        # "</script" inside the code would end the tag early: refuse both rather than patch.
        bad = [s for s in ("{plot_divs}", "{scripts}", "{refresh_tag}", "</script") if s in code]
        if bad:
            sys.exit(f"{pkg['name']}: the build contains {bad}: cannot inline it verbatim")
        blocks.append(MARK.format(name=pkg["name"], version=pkg["version"], code=code))
    return PAGE.replace("{inline}", "\n".join(blocks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--update",
        action="store_true",
        help="accept the tarballs of the versions in vendor.json and record them",
    )
    args = parser.parse_args()
    manifest = json.loads(MANIFEST.read_text())
    scripts = []
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in manifest["packages"]:
            known = None if args.update else pkg["integrity"]
            tarball = npm_pack(pkg["name"], pkg["version"], known, Path(tmp))
            code = script_from(tarball, pkg["file"], Path(tmp))
            pkg["integrity"] = npm_integrity(tarball)
            pkg["sha256"] = sha256(code.encode("utf-8"))
            scripts.append((pkg, code))
    TEMPLATE.write_text(render(scripts), encoding="utf-8")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {TEMPLATE.relative_to(HERE.parents[1])} ({TEMPLATE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
