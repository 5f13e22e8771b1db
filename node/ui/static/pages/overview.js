// Overview: live tiles (this node and the whole cluster), the cluster in one line, today's top keys and models by cost.
import { html } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, useLoad, fmt } from "../components.js";
import { useLive, BothTiles, LiveHeader } from "./live.js";

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

export default function Overview() {
  const live = useLive();
  const cluster = useLoad(() => api("cluster"), []);
  const c = cluster.data;
  return html`<h2>Overview</h2>
    <${LiveHeader} live=${live} />
    <${BothTiles} stats=${live.stats} />
    <h3>Cluster membership</h3>
    <${Banner} error=${cluster.error} retry=${cluster.reload} />
    ${c && html`<p data-cluster>${c.enabled
      ? html`${(c.nodes || []).length} nodes, leader ${c.leader || "none"}, quorum
          ${c.has_quorum ? "yes" : "no"}. <a href="#/cluster">Details</a>`
      : html`Single node (no cluster configured); key version ${c.self.key_version}.`}</p>`}
    <div class="columns"><${Top} title="Top keys today" group="key" />
      <${Top} title="Top models today" group="model" /></div>`;
}
