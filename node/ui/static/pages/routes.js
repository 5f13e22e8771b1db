// Routes: served model names over weighted, tiered targets; edit one as JSON.
import { html, useState } from "../vendor/preact-htm-10.27.2.js";
import { api } from "../api.js";
import { Banner, useLoad } from "../components.js";

function Editor({ route, onDone }) {
  const body = { targets: [] };
  for (const [k, v] of Object.entries(route || {})) {
    if (!["name", "source", "unavailable_targets", "peers"].includes(k)) body[k] = v;
  }
  const [name, setName] = useState(route ? route.name : "");
  const [text, setText] = useState(JSON.stringify(body, null, 2));
  const [error, setError] = useState(null);
  const save = async (e) => {
    e.preventDefault();
    let parsed;
    try { parsed = JSON.parse(text); } catch (err) { setError(new Error(`Not valid JSON: ${err.message}`)); return; }
    try {
      await api(`routes/${encodeURIComponent(name)}`, { method: "PUT", body: parsed });
      onDone();
    } catch (err) { setError(err); }
  };
  return html`<form onSubmit=${save}>
    <label for="route-name">Route name</label>
    <input id="route-name" value=${name} disabled=${!!route} onInput=${(e) => setName(e.target.value)} required />
    <label for="route-body">Route settings (JSON, as in at.yaml)</label>
    <textarea id="route-body" rows="12" cols="60" value=${text} onInput=${(e) => setText(e.target.value)}
      aria-invalid=${error ? "true" : "false"}></textarea>
    <${Banner} error=${error} />
    <p><button class="primary" type="submit">Save route</button>
      <button type="button" onClick=${() => onDone()}>Cancel</button></p>
  </form>`;
}

export default function Routes() {
  const { data, error, reload } = useLoad(() => api("routes"), []);
  const [editing, setEditing] = useState(undefined);
  const remove = async (name) => {
    if (!confirm(`Delete route ${name}?`)) return;
    try { await api(`routes/${encodeURIComponent(name)}`, { method: "DELETE" }); reload(); }
    catch (err) { alert(err.message); }
  };
  const done = () => { setEditing(undefined); reload(); };
  return html`<h2>Routes</h2><${Banner} error=${error} retry=${reload} />
    ${editing !== undefined ? html`<${Editor} route=${editing} onDone=${done} />`
      : html`<p><button type="button" class="primary" onClick=${() => setEditing(null)}>Add route</button></p>`}
    ${data && html`<div class="table-wrap"><table><thead><tr><th scope="col">Name</th>
      <th scope="col">Targets</th><th scope="col">Source</th><th scope="col">Actions</th></tr></thead><tbody>
      ${data.data.map((r) => html`<tr><td>${r.name}</td>
        <td>${r.targets.map((t) => t.model).join(", ")}</td>
        <td>${r.source}</td>
        <td>${r.source === "yaml" ? html`<span class="hint">at.yaml: edit it there</span>` : html`
          <button type="button" onClick=${() => setEditing(r)}>Edit</button>
          <button type="button" class="danger" onClick=${() => remove(r.name)}>Delete</button>`}</td></tr>`)}
      </tbody></table></div>
      ${data.data.length === 0 && html`<p class="hint">No routes yet.</p>`}
      ${data.invalid.map((b) => html`<p class="error">Route ${b.name} is invalid: ${b.error}</p>`)}`}`;
}
