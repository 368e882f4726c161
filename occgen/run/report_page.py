"""The HTML template of ``occgen report`` (:mod:`occgen.run.report_html` fills the ``{{name}}`` slots once):
its inline CSS, and the inline JavaScript of the gallery (paging, occluder-type and coverage filters), which
reads the page's own JSON blocks and needs no server, no network and no library."""

from __future__ import annotations

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { background: #1d2330; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 20px; }
nav a { color: #cfe3ff; margin-right: 14px; font-size: 13px; }
main { padding: 8px 24px 32px; max-width: 1280px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 10px 18px 16px; margin: 16px 0; }
h2 { font-size: 17px; margin: 6px 0 10px; }
table { border-collapse: collapse; margin: 6px 16px 10px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e5e8ee; padding: 3px 10px 3px 0; text-align: left; vertical-align: top; }
table.card td:first-child { color: #5a6478; }
.row { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: flex-start; }
.note { color: #5a6478; font-size: 13px; }
img.plot { max-width: 100%; }
pre { max-height: 320px; overflow: auto; background: #f2f4f7; padding: 8px; font-size: 12px; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; }
figure.tile { margin: 0; width: 256px; }
figure.tile img { width: 256px; height: 128px; display: block; image-rendering: auto; }
figure.tile figcaption { font-size: 11px; color: #3b4458; overflow-wrap: anywhere; }
.controls { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin-bottom: 10px; }
.controls input { width: 64px; }
button { padding: 3px 12px; }
figure.audit-tile { width: 192px; }
figure.audit-tile img { width: 192px; height: 96px; }
.beyond { color: #c62828; font-weight: 600; }
#audit h3 { font-size: 14px; margin: 12px 0 6px; }
"""

SCRIPT = """
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("occgen-report-data").textContent);
  const thumbs = JSON.parse(document.getElementById("occgen-report-thumbs").textContent);
  const pageSize = Number(document.getElementById("gallery").dataset.pageSize);
  const typeFilter = document.getElementById("filter-type");
  const low = document.getElementById("filter-coverage-min");
  const high = document.getElementById("filter-coverage-max");
  const grid = document.getElementById("gallery-tiles");
  const count = document.getElementById("gallery-count");
  const pageLine = document.getElementById("gallery-page");
  const previous = document.getElementById("gallery-previous");
  const next = document.getElementById("gallery-next");
  let page = 0;

  function percent(value) { return value === null ? "n/a" : (100 * value).toFixed(1) + " %"; }

  function matching() {
    const kind = typeFilter.value;
    const lo = Number(low.value) / 100, hi = Number(high.value) / 100;
    const everything = Number(low.value) <= 0 && Number(high.value) >= 100;
    return data.gallery.filter(function (s) {
      if (kind !== "" && s.types.indexOf(kind) < 0) { return false; }
      if (s.coverage === null) { return everything; }
      return s.coverage >= lo - 1e-9 && s.coverage <= hi + 1e-9;
    });
  }

  function tile(s) {
    const figure = document.createElement("figure");
    figure.className = "tile";
    figure.dataset.sampleId = s.id;
    figure.dataset.types = s.types.join(" ");
    const image = document.createElement("img");
    image.alt = s.id;
    image.src = thumbs[String(s.index)];
    const caption = document.createElement("figcaption");
    caption.textContent = s.id + " · " + s.types.join(", ") + " · coverage " + percent(s.coverage) +
      " · face " + s.face;
    figure.append(image, caption);
    return figure;
  }

  function render() {
    const shown = matching();
    const pages = Math.max(1, Math.ceil(shown.length / pageSize));
    page = Math.min(Math.max(page, 0), pages - 1);
    grid.replaceChildren.apply(grid, shown.slice(page * pageSize, (page + 1) * pageSize).map(tile));
    count.textContent = shown.length + " of " + data.gallery.length + " gallery samples match";
    pageLine.textContent = "page " + (page + 1) + " of " + pages;
    previous.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  [typeFilter, low, high].forEach(function (control) {
    control.addEventListener("input", function () { page = 0; render(); });
  });
  previous.addEventListener("click", function () { page -= 1; render(); });
  next.addEventListener("click", function () { page += 1; render(); });
  render();
})();
"""

PAGE_TEMPLATE = (
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{title}}</title>
<style>"""
    + CSS
    + """</style>
</head>
<body>
<header>
<h1>{{title}}</h1>
<nav><a href="#card">card</a><a href="#counts">counts</a><a href="#coverage">coverage</a>
<a href="#pixels">area and position</a><a href="#colour">colour match</a><a href="#extremes">most / least covered</a>
{{audit_nav}}<a href="#gallery">gallery</a></nav>
</header>
<main>
<section id="card">
<h2>Dataset card</h2>
<div class="row">{{card}}{{sources}}</div>
<details><summary>the whole card (JSON)</summary><pre>{{card_json}}</pre></details>
</section>

<section id="counts">
<h2>Counts (every sample's metadata)</h2>
<div class="row">{{recipes}}{{parts}}{{types}}{{per_sample}}</div>
<p class="note">A sample with several occluder types counts once under each; "(none)": a sample without an
occluder.</p>
<p>{{faces_line}}</p>
{{faces}}
</section>

<section id="coverage">
<h2>Occluder coverage of the face</h2>
<p class="note">Coverage = the share of the face's pixels before occlusion that the occluder covers,
(face_px_before − face_px_after) / face_px_before, from every sample's metadata; bins of 5 %, stacked by
occluder type. {{check_line}}</p>
<p>{{coverage_line}}</p>
<img class="plot" alt="coverage histogram" src="{{coverage_plot}}">
</section>

<section id="pixels">
<h2>Occluder area and position</h2>
<p class="note">{{arrays_line}} Area: the share of the image's pixels with occluder_mask &gt; 0. Heat map:
the mean occluder alpha (occluder_mask / 255) at each pixel; the green line is where the visible face
(face_mask) is present in half of those samples.</p>
<p>{{area_line}}</p>
<div class="row"><img class="plot" alt="occluder area histogram" src="{{area_plot}}">
<img class="plot" alt="occluder position heat map" src="{{heat_plot}}"></div>
</section>

<section id="colour">
<h2>Colour distance hand ↔ skin</h2>
<p class="note">For each sampled sample with a hand occluder: the CIE76 colour difference ΔE between the mean
CIELAB colour of the hand's pixels in the composite (occluder alpha ≥ 0.5) and the mean CIELAB colour of the
visible face pixels (face_mask = 1); at least 16 pixels of each. About 2.3 is a just noticeable difference;
large values are hands whose colour does not match the face.</p>
<p>{{delta_line}}</p>
{{delta_plot}}
</section>

<section id="extremes">
<h2>Most and least covered samples</h2>
<p class="note">Over every sample, by coverage; each tile: the image, then face (green) and occluder (red).</p>
<h3>Most covered</h3>
<div class="tiles" id="most-covered">{{most}}</div>
<h3>Least covered</h3>
<div class="tiles" id="least-covered">{{least}}</div>
</section>

{{audit}}

<section id="gallery" data-page-size="{{page_size}}">
<h2>Gallery</h2>
<p class="note">{{gallery_line}} Each tile: the image, then face (green) and occluder (red). A sample without
coverage metadata shows only when the coverage range is 0–100 %.</p>
<div class="controls">
<label>occluder type <select id="filter-type"><option value="">all</option>{{type_options}}</select></label>
<label>coverage from <input id="filter-coverage-min" type="number" min="0" max="100" step="1" value="0"> %</label>
<label>to <input id="filter-coverage-max" type="number" min="0" max="100" step="1" value="100"> %</label>
<button id="gallery-previous" type="button">previous</button>
<span id="gallery-page"></span>
<button id="gallery-next" type="button">next</button>
<span id="gallery-count"></span>
</div>
<div class="tiles" id="gallery-tiles"></div>
</section>
<p class="note">{{footer}}</p>
</main>
{{data}}
{{thumbs}}
<script>"""
    + SCRIPT
    + """</script>
</body>
</html>
"""
)
