// Small SVG charts of our own. Colours come from CSS variables (classes s0..s5), so a theme
// change needs no redraw. Every chart is role=img with a summary label and carries a
// <details> table of the same numbers.
import { html } from "./vendor/preact-htm-10.27.2.js";
import { fmt } from "./components.js";

const W = 640, H = 200, PAD = 34;

// A value that is missing or not a number (a gap, a peer on another version) is drawn as 0
// rather than breaking the path.
const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export function LineChart({ title, labels, series: given, table = false }) {
  const series = given.map((s) => ({ ...s, values: s.values.map(num) }));
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const n = Math.max(labels.length, 2);
  const x = (i) => PAD + (i * (W - PAD - 8)) / (n - 1);
  const y = (v) => H - PAD + 4 - (v / max) * (H - PAD - 10);
  const summary = `${title}. ${series.map((s) => `${s.name}: total ${fmt(s.values.reduce((a, b) => a + b, 0), 2)}`).join("; ")}.`;
  return html`<figure class="chart" data-series=${series.length}>
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-label=${summary}>
      <line class="axis" x1=${PAD} y1=${H - PAD + 4} x2=${W - 8} y2=${H - PAD + 4} />
      <line class="axis" x1=${PAD} y1="6" x2=${PAD} y2=${H - PAD + 4} />
      <text x="2" y="14">${fmt(max, max < 10 ? 2 : 0)}</text>
      <text x="2" y=${H - PAD + 4}>0</text>
      ${labels.length > 0 && html`<text x=${PAD} y=${H - 8}>${labels[0]}</text>
        <text x=${W - 8} y=${H - 8} text-anchor="end">${labels[labels.length - 1]}</text>`}
      ${series.map((s, i) => html`<path class=${`line s${i % 6}`} data-name=${s.name}
        d=${s.values.map((v, j) => `${j ? "L" : "M"}${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(" ")} />`)}
    </svg>
    <ul class="legend">${series.map((s, i) => html`<li><span class=${`swatch s${i % 6}`}></span>${s.name}</li>`)}</ul>
    ${table && html`<details><summary>The numbers as a table</summary><div class="table-wrap">
      <table><thead><tr><th scope="col">Time</th>${series.map((s) => html`<th scope="col" class="num">${s.name}</th>`)}</tr></thead>
      <tbody>${labels.map((label, j) => html`<tr><th scope="row">${label}</th>
        ${series.map((s) => html`<td class="num">${fmt(s.values[j], 4)}</td>`)}</tr>`)}</tbody></table>
    </div></details>`}
  </figure>`;
}
