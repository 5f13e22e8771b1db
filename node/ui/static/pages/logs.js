// Request log: the usage records, searched on the server by request id (exact, every page),
// key, model, provider, status and time, newest first, with cursor paging. Filters live in the URL, so reload and Back keep them.
// "Details" opens one request in a drawer (pages/request.js).
import { html, useState, useEffect } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, useLoad, fmt, when } from "../components.js";
import { RequestDetail } from "./request.js";

const FILTERS = ["request_id", "key", "model", "provider", "status", "since", "until"];

export default function Logs({ params, navigate }) {
  const query = Object.fromEntries(FILTERS.map((f) => [f, params[f] || ""]));
  const [form, setForm] = useState(query);
  const [open, setOpen] = useState(null);
  // Back, Forward or a link changes the URL's filters: the form shows them, not stale input.
  useEffect(() => setForm(query), [JSON.stringify(query)]);
  const { data, error, reload } = useLoad(() => api("logs", { query: { ...query, cursor: params.cursor, limit: 50 } }),
    [JSON.stringify(params)]);
  const submit = (e) => { e.preventDefault(); navigate(form); };
  const input = (name, label, placeholder) => html`<label>${label}<br />
    <input name=${name} value=${form[name]} placeholder=${placeholder}
      onInput=${(e) => setForm({ ...form, [name]: e.target.value })} /></label>`;
  return html`<h2>Request log</h2>
    <form class="toolbar" role="search" onSubmit=${submit}>
      ${input("request_id", "Request id", "X-Request-ID")} ${input("key", "Key id", "key id")} ${input("model", "Model", "upstream model")}
      ${input("provider", "Provider", "provider key")}
      <label>Status<br /><select name="status" value=${form.status} onChange=${(e) => setForm({ ...form, status: e.target.value })}>
        <option value="">any</option><option value="ok">ok</option><option value="error">error</option>
        <option value="429">429</option><option value="502">502</option></select></label>
      ${input("since", "From (UTC)", "2026-01-01T00:00Z")} ${input("until", "To (UTC)", "")}
      <button type="submit" class="primary">Search</button>
    </form>
    <${Banner} error=${error} retry=${reload} />
    ${data && html`<div class="table-wrap"><table><thead><tr><th scope="col">Time</th><th scope="col">Key</th>
      <th scope="col">Provider</th><th scope="col">Model</th><th scope="col" class="num">Status</th>
      <th scope="col" class="num">Latency</th><th scope="col" class="num">Tokens in/out</th>
      <th scope="col" class="num">Cost</th><th scope="col">Details</th></tr></thead><tbody>
      ${data.data.map((r) => html`<tr data-log=${r.id}><td>${when(r.at)}</td><td><code>${r.key_id}</code></td>
        <td>${r.provider}</td><td>${r.model}</td>
        <td class="num">${r.status >= 400 ? html`<span class="badge bad">${r.status}</span>` : r.status}</td>
        <td class="num">${fmt(r.latency_ms, 1)} ms</td><td class="num">${fmt(r.input_tokens)} / ${fmt(r.output_tokens)}</td>
        <td class="num">${fmt(r.cost_usd, 6)}</td>
        <td><button type="button" aria-haspopup="dialog" onClick=${() => setOpen(r)}>Details</button></td></tr>`)}
      ${data.data.length === 0 && html`<tr><td colspan="9">No requests match.</td></tr>`}
      </tbody></table></div>
      <p class="toolbar">${params.cursor && html`<button type="button" onClick=${() => navigate(query)}>First page</button>`}
        ${data.next_cursor && html`<button type="button" onClick=${() => navigate({ ...query, cursor: data.next_cursor })}>Older</button>`}</p>`}
    ${open && html`<${RequestDetail} row=${open} onClose=${() => setOpen(null)} />`}`;
}
