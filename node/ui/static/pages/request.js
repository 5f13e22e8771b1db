// One request in detail, in a drawer (a modal dialog: focus moves in, Esc closes, focus
// returns to the row's button): timings, tokens, cost, upstream, attempts, the error text
// and the request id to copy. Never a prompt or an answer: the log keeps none.
import { html, useState } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, Modal, useLoad, fmt, when } from "../components.js";

export const ms = (v) => (v == null ? "not measured" : `${fmt(v, 1)} ms`);

// A link to the request log filtered by one request id (every page searched).
export function RequestLink({ id }) {
  if (!id) return html`<span class="hint">(not recorded)</span>`;
  return html`<a href=${`#/logs?request_id=${encodeURIComponent(id)}`}><code>${id}</code></a>`;
}

function CopyId({ id }) {
  const [said, setSaid] = useState("");
  const copy = async () => {
    try { await navigator.clipboard.writeText(id); setSaid("Copied."); }
    catch (err) { setSaid("Copy failed: select the id and copy it by hand."); }
  };
  return html`<code data-request-id>${id}</code>
    <button type="button" onClick=${copy}>Copy request id</button> <span role="status">${said}</span>`;
}

// The record as GET /logs/{request_id} has it now (the row until it answers).
function useRecord(row) {
  const id = row.request_id;
  const loaded = useLoad(() => (id ? api(`logs/${encodeURIComponent(id)}`)
    : Promise.resolve({ data: [row] })), [row.id]);
  const records = loaded.data ? loaded.data.data : [row];
  return { record: records.find((r) => r.id === row.id) || row, count: records.length,
           error: loaded.error, reload: loaded.reload };
}

export function RequestDetail({ row, onClose }) {
  const { record: r, count, error, reload } = useRecord(row);
  const item = (name, label, value) => html`<dt>${label}</dt><dd data-field=${name}>${value}</dd>`;
  return html`<${Modal} open=${true} title="Request detail" onClose=${onClose} className="drawer">
    <${Banner} error=${error} retry=${reload} />
    <p>${r.request_id ? html`<${CopyId} id=${r.request_id} />` : html`<span class="hint">No request id recorded.</span>`}</p>
    ${count > 1 && html`<p class="hint">${count} records share this request id:
      <${RequestLink} id=${r.request_id} /></p>`}
    <dl class="detail">
      ${item("at", "Time", when(r.at))}
      ${item("status", "Status", r.status >= 400 ? html`<span class="badge bad">${r.status}</span>` : r.status)}
      ${item("total", "Total latency", ms(r.latency_ms))}
      ${item("ttft", "Time to first byte", r.ttft_ms == null ? "– (answer sent whole, or not measured)" : ms(r.ttft_ms))}
      ${item("overhead", "Gateway overhead", ms(r.overhead_ms))}
      ${item("tokens", "Tokens in / out", `${fmt(r.input_tokens)} / ${fmt(r.output_tokens)}`)}
      ${item("cache", "Cache tokens read / written", `${fmt(r.cache_read_tokens)} / ${fmt(r.cache_write_tokens)}`)}
      ${item("cost", "Cost (USD)", fmt(r.cost_usd, 6))}
      ${item("upstream", "Provider / upstream model", `${r.provider || "–"} / ${r.model || "–"}`)}
      ${item("attempts", "Upstream attempts", r.attempts == null ? "not recorded" : fmt(r.attempts))}
      ${item("key", "Key id", html`<code>${r.key_id}</code>`)}
      ${item("error", "Error", r.error ? html`<span class="error">${r.error}</span>` : "none")}
    </dl>
    <form method="dialog"><button type="submit">Close</button></form>
  <//>`;
}
