"""One self-contained HTML page with an interactive flame graph (no network).

:func:`render` takes a tree of nodes ``{"n": name, "v": total, "s": self,
"g": goroutines, "f": "file:line", "i": 1 if inlined, "c": [children]}``
(root first) and returns a page whose script draws it: the root at the
top, callees below their callers (as pprof's web UI draws flame graphs),
widths proportional to ``v``. Click a frame to zoom to it (click it again,
or a dimmed frame above it, or press
Escape to zoom out), hover for its bytes, goroutines and file:line, type in
the search box to highlight matching frames (a regular expression, or plain
text when it is not one) and see their share. ``#q=REGEXP``,
``#zoom=NAME`` and ``#tip=NAME`` in the page's URL open it searched, zoomed
or with a frame's tooltip shown.
"""

from __future__ import annotations

import json

_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
body { font: 12px/1.3 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       background: #fff; color: #222; }
header { padding: 8px 12px; border-bottom: 1px solid #ddd; display: flex; gap: 16px;
         align-items: center; flex-wrap: wrap; }
header h1 { font-size: 15px; margin: 0; }
#summary { color: #555; }
#search { width: 260px; padding: 3px 6px; }
#matched { color: #a0148c; }
#chart { position: relative; margin: 8px 12px; }
.fr { position: absolute; height: 17px; box-sizing: border-box; border: 1px solid #fff;
      overflow: hidden; white-space: nowrap; cursor: pointer; padding: 1px 3px;
      font: 11px/15px Menlo, Consolas, monospace; color: #000; border-radius: 2px; }
.fr.hit { background: #e040c0 !important; color: #fff; }
.fr.dim { opacity: 0.45; }
#tip { position: fixed; pointer-events: none; background: #fffbe8; border: 1px solid #bba;
       padding: 6px 8px; font: 12px/1.4 Menlo, Consolas, monospace; display: none;
       max-width: 640px; box-shadow: 0 2px 6px rgba(0,0,0,.2); z-index: 10; }
#status { margin: 0 12px; color: #555; min-height: 16px; }
</style>
</head>
<body>
<header>
<h1>__TITLE__</h1>
<span id="summary">__SUMMARY__</span>
<input id="search" type="search" placeholder="search frames (regexp)" autocomplete="off">
<span id="matched"></span>
</header>
<div id="status"></div>
<div id="chart"></div>
<div id="tip"></div>
<script>
"use strict";
const DATA = __DATA__;
const ROW = 18;
const chart = document.getElementById("chart");
const tip = document.getElementById("tip");
const status = document.getElementById("status");
const search = document.getElementById("search");
const matched = document.getElementById("matched");
let zoomed = DATA;
let pattern = null;

(function link(n, parent, depth) {
  n.p = parent; n.d = depth;
  let h = depth;
  for (const c of n.c || []) { h = Math.max(h, link(c, n, depth + 1)); }
  n.h = h;
  return h;
})(DATA, null, 0);

function color(name) {
  if (name.startsWith("[") || name === "runtime._FreeStack") return "#c8c8c8";
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  const pkg = name.replace(/\..*$/, "");
  const hue = name.startsWith("runtime.") ? 20 : (pkg === "main" ? 45 : 10 + (h % 50));
  return "hsl(" + hue + ", " + (70 + h % 25) + "%, " + (62 + (h >> 8) % 14) + "%)";
}

function bytes(v) { return v.toLocaleString("en-US") + " B"; }
function pct(v) { return DATA.v ? (100 * v / DATA.v).toFixed(2) + "%" : "-"; }
function esc(s) { return s.replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }

function draw() {
  chart.textContent = "";
  const width = chart.clientWidth || 1000;
  const base = zoomed;
  const ancestors = [];  // root first, shown dimmed above the zoomed frame
  for (let a = base.p; a; a = a.p) ancestors.unshift(a);
  const off = ancestors.length;
  const levels = base.h - base.d + 1 + off;
  chart.style.height = levels * ROW + "px";
  const total = base.v || 1;
  const frag = document.createDocumentFragment();
  function box(n, x, w, y, dim) {
    const el = document.createElement("div");
    el.className = "fr" + (dim ? " dim" : "");
    el.style.left = x + "px";
    el.style.width = Math.max(w, 1) + "px";
    el.style.top = y + "px";
    el.style.background = color(n.n);
    if (w > 30) el.textContent = n.n;
    el.onmousemove = e => showTip(e, n);
    el.onmouseout = () => { tip.style.display = "none"; };
    el.onclick = () => { zoomed = (n === zoomed && n.p) ? n.p : n; draw(); };
    if (pattern && pattern.test(n.n)) el.classList.add("hit");
    return el;
  }
  ancestors.forEach((a, i) => frag.appendChild(box(a, 0, width, i * ROW, true)));
  (function walk(n, x, depth) {
    const w = width * n.v / total;
    if (w < 0.5) return;
    frag.appendChild(box(n, x, w, (off + depth) * ROW, false));
    let cx = x;
    for (const c of n.c || []) { walk(c, cx, depth + 1); cx += width * c.v / total; }
  })(base, 0, 0);
  chart.appendChild(frag);
  if (pattern) {
    let hitBytes = 0;
    (function sum(n) {
      if (pattern.test(n.n)) { hitBytes += n.v; return; }
      for (const c of n.c || []) sum(c);
    })(DATA);
    matched.textContent = "matched: " + bytes(hitBytes) + " (" + pct(hitBytes) + ")";
  } else {
    matched.textContent = "";
  }
  status.textContent = zoomed === DATA ? "click a frame to zoom" :
    "zoomed to " + zoomed.n + " (" + bytes(zoomed.v) + ", " + pct(zoomed.v) +
    ") - click a dimmed frame above it or press Escape to zoom out";
}

function showTip(e, n) {
  let html = "<b>" + esc(n.n) + "</b>" + (n.i ? " (inlined)" : "") + "<br>";
  html += "total: " + bytes(n.v) + " (" + pct(n.v) + ")<br>";
  html += "self: " + bytes(n.s) + "<br>";
  html += "goroutines: " + (n.g || 0).toLocaleString("en-US");
  if (n.f) html += "<br>" + esc(n.f);
  tip.innerHTML = html;
  tip.style.display = "block";
  const x = Math.min(e.clientX + 12, window.innerWidth - tip.offsetWidth - 8);
  tip.style.left = x + "px";
  tip.style.top = (e.clientY + 14) + "px";
}

search.addEventListener("input", () => {
  const q = search.value;
  if (!q) { pattern = null; }
  else {
    try { pattern = new RegExp(q); }
    catch (err) { pattern = new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")); }
  }
  draw();
});
document.addEventListener("keydown", e => { if (e.key === "Escape") { zoomed = DATA; draw(); } });
window.addEventListener("resize", draw);
// A view can be linked: #q=REGEXP searches, #zoom=NAME zooms to the widest
// frame of that name, #tip=NAME shows that frame's tooltip.
function widest(name) {
  let best = null;
  (function find(n) {
    if (n.n === name && (!best || n.v > best.v)) best = n;
    for (const c of n.c || []) find(c);
  })(DATA);
  return best;
}
(function fromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("q")) { search.value = params.get("q"); search.dispatchEvent(new Event("input")); }
  if (params.get("zoom") && widest(params.get("zoom"))) zoomed = widest(params.get("zoom"));
  draw();
  const t = params.get("tip") && widest(params.get("tip"));
  if (t) showTip({clientX: 40, clientY: 90}, t);
})();
</script>
</body>
</html>
"""


def render(tree: dict, title: str, summary: str) -> str:
    """The page for ``tree``; ``title`` and ``summary`` must be HTML-escaped."""
    data = json.dumps(tree, ensure_ascii=True, separators=(",", ":"))
    # "</" would end the script element early
    data = data.replace("</", "<\\/")
    return (_PAGE.replace("__TITLE__", title).replace("__SUMMARY__", summary)
            .replace("__DATA__", data))
