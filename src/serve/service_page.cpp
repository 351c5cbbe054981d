// The web page of `toonreid serve`: one self-contained HTML file (no external scripts,
// styles or fonts), served at "/".
#include "serve/http_service.h"

namespace toonreid {

const std::string& service_page() {
  static const std::string page = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>toonreid: who is this?</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1050px;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}.sub{color:#666;margin-top:0}
#drop{border:2px dashed #999;border-radius:8px;padding:1.2em;text-align:center;cursor:pointer;background:#fafafa}
#drop.over{background:#e8f0fe;border-color:#1a73e8}
.row{display:flex;gap:1.5em;margin-top:1em;align-items:flex-start}
#query img{max-width:220px;border-radius:6px;border:1px solid #ccc}
#results{display:flex;flex-wrap:wrap;gap:.8em;flex:1}
.hit{width:150px;border:1px solid #ddd;border-radius:6px;padding:.4em;text-align:center;font-size:.85em}
.hit img{width:140px;height:140px;object-fit:cover;border-radius:4px}
.hit .who{font-weight:600;margin-top:.3em;word-break:break-all}.hit .d{color:#666}
.err{color:#b00020}fieldset{margin-top:2em;border:1px solid #ddd;border-radius:6px}
label{margin-right:1em}input[type=text],input[type=password]{padding:.3em}
</style></head><body>
<h1>Who is this?</h1>
<p class="sub">Drop a cartoon or caricature (JPEG or PNG): the gallery's closest identities appear with their best photo and distance.</p>
<div id="drop">Drop an image here, or <label><u>choose a file</u><input id="file" type="file" accept="image/jpeg,image/png" hidden></label></div>
<p><label>top <input id="topk" type="number" value="5" min="1" max="50" style="width:4em"></label>
<label><input id="byimage" type="checkbox"> images instead of identities</label>
<label><input id="rerank" type="checkbox"> re-rank</label></p>
<div id="status"></div>
<div class="row"><div id="query"></div><div id="results"></div></div>
<fieldset><legend>Enrol photos of a known person</legend>
<label>identity <input id="identity" type="text" placeholder="name"></label>
<input id="enrolfiles" type="file" accept="image/jpeg,image/png" multiple>
<label>token <input id="token" type="password" placeholder="if the server needs one"></label>
<button id="enrol">Enrol</button> <span id="enrolstatus"></span></fieldset>
<p class="sub" id="stats"></p>
<script>
"use strict";
const $ = id => document.getElementById(id);
function text(el, t, err) { el.textContent = t; el.className = err ? "err" : ""; }
async function stats() {
  try { const s = await (await fetch("/api/stats")).json();
        $("stats").textContent = `${s.items} images of ${s.identities} identities; model ${s.fingerprint}; ${s.preprocessing}`; }
  catch (e) {}
}
async function search(file) {
  $("query").innerHTML = ""; $("results").innerHTML = "";
  const img = document.createElement("img"); img.src = URL.createObjectURL(file); img.alt = file.name;
  $("query").appendChild(img);
  text($("status"), "searching…");
  const form = new FormData(); form.append("image", file, file.name);
  const q = `top_k=${encodeURIComponent($("topk").value)}&by=${$("byimage").checked ? "image" : "identity"}&rerank=${$("rerank").checked ? 1 : 0}`;
  const t0 = performance.now();
  const res = await fetch("/api/search?" + q, {method: "POST", body: form});
  const body = await res.json();
  if (!res.ok) { text($("status"), body.error || res.statusText, true); return; }
  text($("status"), `${body.hits.length} results in ${Math.round(performance.now() - t0)} ms`);
  body.hits.forEach((h, i) => {
    const div = document.createElement("div"); div.className = "hit";
    const im = document.createElement("img"); im.src = h.thumbnail; im.alt = h.identity;
    const who = document.createElement("div"); who.className = "who"; who.textContent = `${i + 1}. ${h.identity}`;
    const d = document.createElement("div"); d.className = "d"; d.textContent = `distance ${h.distance.toFixed(4)}`;
    div.append(im, who, d); $("results").appendChild(div);
  });
}
$("file").addEventListener("change", e => { if (e.target.files.length) search(e.target.files[0]); });
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
</script></body></html>
)HTML";
  return page;
}

}  // namespace toonreid
