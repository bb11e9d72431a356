#!/usr/bin/env python3
"""Write the operator catalog of bench/discovery.sh from a real host's dpkg status.

    python3 bench/discovery/make_catalog.py DPKG_STATUS [LINES] > catalog.json

Nothing in it is real software knowledge: it is benchmark data made from the
package names, versions and Maintainer fields of ONE real host (the corpus's
debian12-vm), in the open catalog format (docs/catalog.md), and every product
and signature says so in its `evidence`.

- For each installed package (759 on debian12-vm): LINES (default 14) release
  lines, one component and one product per line, as a real catalog has one
  component per release. Line r is every version whose upstream part starts
  with the number r, with the installed version's epoch:
  `>=E:r~, <E:(r+1)~` (`~` sorts before everything in dpkg's ordering), so
  the lines are disjoint and exactly one of them holds the installed
  version. The lines are r = max(0, m-6) .. that + LINES-1, where m is the
  installed upstream version's leading number. Component and product: id
  `bench-<package>-<r>`, name the package name, release `r`; the publisher is
  the name of the package's Maintainer field (its Debian maintainer: the
  nearest thing to a publisher the host records); no metric.
- Package-name regular expressions, each its own component and product
  (publisher "openlmt benchmark"): `<first-word>-.*` for every first word
  (the name up to its first `-`) shared by at least 3 packages of the host,
  and a fixed list of suffix/prefix groups (`lib.*-dev`, `fonts-.*`,
  `.*-common`, ...); only expressions that match at least one package of
  the host are kept (at most 60).
"""
import json
import re
import sys

EVIDENCE = ("generated for bench/discovery.sh from the package names and versions "
            "of the corpus host debian12-vm (dpkg-status); benchmark data, not a real "
            "product release")
FIXED_GROUPS = [
    r"lib.*-dev", r"lib.*-java", r"lib.*-perl", r"lib.*-common", r"lib.*-bin",
    r"lib.*[0-9]", r"fonts-.*", r".*-common", r".*-data", r".*-doc", r".*-utils",
    r".*-bin", r".*-dev", r"gir1\.2-.*", r"x11-.*", r"xserver-.*", r"xfonts-.*",
    r"openjdk-.*", r"perl.*", r"python3.*", r"gcc.*", r"lib.*-[0-9].*",
]
MAX_REGEX = 60


def stanzas(text):
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                continue
            if ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        if fields.get("Package"):
            yield fields


def rx_escape(s):
    return re.sub(r"([.+*?()\[\]{}|^$\\])", r"\\\1", s)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    path = sys.argv[1]
    lines = int(sys.argv[2]) if len(sys.argv) == 3 else 14
    with open(path, encoding="utf-8") as f:
        pkgs = [s for s in stanzas(f.read())
                if s.get("Status", "").endswith(" installed") and s.get("Version")]
    seen = set()
    products = []
    for p in pkgs:
        name, version = p["Package"], p["Version"]
        if name in seen:  # one set of lines per name (a multi-arch name appears once)
            continue
        seen.add(name)
        epoch, _, rest = version.rpartition(":")
        upstream = rest.rsplit("-", 1)[0] if "-" in rest else rest
        m = re.match(r"[0-9]+", upstream)
        if not m:
            sys.exit(f"{name} {version}: upstream version does not start with a digit")
        major = int(m.group(0))
        pre = f"{epoch}:" if epoch else ""
        publisher = p.get("Maintainer", "").split("<")[0].strip() or "unknown maintainer"
        first = max(0, major - 6)
        for r in range(first, first + lines):
            cid = f"bench-{name}-{r}"
            products.append({
                "id": cid, "publisher": publisher, "name": name, "release": str(r),
                "evidence": EVIDENCE,
                "components": [{
                    "id": cid, "name": name, "release": str(r), "charged": True,
                    "signatures": [{
                        "package": {"source": "dpkg", "name": name,
                                    "version": f">={pre}{r}~, <{pre}{r + 1}~"},
                        "evidence": EVIDENCE}]}]})
    names = sorted(seen)
    firsts = {}
    for n in names:
        if "-" in n:
            firsts.setdefault(n.split("-", 1)[0], []).append(n)
    regexes = [rx_escape(w) + "-.*" for w, ns in sorted(firsts.items()) if len(ns) >= 3]
    regexes += [g for g in FIXED_GROUPS if g not in regexes]
    kept = [rx for rx in regexes if any(re.fullmatch(rx, n) for n in names)][:MAX_REGEX]
    for i, rx in enumerate(kept):
        cid = f"bench-group-{i:02d}"
        products.append({
            "id": cid, "publisher": "openlmt benchmark", "name": f"Packages matching {rx}",
            "evidence": EVIDENCE,
            "components": [{
                "id": cid, "name": f"Packages matching {rx}", "charged": False,
                "signatures": [{"package": {"source": "dpkg", "name": {"regex": rx}},
                                "evidence": EVIDENCE}]}]})
    doc = {"catalog_version": f"bench-debian12-vm-{lines}-lines", "products": products}
    json.dump(doc, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    n_sig = len(products)
    print(f"catalog: {len(seen)} package names x {lines} release lines = {len(seen) * lines} "
          f"package signatures + {len(kept)} regular expressions = {n_sig} signatures, "
          f"{n_sig} components, {n_sig} products", file=sys.stderr)


if __name__ == "__main__":
    main()
