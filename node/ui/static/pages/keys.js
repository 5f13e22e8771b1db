// API keys: server-side paging and search; a new key is shown once, in a dialog with a
// ready curl and OpenAI SDK snippet, and cleared from memory when the dialog closes.
import { html, useState, useEffect } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, Field, Modal, useLoad, when } from "../components.js";

const PAGE = 50;
const list = (text) => {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  return items.length ? items : null;
};

function KeyForm({ record, onSaved, onCancel }) {
  const [name, setName] = useState(record ? record.name : "");
  const [models, setModels] = useState(record && record.models ? record.models.join(", ") : "");
  const [providers, setProviders] = useState(record && record.providers ? record.providers.join(", ") : "");
  const [expires, setExpires] = useState(record && record.expires_at ? record.expires_at : "");
  const [rpm, setRpm] = useState(record && record.limits && record.limits.requests_per_minute != null ? String(record.limits.requests_per_minute) : "");
  const [error, setError] = useState(null);
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    const body = { name, models: list(models), providers: list(providers), expires_at: expires || null };
    const number = Number(rpm);
    if (rpm !== "" && (!Number.isInteger(number) || number <= 0)) {
      setError({ param: "limits", message: "Requests per minute must be a whole number above 0 (empty: no limit)." });
      return;
    }
    const limits = { ...((record && record.limits) || {}) };
    delete limits.requests_per_minute;
    if (rpm !== "") limits.requests_per_minute = number;
    body.limits = limits;
    try {
      const saved = await api(record ? `tokens/${record.id}` : "tokens", { method: record ? "PATCH" : "POST", body });
      onSaved(saved);
    } catch (err) { setError(err); }
  };
  const err = (p) => (error && error.param === p ? error.message : "");
  return html`<form onSubmit=${save} aria-label=${record ? `Edit key ${record.name}` : "Create a key"}>
    <${Field} label="Name" value=${name} onInput=${setName} required error=${err("name")} />
    <${Field} label="Allowed models (comma separated, empty: any)" value=${models} onInput=${setModels}
      error=${err("models")} hint="provider/model, provider/* or a route name" />
    <${Field} label="Allowed providers (comma separated, empty: any)" value=${providers} onInput=${setProviders} error=${err("providers")} />
    <${Field} label="Expires at (RFC 3339, empty: never)" value=${expires} onInput=${setExpires} error=${err("expires_at")}
      placeholder="2027-01-01T00:00:00Z" />
    <${Field} label="Requests per minute (empty: no limit)" value=${rpm} onInput=${setRpm} error=${err("limits")} inputmode="numeric" />
    ${error && !["name", "models", "providers", "expires_at", "limits"].includes(error.param) && html`<${Banner} error=${error} />`}
    <p><button class="primary" type="submit">${record ? "Save key" : "Create key"}</button>
      <button type="button" onClick=${onCancel}>Cancel</button></p>
  </form>`;
}

function ShowOnce({ created, onClose }) {
  const base = new URL("../v1", document.baseURI).href;
  const model = (created.models && created.models[0] && !created.models[0].endsWith("*")) ? created.models[0] : "MODEL";
  const curl = `curl ${base}/chat/completions \\\n  -H "Authorization: Bearer ${created.key}" \\\n  -H "Content-Type: application/json" \\\n  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello"}]}'`;
  const sdk = `from openai import OpenAI\n\nclient = OpenAI(base_url="${base}", api_key="${created.key}")\nreply = client.chat.completions.create(\n    model="${model}", messages=[{"role": "user", "content": "Hello"}])\nprint(reply.choices[0].message.content)`;
  const [copied, setCopied] = useState("");
  const copy = async () => {
    try { await navigator.clipboard.writeText(created.key); setCopied("Copied."); }
    catch (err) { setCopied("Copy failed: select the key and copy it by hand."); }
  };
  return html`<${Modal} open=${true} title=${`Key "${created.name}" created`} onClose=${onClose}>
    <p><strong>Copy it now: it is shown this once.</strong></p>
    <pre data-secret>${created.key}</pre>
    <p><button type="button" class="primary" onClick=${copy}>Copy key</button> <span role="status">${copied}</span></p>
    <h3>curl</h3><pre>${curl}</pre>
    <h3>OpenAI SDK (Python)</h3><pre>${sdk}</pre>
    <form method="dialog"><button type="submit">Done</button></form>
  <//>`;
}

export default function Keys({ params, navigate }) {
  const q = params.q || "";
  const cursor = params.cursor || "";
  const [search, setSearch] = useState(q);
  useEffect(() => setSearch(q), [q]);  // Back or a link: the box shows the URL's search
  const [mode, setMode] = useState(null);  // null | "create" | record
  const [created, setCreated] = useState(null);
  const { data, error, reload } = useLoad(
    () => api("tokens", { query: { limit: PAGE, q, cursor } }), [q, cursor]);
  const revoke = async (record) => {
    if (!confirm(`Revoke key ${record.name}? Clients using it stop at once.`)) return;
    try { await api(`tokens/${record.id}`, { method: "DELETE" }); reload(); }
    catch (err) { alert(err.message); }
  };
  const saved = (record) => {
    setMode(null);
    if (record.key) setCreated(record);
    reload();
  };
  return html`<h2>API keys</h2>
    <form class="toolbar" role="search" onSubmit=${(e) => { e.preventDefault(); navigate({ q: search }); }}>
      <${Field} label="Search keys" value=${search} onInput=${setSearch} placeholder="name, id or prefix" />
      <button type="submit">Search</button>
      <button type="button" class="primary" onClick=${() => setMode("create")}>Create key</button>
    </form>
    ${mode && html`<${KeyForm} record=${mode === "create" ? null : mode} onSaved=${saved} onCancel=${() => setMode(null)} />`}
    ${created && html`<${ShowOnce} created=${created} onClose=${() => setCreated(null)} />`}
    <${Banner} error=${error} retry=${reload} />
    ${data && html`<p class="hint" data-total=${data.total}>${data.total} keys${q ? ` matching "${q}"` : ""}.</p>
      <div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">Prefix</th>
      <th scope="col">Scope</th><th scope="col">Limits</th><th scope="col">Expires</th><th scope="col">Status</th>
      <th scope="col">Actions</th></tr></thead><tbody>
      ${data.data.map((k) => html`<tr data-key=${k.id}><td>${k.name}</td><td><code>${k.prefix}…</code></td>
        <td>${k.models ? k.models.join(", ") : "any model"}${k.providers ? ` · ${k.providers.join(", ")}` : ""}</td>
        <td>${Object.entries(k.limits || {}).map(([n, v]) => `${n.replaceAll("_", " ")}: ${v}`).join(", ") || "none"}</td>
        <td>${when(k.expires_at)}</td><td>${k.enabled ? "enabled" : "disabled"}</td>
        <td><button type="button" onClick=${() => setMode(k)}>Edit</button>
          <button type="button" class="danger" onClick=${() => revoke(k)}>Revoke</button></td></tr>`)}
      </tbody></table></div>
      <p class="toolbar">${cursor && html`<button type="button" onClick=${() => navigate({ q })}>First page</button>`}
        ${data.next_cursor && html`<button type="button" onClick=${() => navigate({ q, cursor: data.next_cursor })}>Next page</button>`}</p>`}`;
}
