// The web page of `toonreid serve`: an HTML file, its script and its style, all served
// by the service itself (the Content-Security-Policy allows nothing else, inline code
// included). Every face of the dropped picture gets a numbered box and its own answer,
// the decision first.
#include "serve/http_service.h"

namespace toonreid {

const std::string& service_page() {
  static const std::string page = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>toonreid: who is this?</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/app.css"></head><body>
<h1>Who is this?</h1>
<p class="sub">Drop a picture (JPEG or PNG): every face in it is found and answered: a match with an enrolled
identity, or unknown at the chosen false-alarm rate. The gallery's closest identities follow with their best photo.</p>
<div id="drop">Drop a picture here, or <label><u>choose a file</u><input id="file" type="file" accept="image/jpeg,image/png" hidden></label></div>
<p><label>operating point: false alarms <select id="fpir">
<option value="0.001">0.1%</option><option value="0.01" selected>1%</option><option value="0.05">5%</option>
<option value="0.1">10%</option><option value="0.3">30%</option></select></label>
<label>or threshold <input id="threshold" type="text" size="6" placeholder="score"></label>
<label>top <input id="topk" type="number" value="5" min="1" max="50"></label>
<label><input id="largest" type="checkbox"> largest face only</label>
<label><input id="fallback" type="checkbox"> whole picture if no face</label>
<label><input id="byimage" type="checkbox"> images instead of identities</label>
<label><input id="rerank" type="checkbox"> re-rank</label></p>
<div id="status"></div>
<div class="row"><div id="query"></div><div id="faces"></div></div>
<fieldset><legend>Enrol photos of a known person</legend>
<label>identity <input id="identity" type="text" placeholder="name"></label>
<input id="enrolfiles" type="file" accept="image/jpeg,image/png" multiple>
<label>token <input id="token" type="password" placeholder="if the server needs one"></label>
<button id="enrol">Enrol</button> <span id="enrolstatus"></span></fieldset>
<p class="sub" id="stats"></p>
<script src="/app.js"></script></body></html>
)HTML";
  return page;
}

const std::string& service_style() {
  static const std::string style = R"CSS(body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
#topk{width:4em}
h1{font-size:1.5em;margin-bottom:.2em}.sub{color:#666;margin-top:0}
#drop{border:2px dashed #999;border-radius:8px;padding:1.2em;text-align:center;cursor:pointer;background:#fafafa}
#drop.over{background:#e8f0fe;border-color:#1a73e8}
.row{display:flex;gap:1.5em;margin-top:1em;align-items:flex-start}
#query{position:relative;flex:0 0 auto}#query img{max-width:420px;max-height:420px;border-radius:6px;border:1px solid #ccc;display:block}
.box{position:absolute;border:2px solid #1a73e8;box-sizing:border-box;pointer-events:none}
.box.match{border-color:#188038}.box.unknown{border-color:#d93025}
.box span{position:absolute;left:-2px;top:-1.5em;background:inherit;color:#fff;font-size:12px;font-weight:700;padding:0 5px;border-radius:3px}
.box.match span{background:#188038}.box.unknown span{background:#d93025}.box.uncalibrated span{background:#1a73e8}
#faces{flex:1;min-width:0}
.face{border:1px solid #ddd;border-radius:8px;padding:.5em .7em;margin-bottom:.8em}
.decision{font-weight:700;margin:.1em 0 .4em}.decision.match{color:#188038}.decision.unknown{color:#d93025}
.decision.uncalibrated{color:#555}
.hits{display:flex;flex-wrap:wrap;gap:.6em}
.hit{width:130px;border:1px solid #eee;border-radius:6px;padding:.3em;text-align:center;font-size:.8em}
.hit img{width:120px;height:120px;object-fit:cover;border-radius:4px}
.hit .who{font-weight:600;margin-top:.2em;word-break:break-all}.hit .d{color:#666}
.err{color:#b00020}fieldset{margin-top:2em;border:1px solid #ddd;border-radius:6px}
label{margin-right:1em}input[type=text],input[type=password]{padding:.3em}
)CSS";
  return style;
}

const std::string& service_script() {
  static const std::string script = R"JS("use strict";
const $ = id => document.getElementById(id);
let current = null;  // the last picture searched, searched again when the settings change
function text(el, t, err) { el.textContent = t; el.className = err ? "err" : ""; }
function el(tag, cls, t) { const e = document.createElement(tag); if (cls) e.className = cls; if (t !== undefined) e.textContent = t; return e; }
async function stats() {
  try { const s = await (await fetch("/api/stats")).json();
        $("stats").textContent = `${s.items} images of ${s.identities} identities; model ${s.fingerprint}; ${s.preprocessing}; ` +
          (s.calibrated ? "calibrated: answers match or unknown" : "uncalibrated: closest identities only"); }
  catch (e) {}
}
function decisionText(f) {
  const s = v => v === null ? "?" : v.toFixed(3);
  if (f.decision === "match") return `Match: ${f.identity} (score ${s(f.score)} < threshold ${s(f.threshold)})`;
  if (f.decision === "unknown") return `Unknown — closest: ${f.identity} at ${s(f.score)}, threshold ${s(f.threshold)}`;
  return `No decision (uncalibrated index) — closest: ${f.identity === null ? "none" : f.identity}`;
}
function boxes(img, faces, w, h) {
  const scale = img.clientWidth / w;
  for (const f of faces) {
    const b = el("div", "box " + f.decision);
    b.dataset.face = f.face;
    b.style.left = `${f.box[0] * scale}px`; b.style.top = `${f.box[1] * scale}px`;
    b.style.width = `${f.box[2] * scale}px`; b.style.height = `${f.box[3] * scale}px`;
    b.appendChild(el("span", "", String(f.face)));
    $("query").appendChild(b);
  }
}
async function search(file) {
  current = file;
  $("query").innerHTML = ""; $("faces").innerHTML = "";
  const img = el("img"); img.src = URL.createObjectURL(file); img.alt = file.name;
  $("query").appendChild(img);
  text($("status"), "searching…");
  const form = new FormData(); form.append("image", file, file.name);
  const p = new URLSearchParams({top_k: $("topk").value, by: $("byimage").checked ? "image" : "identity",
                                 rerank: $("rerank").checked ? 1 : 0, largest_face: $("largest").checked ? 1 : 0,
                                 fallback: $("fallback").checked ? 1 : 0});
  if ($("threshold").value.trim()) p.set("threshold", $("threshold").value.trim()); else p.set("fpir", $("fpir").value);
  const t0 = performance.now();
  const res = await fetch("/api/search?" + p.toString(), {method: "POST", body: form});
  const body = await res.json();
  if (!res.ok) { text($("status"), body.error || res.statusText, true); return; }
  const ms = Math.round(performance.now() - t0);
  text($("status"), body.faces.length ? `${body.faces.length} face(s) in ${ms} ms` : `no face found (${ms} ms)`);
  const draw = () => boxes(img, body.faces, body.width, body.height);
  if (img.complete && img.naturalWidth) draw(); else img.addEventListener("load", draw, {once: true});
  for (const f of body.faces) {
    const card = el("div", "face"); card.dataset.face = f.face;
    card.appendChild(el("div", "decision " + f.decision, `${f.face}. ${decisionText(f)}`));
    const hits = el("div", "hits");
    f.hits.forEach((h, i) => {
      const div = el("div", "hit");
      const im = el("img"); im.src = h.thumbnail; im.alt = h.identity;
      div.append(im, el("div", "who", `${i + 1}. ${h.identity}`), el("div", "d", `distance ${h.distance.toFixed(4)}`));
      hits.appendChild(div);
    });
    card.appendChild(hits); $("faces").appendChild(card);
  }
}
$("file").addEventListener("change", e => { if (e.target.files.length) search(e.target.files[0]); });
for (const id of ["fpir", "threshold", "topk", "largest", "fallback", "byimage", "rerank"])
  $(id).addEventListener("change", () => { if (current) search(current); });
const drop = $("drop");
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) search(e.dataTransfer.files[0]); });
$("enrol").addEventListener("click", async () => {
  const files = $("enrolfiles").files, identity = $("identity").value.trim();
  if (!identity || !files.length) { text($("enrolstatus"), "give a name and at least one photo", true); return; }
  const form = new FormData(); form.append("identity", identity);
  for (const f of files) form.append("image", f, f.name);
  const headers = $("token").value ? {"Authorization": "Bearer " + $("token").value} : {};
  text($("enrolstatus"), "enrolling…");
  const res = await fetch("/api/gallery", {method: "POST", body: form, headers});
  const body = await res.json();
  if (!res.ok) { text($("enrolstatus"), body.error || res.statusText, true); return; }
  text($("enrolstatus"), `enrolled ${body.items.length} image(s) of ${body.identity}`);
  stats();
});
stats();
)JS";
  return script;
}

}  // namespace toonreid
