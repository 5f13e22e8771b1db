// Usage: requests, tokens or cost over time, grouped by key, model or provider; CSV export.
import { html } from "../vendor/preact-htm-10.27.2.js";
import { api, apiUrl } from "../api.js";
import { Banner, useLoad, fmt } from "../components.js";
import { LineChart } from "../charts.js";

const RANGES = { "24h": ["hour", 24 * 3600e3], "7d": ["hour", 7 * 24 * 3600e3], "30d": ["day", 30 * 24 * 3600e3] };
const METRICS = { requests: "Requests", input_tokens: "Input tokens", output_tokens: "Output tokens",
                  errors: "Errors", cost_usd: "Cost (USD)" };

export default function Usage({ params, navigate }) {
  const range = RANGES[params.range] ? params.range : "24h";
  const group = ["key", "model", "provider"].includes(params.group_by) ? params.group_by : "model";
  const metric = METRICS[params.metric] ? params.metric : "requests";
  const [bucket, span] = RANGES[range];
  const to = new Date(Math.ceil(Date.now() / 3600e3) * 3600e3);
  const query = { bucket, group_by: group, from: new Date(to - span).toISOString(), to: to.toISOString() };
  const { data, error, reload } = useLoad(() => api("usage/buckets", { query }), [range, group]);
  const set = (change) => navigate({ range, group_by: group, metric, ...change });
  const labels = data ? data.buckets.map((b) => (bucket === "hour" ? b.slice(5, 16).replace("T", " ") : b.slice(0, 10))) : [];
  const series = data ? data.series.map((s) => ({ name: s.label, values: s[metric] })) : [];
  const digits = metric === "cost_usd" ? 4 : 0;
  return html`<h2>Usage</h2>
    <div class="toolbar">
      <label>Range <select value=${range} onChange=${(e) => set({ range: e.target.value })}>
        <option value="24h">Last 24 hours</option><option value="7d">Last 7 days</option>
        <option value="30d">Last 30 days</option></select></label>
      <label>Group by <select value=${group} onChange=${(e) => set({ group_by: e.target.value })}>
        <option value="key">Key</option><option value="model">Model</option><option value="provider">Provider</option></select></label>
      <label>Metric <select value=${metric} onChange=${(e) => set({ metric: e.target.value })}>
        ${Object.entries(METRICS).map(([k, v]) => html`<option value=${k}>${v}</option>`)}</select></label>
      <a class="button" href=${apiUrl("usage.csv", query).href} download>Export CSV</a>
      <span class="hint" data-timezone>Times in ${data ? data.timezone : "UTC"}, per ${bucket}.</span>
    </div>
    <${Banner} error=${error} retry=${reload} />
    ${data && html`<${LineChart} title=${`${METRICS[metric]} per ${bucket} by ${group}`} labels=${labels}
        series=${series} table=${true} />
      <h3>Totals</h3>
      <div class="table-wrap"><table data-totals><thead><tr><th scope="col">${group}</th>
        ${Object.values(METRICS).map((m) => html`<th scope="col" class="num">${m}</th>`)}</tr></thead><tbody>
        ${data.series.map((s) => html`<tr><th scope="row">${s.label}</th>
          ${Object.keys(METRICS).map((m) => html`<td class="num" data-metric=${m}>${fmt(s[`total_${m}`], m === "cost_usd" ? 4 : 0)}</td>`)}</tr>`)}
        ${data.series.length === 0 && html`<tr><td colspan="6">No usage in this range.</td></tr>`}
      </tbody></table></div>`}`;
}
