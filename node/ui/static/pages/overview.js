// Overview: live tiles (this node and the whole cluster), the cluster in one line (nodes up,
// leader, whether every node holds the same key version), the last 10 errors (each linking
// to the log), and today's top keys and models by cost.
import { html, useState, useEffect } from "../vendor/preact-htm-10.27.2.js";
import { api, subscribe } from "../api.js";
import { Banner, useLoad, fmt, when } from "../components.js";
import { useLive, BothTiles, LiveHeader } from "./live.js";
import { RequestLink } from "./request.js";

function Top({ title, group }) {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const { data, error, reload } = useLoad(
    () => api("usage/buckets", { query: { bucket: "hour", group_by: group, from: since } }), [group]);
  const rows = data ? [...data.series].sort((a, b) => b.total_cost_usd - a.total_cost_usd
    || b.total_requests - a.total_requests).slice(0, 5) : [];
  return html`<section><h3>${title}</h3><${Banner} error=${error} retry=${reload} />
    ${rows.length ? html`<table><thead><tr><th scope="col">${group}</th><th scope="col" class="num">Requests</th>
      <th scope="col" class="num">Cost (USD)</th></tr></thead><tbody>
      ${rows.map((r) => html`<tr><td>${r.label}</td><td class="num">${fmt(r.total_requests)}</td>
        <td class="num">${fmt(r.total_cost_usd, 4)}</td></tr>`)}</tbody></table>`
      : html`<p class="hint">No usage in the last 24 hours.</p>`}</section>`;
}

// GET /cluster, kept current by the live stream's `cluster` events.
function useCluster() {
  const loaded = useLoad(() => api("cluster"), []);
  const [pushed, setPushed] = useState(null);
  useEffect(() => subscribe((msg) => {
    if (msg.kind === "cluster") setPushed({ enabled: true, ...msg.cluster });
  }), []);
  return { ...loaded, data: pushed || loaded.data };
}

function ClusterLine({ c }) {
  const self = c.self || {};
  const peers = c.enabled ? c.peers || [] : [];
  const nodes = [{ name: self.name || "this node", key_version: self.key_version }, ...peers];
  const up = 1 + peers.filter((p) => p.reachable).length;
  const versions = nodes.map((n) => n.key_version);
  const agree = versions.every((v) => v != null && v === versions[0]);
  return html`<p data-cluster>
    <span data-nodes-up>${up} of ${nodes.length} node${nodes.length === 1 ? "" : "s"} up</span> ·
    leader <strong data-leader>${c.enabled ? c.leader || "none" : "none needed (single node)"}</strong> ·
    <span data-key-versions=${agree ? "agree" : "differ"}>key versions agree ${agree
      ? html`<span class="badge ok">✓</span>`
      : html`<span class="badge bad">✗</span> (${nodes.map((n) => `${n.name}: ${n.key_version ?? "?"}`).join(", ")})`}</span>
    ${c.enabled && html` · <a href="#/cluster">Details</a>`}</p>`;
}

// The newest 10 failed requests; reloaded whenever the live error count moves.
function LastErrors({ errors }) {
  const { data, error, reload } = useLoad(() => api("logs", { query: { status: "error", limit: 10 } }), [errors]);
  const rows = data ? data.data : [];
  return html`<section><h3>Last 10 errors</h3><${Banner} error=${error} retry=${reload} />
    ${rows.length ? html`<div class="table-wrap"><table data-errors><thead><tr><th scope="col">Time</th>
      <th scope="col" class="num">Status</th><th scope="col">Model</th><th scope="col">Error</th>
      <th scope="col">Request</th></tr></thead><tbody>
      ${rows.map((r) => html`<tr data-error-row=${r.id}><td>${when(r.at)}</td>
        <td class="num"><span class="badge bad">${r.status}</span></td><td>${r.provider}/${r.model}</td>
        <td>${r.error || html`<span class="hint">no text recorded</span>`}</td>
        <td><${RequestLink} id=${r.request_id} /></td></tr>`)}</tbody></table></div>`
      : data && html`<p class="hint">No errors recorded.</p>`}</section>`;
}

export default function Overview() {
  const live = useLive();
  const cluster = useCluster();
  const errors = live.stats ? (live.stats.cluster || live.stats).errors_5m : null;
  return html`<h2>Overview</h2>
    <${LiveHeader} live=${live} />
    <${BothTiles} stats=${live.stats} />
    <h3>Cluster</h3>
    <${Banner} error=${cluster.error} retry=${cluster.reload} />
    ${cluster.data && html`<${ClusterLine} c=${cluster.data} />`}
    <${LastErrors} errors=${errors} />
    <div class="columns"><${Top} title="Top keys today" group="key" />
      <${Top} title="Top models today" group="model" /></div>`;
}
