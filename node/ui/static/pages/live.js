// Live: this node's and the whole cluster's numbers, once a second, with a 5-minute history
// of the cluster's, each node's own figures, a tail of the newest requests, and a Pause
// button that holds all of it.
import { html, useState, useEffect, useRef } from "../vendor/preact-htm-10.27.2.js";
import { api, subscribe } from "../api.js";
import { Banner, fmt, when } from "../components.js";
import { LineChart } from "../charts.js";
import { RequestLink } from "./request.js";

const HISTORY = 300;

export function useLive() {
  const [state, setState] = useState({ stats: null, history: [], status: "connecting" });
  const paused = useRef(false);
  const [isPaused, setPaused] = useState(false);
  useEffect(() => subscribe((msg) => {
    if (msg.kind === "reconnecting") setState((s) => ({ ...s, status: "reconnecting" }));
    else if (msg.kind === "open") setState((s) => ({ ...s, status: "live" }));
    else if (msg.kind === "stats" && !paused.current) {
      setState((s) => ({ stats: msg.stats, status: "live",
        history: [...s.history, msg.stats].slice(-HISTORY) }));
    }
  }), []);
  const toggle = () => { paused.current = !paused.current; setPaused(paused.current); };
  return { ...state, paused: isPaused, toggle };
}

const ms = (v) => (v == null ? "–" : `${fmt(v, 1)} ms`);

// One set of tiles; `scope` (node | cluster) names the set for tests and styling.
export function Tiles({ stats, scope = "node" }) {
  const s = stats || {};
  const tiles = [
    ["In flight", fmt(s.in_flight), "in-flight"],
    ["Requests/s", fmt(s.requests_per_second), "rps"],
    ["Errors/s", fmt(s.errors_per_second), "eps"],
    ["p50 latency", ms(s.p50_ms), "p50"],
    ["p95 latency", ms(s.p95_ms), "p95"],
    ["Tokens/s", fmt(s.tokens_per_second), "tps"],
    ["Requests (5 min)", fmt(s.requests_5m), "r5m"],
    ["Errors (5 min)", fmt(s.errors_5m), "e5m"],
  ];
  return html`<div class="tiles" data-scope=${scope}>${tiles.map(([name, value, id]) => html`
    <div class="tile" data-tile=${id}><div class="name">${name}</div>
      <div class="value">${value}</div></div>`)}</div>`;
}

// This node's tiles, then the cluster's (a node alone is a cluster of one).
export function BothTiles({ stats }) {
  const cluster = stats && stats.cluster;
  const count = cluster ? Object.keys(cluster.nodes || {}).length : 0;
  return html`<h3>This node${stats && stats.node ? html` (<code>${stats.node}</code>)` : ""}</h3>
    <${Tiles} stats=${stats} scope="node" />
    <h3>Whole cluster${count ? ` (${count} node${count === 1 ? "" : "s"} reporting)` : ""}</h3>
    <${Tiles} stats=${cluster} scope="cluster" />`;
}

export function LiveHeader({ live }) {
  return html`<div class="toolbar">
    <span class=${`badge ${live.status === "live" ? "ok" : "warn"}`} data-status=${live.status} role="status">
      ${live.status === "live" ? "Live" : live.status === "reconnecting" ? "Reconnecting…" : "Connecting…"}</span>
    <button type="button" onClick=${live.toggle} aria-pressed=${live.paused ? "true" : "false"}>
      ${live.paused ? "Resume live updates" : "Pause live updates"}</button>
  </div>`;
}

function PerNode({ cluster }) {
  const nodes = Object.entries((cluster && cluster.nodes) || {});
  if (!nodes.length) return null;
  return html`<h3>Per node</h3><div class="table-wrap"><table data-per-node><thead><tr>
    <th scope="col">Node</th><th scope="col" class="num">In flight</th>
    <th scope="col" class="num">Requests/s</th><th scope="col" class="num">Errors/s</th>
    <th scope="col" class="num">p95 latency</th><th scope="col" class="num">Requests (5 min)</th>
    </tr></thead><tbody>${nodes.map(([name, n]) => html`<tr data-node=${name}>
      <th scope="row">${name}</th><td class="num">${fmt(n.in_flight)}</td>
      <td class="num">${fmt(n.requests_per_second)}</td><td class="num">${fmt(n.errors_per_second)}</td>
      <td class="num">${ms(n.p95_ms)}</td><td class="num">${fmt(n.requests_5m)}</td></tr>`)}
    </tbody></table></div>`;
}

// The tail polls GET /logs?limit=20 every 2 s rather than adding a `tail` event to the live
// stream: the log is read from the store every worker and node writes, so one query shows
// the whole cluster's newest requests with no per-worker lists to gather across processes
// and peers; the usage writers flush about as often (server.usage_flush_interval, 2 s), and
// it costs one indexed query per open tab, only while the Live page is open and not paused.
const TAIL = 20;
const TAIL_EVERY_MS = 2000;

function Tail({ paused }) {
  const [state, setState] = useState({ rows: null, error: null });
  useEffect(() => {
    if (paused) return undefined;
    let alive = true;
    const poll = () => api("logs", { query: { limit: TAIL } }).then(
      (page) => { if (alive) setState({ rows: page.data, error: null }); },
      (error) => { if (alive) setState((s) => ({ ...s, error })); });
    poll();
    const timer = setInterval(poll, TAIL_EVERY_MS);
    return () => { alive = false; clearInterval(timer); };
  }, [paused]);
  const rows = state.rows || [];
  return html`<h3>Recent requests</h3><${Banner} error=${state.error} />
    <div class="table-wrap"><table data-tail><thead><tr><th scope="col">Time</th>
      <th scope="col" class="num">Status</th><th scope="col">Model</th>
      <th scope="col" class="num">Latency</th><th scope="col" class="num">TTFT</th>
      <th scope="col" class="num">Tokens in/out</th><th scope="col">Request</th></tr></thead><tbody>
      ${rows.map((r) => html`<tr data-tail-row=${r.id}><td>${when(r.at)}</td>
        <td class="num">${r.status >= 400 ? html`<span class="badge bad">${r.status}</span>` : r.status}</td>
        <td>${r.provider}/${r.model}</td><td class="num">${ms(r.latency_ms)}</td>
        <td class="num">${ms(r.ttft_ms)}</td>
        <td class="num">${fmt(r.input_tokens)} / ${fmt(r.output_tokens)}</td>
        <td><${RequestLink} id=${r.request_id} /></td></tr>`)}
      ${state.rows && rows.length === 0 && html`<tr><td colspan="7">No requests yet.</td></tr>`}
    </tbody></table></div>`;
}

export default function Live() {
  const live = useLive();
  const h = live.history.map((s) => s.cluster || s);
  const labels = live.history.map((s) => new Date(s.at * 1000).toISOString().slice(11, 19));
  return html`<h2>Live</h2>
    <${LiveHeader} live=${live} />
    <${BothTiles} stats=${live.stats} />
    <${PerNode} cluster=${live.stats && live.stats.cluster} />
    <${Tail} paused=${live.paused} />
    <h3>Cluster requests and errors per second</h3>
    <${LineChart} title="Cluster requests and errors per second, last 5 minutes" labels=${labels}
      series=${[{ name: "requests/s", values: h.map((s) => s.requests_per_second) },
                { name: "errors/s", values: h.map((s) => s.errors_per_second) }]} />
    <h3>Cluster latency</h3>
    <${LineChart} title="Cluster p50 and p95 latency in ms, last 5 minutes" labels=${labels}
      series=${[{ name: "p50 ms", values: h.map((s) => s.p50_ms || 0) },
                { name: "p95 ms", values: h.map((s) => s.p95_ms || 0) }]} />`;
}
