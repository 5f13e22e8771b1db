// Live: this node's numbers, once a second, with a 5-minute history and a Pause button.
import { html, useState, useEffect, useRef } from "../vendor/preact-htm-10.27.2.js";
import { subscribe } from "../api.js";
import { fmt } from "../components.js";
import { LineChart } from "../charts.js";

const HISTORY = 300;

export function useLive() {
  const [state, setState] = useState({ stats: null, history: [], status: "connecting" });
  const paused = useRef(false);
  const [isPaused, setPaused] = useState(false);
  useEffect(() => subscribe((msg) => {
    if (msg.kind === "reconnecting") setState((s) => ({ ...s, status: "reconnecting" }));
    else if (msg.kind === "open") setState((s) => ({ ...s, status: "live" }));
    else if (!paused.current) {
      setState((s) => ({ stats: msg.stats, status: "live",
        history: [...s.history, msg.stats].slice(-HISTORY) }));
    }
  }), []);
  const toggle = () => { paused.current = !paused.current; setPaused(paused.current); };
  return { ...state, paused: isPaused, toggle };
}

export function Tiles({ stats }) {
  const s = stats || {};
  const tiles = [
    ["In flight", fmt(s.in_flight), "in-flight"],
    ["Requests/s", fmt(s.requests_per_second), "rps"],
    ["Errors/s", fmt(s.errors_per_second), "eps"],
    ["p50 latency", s.p50_ms == null ? "–" : `${fmt(s.p50_ms, 1)} ms`, "p50"],
    ["p95 latency", s.p95_ms == null ? "–" : `${fmt(s.p95_ms, 1)} ms`, "p95"],
    ["Tokens/s", fmt(s.tokens_per_second), "tps"],
    ["Requests (5 min)", fmt(s.requests_5m), "r5m"],
    ["Errors (5 min)", fmt(s.errors_5m), "e5m"],
  ];
  return html`<div class="tiles">${tiles.map(([name, value, id]) => html`
    <div class="tile" data-tile=${id}><div class="name">${name}</div>
      <div class="value">${value}</div></div>`)}</div>`;
}

export function LiveHeader({ live }) {
  return html`<div class="toolbar">
    <span class=${`badge ${live.status === "live" ? "ok" : "warn"}`} data-status=${live.status}>
      ${live.status === "live" ? "Live (this node)" : live.status === "reconnecting" ? "Reconnecting…" : "Connecting…"}</span>
    <button type="button" onClick=${live.toggle} aria-pressed=${live.paused ? "true" : "false"}>
      ${live.paused ? "Resume live updates" : "Pause live updates"}</button>
  </div>`;
}

export default function Live() {
  const live = useLive();
  const h = live.history;
  const labels = h.map((s) => new Date(s.at * 1000).toISOString().slice(11, 19));
  return html`<h2>Live</h2>
    <${LiveHeader} live=${live} />
    <${Tiles} stats=${live.stats} />
    <h3>Requests and errors per second</h3>
    <${LineChart} title="Requests and errors per second, last 5 minutes" labels=${labels}
      series=${[{ name: "requests/s", values: h.map((s) => s.requests_per_second) },
                { name: "errors/s", values: h.map((s) => s.errors_per_second) }]} />
    <h3>Latency</h3>
    <${LineChart} title="p50 and p95 latency in ms, last 5 minutes" labels=${labels}
      series=${[{ name: "p50 ms", values: h.map((s) => s.p50_ms || 0) },
                { name: "p95 ms", values: h.map((s) => s.p95_ms || 0) }]} />`;
}
